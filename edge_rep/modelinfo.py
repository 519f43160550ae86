"""What a model is, from its sidecar: ``edge-rep model info [MODEL]``. Reads JSON only (no runtime, no
torch), so it runs on the device as well as on a training host.

    info = model_info("runs/mod/model.onnx")   # dict: id, classes, profile, training, validation, backends
    print(format_info(info))                   # readable text, one fact a line
"""

from __future__ import annotations

from pathlib import Path

from .backends import DEFAULT_MODEL, KINDS, RUNTIMES, available
from .errors import EdgeRepError
from .levels import accepted_band
from .modelspec import ModelMeta, sidecar_path

_SUFFIXES = {r.suffix for r in RUNTIMES.values()}


def model_info(model: str | Path | None = None) -> dict:
    """The sidecar summary of ``model`` (a .safetensors/.onnx/.engine file, its .json sidecar or a stem;
    None: the bundled model). Keys: path, model_id, classes, profile {name, window_s, hop_s, intervals,
    modalities [{name, sample_rate_hz, channels, units}]}, size {width, buffer_tokens, parameters},
    training {method, dataset, seconds, train_config, stages}, validation and level_range (as recorded, or
    None), export {onnx, tensorrt} records, backends {kind: {file, file_exists, runtime_installed, usable}}.
    EdgeRepError (exit 2) when there is no sidecar or it is not a model sidecar."""
    path = DEFAULT_MODEL if model is None or str(model) in ("default", "bundled") else Path(model)
    if path.is_dir():
        raise EdgeRepError(f"{path}: is a folder; name the model file (.safetensors, .onnx, .engine)")
    stem = path.with_suffix("") if path.suffix in _SUFFIXES | {".json"} else path
    sidecar = sidecar_path(stem.with_name(stem.name + ".json"))
    if not sidecar.is_file():
        raise EdgeRepError(f"{path}: no model sidecar {sidecar} there; check the path (a model file and its .json "
                           "sidecar sit side by side)")
    meta = ModelMeta.load(sidecar)
    x = meta.extra
    p = meta.profile
    backends = {}
    for kind in KINDS:
        f = stem.with_name(stem.name + RUNTIMES[kind].suffix)
        exists, installed = f.is_file(), available(kind)
        backends[kind] = {"file": str(f), "file_exists": exists, "runtime_installed": installed,
                          "usable": exists and installed}
    return {
        "path": str(sidecar), "model_id": meta.model_id, "classes": list(meta.classes),
        "profile": {"name": p.name, "window_s": p.window_s, "hop_s": p.hop_s, "intervals": p.intervals,
                    "modalities": [{"name": m.name, "sample_rate_hz": m.sample_rate, "channels": m.channels,
                                    "units": m.units} for m in p.modalities]},
        "size": {"width": meta.width, "buffer_tokens": meta.buffer_tokens, "parameters": x.get("parameters")},
        "training": {"method": x.get("method"), "dataset": x.get("dataset"), "add_train": x.get("add_train"),
                     "train_windows": x.get("train_windows"), "seconds": x.get("seconds"),
                     "train_config": x.get("train_config"),
                     "stages": {s: x[s] for s in ("stage1", "stage2") if isinstance(x.get(s), dict)}},
        "validation": x.get("validation"), "level_range": x.get("level_range"),
        "calibration": x.get("calibration"), "uncertain": x.get("uncertain"), "detections": x.get("detections"),
        "export": {k: x[k] for k in ("onnx", "tensorrt") if isinstance(x.get(k), dict)},
        "backends": backends,
    }


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else "?"


def format_info(info: dict) -> str:
    """``model_info``'s dict as readable text, one fact a line."""
    p = info["profile"]
    lines = [f"model {info['model_id']}  ({info['path']})",
             f"classes: {', '.join(info['classes'])}",
             f"profile: {p['name']}, window {_num(p['window_s'])} s, hop {_num(p['hop_s'])} s, "
             f"{p['intervals']} intervals"]
    lines += [f"  {m['name']}: {_num(m['sample_rate_hz'])} Hz, {m['channels']} channel(s), "
              f"{m['units'] or 'no stated unit'}" for m in p["modalities"]]
    size = info["size"]
    params = (size["parameters"] or {}).get("total")
    lines.append(f"size: width {size['width']}, {size['buffer_tokens']} buffer tokens"
                 + (f", {params:,} parameters" if isinstance(params, int) else ""))
    t = info["training"]
    tc = t["train_config"] or {}
    lines.append(f"training: method {t['method'] or '?'}, data {t['dataset'] or '?'}"
                 + (f" + the train splits of {', '.join(map(str, t['add_train']))}" if t.get("add_train") else "")
                 + (f" ({t['train_windows']:,} training windows)" if isinstance(t.get("train_windows"), int) else "")
                 + (f", seed {tc['seed']}" if "seed" in tc else "")
                 + (f", missing {tc['missing']}" if "missing" in tc else ""))
    for name, st in t["stages"].items():
        lines.append(f"  {name} ({st.get('stage', '?')}): {st.get('epoch', '?')} epochs, train accuracy "
                     f"{_num(st.get('train_acc'))}, loss {_num(st.get('loss'))}")
    val = info["validation"]
    if isinstance(val, dict):
        lines.append(f"validation ({val.get('windows', '?')} windows): accuracy / macro-F1")
        for stage in ("stage1", "stage2"):
            scores = val.get(stage)
            if isinstance(scores, dict):
                lines.append(f"  {stage}: " + ", ".join(f"{sc} {_num(s.get('accuracy'))} / {_num(s.get('macro_f1'))}"
                                                        for sc, s in scores.items() if isinstance(s, dict)))
    else:
        lines.append("validation: not recorded in the sidecar (trained before edge-rep kept it)")
    lr = info["level_range"]
    if isinstance(lr, dict):
        lines.append("level range (window RMS, 1st-99th percentile over the training windows; flagged outside "
                     "the quietest background to the loudest target, widened by 10 dB):")
        for m, rec in lr.items():
            rng = rec.get("all_db") if isinstance(rec, dict) else None
            if rng:
                band = accepted_band(rec)      # what the daemon and evaluate flag outside of
                flag = f"; flagged outside {band[0]:g} .. {band[1]:g} dB" if band else ""
                lines.append(f"  {m}: {rng[0]:g} to {rng[-1]:g} dB re 1 {rec.get('unit') or 'unit'} "
                             f"({rec.get('windows', '?')} windows{flag})")
    else:
        lines.append("level range: not recorded in the sidecar (the daemon does not flag unusual levels)")
    cal, unc = info.get("calibration"), info.get("uncertain")
    if isinstance(cal, dict) and isinstance(cal.get("temperature"), dict):
        lines.append(f"calibration ({cal.get('split', '?')} split): " + ", ".join(
            f"{s} T {t:g} (ECE {_num((cal.get('ece_before') or {}).get(s))} -> "
            f"{_num((cal.get('ece_after') or {}).get(s))})" for s, t in cal["temperature"].items()))
    else:
        lines.append("calibration: none (probabilities as trained: trained without a validation split, or saved "
                     "before calibration existed)")
    if isinstance(unc, dict) and isinstance(unc.get("threshold"), dict):
        lines.append("uncertain below (calibrated top probability): " + ", ".join(
            f"{s} {t:g}" for s, t in unc["threshold"].items()))
    det = info.get("detections")
    if isinstance(det, dict) and isinstance(det.get("min_confidence"), dict):
        lines.append("detections reported from a mean confidence of: " + ", ".join(
            f"{s} {t:g}" for s, t in det["min_confidence"].items()))
    else:
        lines.append("detections: every one long enough is reported (no fitted minimum confidence)")
    onnx = info["export"].get("onnx")
    if onnx:
        lines.append(f"onnx export: opset {onnx.get('opset', '?')}, batch {onnx.get('batch', '?')}, largest "
                     f"probability difference vs PyTorch {_num(onnx.get('parity_probs_max_abs'))}")
    lines.append("backends:")
    for kind, b in info["backends"].items():
        state = ("usable" if b["usable"] else "no file" if not b["file_exists"]
                 else f"runtime '{RUNTIMES[kind].module}' not installed")
        lines.append(f"  {kind}: {state} ({b['file']})")
    return "\n".join(lines)
