"""``edge-rep doctor``: is this host (a Jetson or any other) ready to run the daemon? One line per check.

    report = run_checks(Context.from_options(config="/etc/edge-rep/edge-rep.toml"))
    print(format_report(report))           # header, one "ok|warn|fail|skip  name  text  -> fix" line a check
    sys.exit(1 if report["failed"] else 0)

Each check is a small function ``check_x(ctx) -> (status, text, fix)``: status "ok", "warn", "fail" or
"skip" (not applicable here), ``fix`` the command or step that cures a warn or fail ("" when none). A
check reads and measures only: it never starts, stops or opens for writing anything outside this process
(the serial port is not opened; ``systemctl`` and ``journalctl`` are only queried). TensorRT and
cuda-python are imported only when installed.
"""

from __future__ import annotations

import grp
import importlib.util
import os
import platform
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import __version__
from .backends import DEFAULT_MODEL, RUNTIMES, available
from .config import Config, load_config
from .errors import EdgeRepError

SERVICE = "edge-rep"
SERVICE_USER = "edge-rep"      # the user the unit runs the daemon as (install.sh creates it)
SERVICE_CONFIG = Path("/etc/edge-rep/edge-rep.toml")   # read by default when it exists: the service's own
UDEV_LINK = Path("/dev/edge-rep")                      # the name deploy/udev/99-edge-rep.rules gives the board
L4T_RELEASE = Path("/etc/nv_tegra_release")            # a Jetson's L4T (JetPack) release, first line
LATENCY_RUNS = 7
STATUSES = ("ok", "warn", "fail", "skip")
# What ``systemctl is-active`` prints (systemd's unit active states); anything else is systemctl's error.
UNIT_STATES = ("active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance",
               "refreshing", "unknown")
Result = tuple[str, str, str]

_MODEL_SUFFIXES = {r.suffix for r in RUNTIMES.values()} | {".json"}


@dataclass
class Context:
    """What the checks look at. ``backends``/``meta``/``model_error`` are filled by ``check_model``,
    which runs first; the later model checks reuse what it loaded."""

    cfg: Config
    config_source: str
    model: Path                          # a stem: model.{engine,onnx,safetensors,json}
    udev_link: Path = UDEV_LINK
    proc: Path = Path("/proc")
    meta: object = None
    backends: dict = field(default_factory=dict)
    model_error: str = ""

    @classmethod
    def from_options(cls, config: str | Path | None = None, model: str | Path | None = None) -> Context:
        """The config (``config``; else the service's when it exists; else the defaults) and the model
        (``model``; else the config's [model] path; else the bundled one). A bad config is an EdgeRepError."""
        if config is None and SERVICE_CONFIG.is_file():
            config = SERVICE_CONFIG
        cfg = load_config(config)
        path = Path(model) if model is not None else Path(cfg.model.path) if cfg.model.path else DEFAULT_MODEL
        stem = path.with_suffix("") if path.suffix in _MODEL_SUFFIXES else path
        return cls(cfg=cfg, config_source=str(config) if config is not None else "defaults", model=stem,
                   udev_link=UDEV_LINK)


# --- the model ------------------------------------------------------------------------------------

def check_model(ctx: Context) -> Result:
    """The sidecar loads and every backend with a file and a runtime loads the model (hashes checked)."""
    from .backends import load_backend
    from .modelinfo import model_info

    try:
        info = model_info(ctx.model)
    except EdgeRepError as e:
        ctx.model_error = str(e)
        return "fail", str(e), "give the model with --model or [model] path (its .json sidecar beside it)"
    from .modelspec import ModelMeta
    ctx.meta = ModelMeta.load(info["path"])
    loaded, failed, absent = [], [], []
    for kind, b in info["backends"].items():
        if not b["usable"]:
            absent.append(f"{kind} ({'no ' + RUNTIMES[kind].suffix if not b['file_exists'] else 'not installed'})")
            continue
        try:
            ctx.backends[kind] = load_backend(ctx.model, kind)
            loaded.append(kind)
        except EdgeRepError as e:
            failed.append(f"{kind}: {e}")
    head = f"{info['model_id']} ({info['path']}), {len(info['classes'])} classes, profile {info['profile']['name']}"
    if failed:
        ctx.model_error = failed[0]
        return "fail", f"{head}; cannot load {'; '.join(failed)}", "copy the model files and their .json together, " \
            "or re-export (edge-rep export)"
    if not loaded:
        ctx.model_error = "no backend can run it"
        return "fail", f"{head}; no backend can run it here: {', '.join(absent)}", \
            "pip install onnxruntime, and keep the .onnx beside its .json"
    return "ok", f"{head}; runs on {', '.join(loaded)}" + (f"; not: {', '.join(absent)}" if absent else ""), ""


def check_runtime(ctx: Context) -> Result:
    """TensorRT, cuda-python and the GPU, when installed (never required on a host without them)."""
    from .backends.tensorrt import JETPACK_HINT, gpu_name

    if not available("tensorrt"):
        return "warn", "TensorRT not installed (ONNX Runtime runs the model, on the CPU or CUDA)", \
            f"on a Jetson: {JETPACK_HINT}"
    try:
        import tensorrt as trt
        parts = [f"TensorRT {trt.__version__}"]
    except Exception as e:  # noqa: BLE001 - a broken install is what this check reports
        return "fail", f"tensorrt is installed but does not import ({type(e).__name__}: {e})", JETPACK_HINT
    if importlib.util.find_spec("cuda") is None:
        return "warn", f"{parts[0]}; cuda-python not installed: the TensorRT backend cannot run", \
            "pip install 'edge-rep[jetson]' (cuda-python of the device's CUDA major version)"
    from importlib.metadata import PackageNotFoundError, version
    try:
        parts.append(f"cuda-python {version('cuda-python')}")
    except PackageNotFoundError:
        parts.append("cuda-python (version unknown)")
    parts += cuda_versions()
    parts.append(f"GPU {gpu_name()}")
    return "ok", ", ".join(parts), ""


def _cuda_version(n: int) -> str:
    return f"{n // 1000}.{n % 1000 // 10}"      # CUDA encodes 12.6 as 12060


def cuda_versions(cudart=None) -> list[str]:
    """["CUDA runtime 12.6", "driver 12.6"] from cuda-python; [] when it cannot tell."""
    from .backends.tensorrt import cuda_call, import_cudart
    try:
        cudart = cudart or import_cudart()
        return [f"CUDA runtime {_cuda_version(int(cuda_call(cudart, cudart.cudaRuntimeGetVersion())))}",
                f"driver {_cuda_version(int(cuda_call(cudart, cudart.cudaDriverGetVersion())))}"]
    except Exception:  # noqa: BLE001 - versions are informative; the engine check finds a broken CUDA
        return []


def check_engine(ctx: Context) -> Result:
    """The TensorRT engine beside the model, and whether its sidecar's build record matches it: engine
    hash, the ONNX it was built from, TensorRT version and GPU of this device."""
    engine = ctx.model.with_name(ctx.model.name + RUNTIMES["tensorrt"].suffix)
    build = (f"build it here: edge-rep export --checkpoint {ctx.model}.onnx --out DIR --require-engine, then copy "
             "DIR's model.engine and model.json beside the model (install.sh does this)")
    if ctx.meta is None:
        return "skip", "no model sidecar (see the model check)", ""
    if not engine.is_file():
        return "warn", f"no TensorRT engine {engine} (ONNX Runtime runs the model instead)", build
    rec = ctx.meta.extra.get("tensorrt")
    if not isinstance(rec, dict) or "version" not in rec:
        return "fail", f"{engine}: its sidecar has no TensorRT build record", build
    try:
        blob = engine.read_bytes()
    except OSError as e:
        return "fail", f"{engine}: cannot read it ({e.strerror or e})", "check its permissions (mode 0644)"
    if rec.get("sha256") and ctx.meta.bound_hash(blob) != rec["sha256"]:
        return "fail", f"{engine}: content does not match the hash its sidecar recorded (replaced or torn)", build
    onnx_sha = (ctx.meta.extra.get("onnx") or {}).get("sha256")
    if onnx_sha and rec.get("onnx_sha256") and onnx_sha != rec["onnx_sha256"]:
        return "fail", f"{engine}: built from another ONNX export than the sidecar describes", build
    what = f"{engine.name}: TensorRT {rec['version']}, {rec.get('precision', 'fp32')}, GPU {rec.get('gpu', '?')}"
    if not available("tensorrt"):
        return "warn", f"{what}; hash ok, but TensorRT is not installed here to run it", \
            "run doctor on the device that built it, or install TensorRT (see the runtime check)"
    import tensorrt as trt

    from .backends.tensorrt import gpu_name
    if str(rec["version"]) != trt.__version__:
        return "fail", f"{what}; this device has TensorRT {trt.__version__}", build
    here = gpu_name()
    if "unknown" not in (here, str(rec.get("gpu", "unknown"))) and here != rec.get("gpu"):
        return "fail", f"{what}; this GPU is '{here}'", build
    return "ok", f"{what}; hash, ONNX, TensorRT version and GPU match", ""


# --- measurements ---------------------------------------------------------------------------------

def check_parity(ctx: Context) -> Result:
    """TensorRT against ONNX Runtime on the parity scenarios derived from the sidecar (every missing
    modality, buffer replay, random masks); the exporter's tolerance for the engine's precision."""
    from .backends.parity import compare
    from .trt_build import FP16_TOL, FP32_TOL

    trt, ort = ctx.backends.get("tensorrt"), ctx.backends.get("onnxruntime")
    if trt is None or ort is None:
        missing = " and ".join(k for k, b in (("TensorRT engine", trt), ("ONNX Runtime", ort)) if b is None)
        return "skip", f"needs the engine and ONNX Runtime (no {missing} loaded); latency below", ""
    tol = FP16_TOL if trt.precision == "fp16" else FP32_TOL
    scales = (ctx.meta.extra.get("onnx") or {}).get("input_scales")
    try:
        rows = compare(ctx.meta, ort.run, trt.run, tol=tol, scales=scales, what="TensorRT vs ONNX Runtime")
    except EdgeRepError as e:
        return "fail", str(e), "rebuild the engine on this device (edge-rep export --require-engine)"
    worst = max(rows, key=lambda r: r["probs_max_abs"])
    return "ok", (f"TensorRT vs ONNX Runtime over {len(rows)} scenarios: max |dprobs| {worst['probs_max_abs']:.2g} "
                  f"({worst['scenario']}) <= {tol:g}"), ""


def median_ms(run: Callable, inputs: dict, runs: int = LATENCY_RUNS) -> float:
    """Median wall time of ``run(inputs)`` in ms over ``runs`` calls, after one warm-up call."""
    run(inputs)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run(inputs)
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def check_latency(ctx: Context) -> Result:
    """Median time to classify one window (batch 1, complete) per loaded backend; warn when the slowest
    takes more than half the hop (the daemon must keep up with one window per hop)."""
    from .backends.parity import scenario_inputs

    if not ctx.backends:
        return "skip", "no backend loaded (see the model check)", ""
    first = next(iter(ctx.backends.values()))
    scales = (ctx.meta.extra.get("onnx") or {}).get("input_scales")
    x = scenario_inputs(ctx.meta, first.run, batch=1, scales=scales)[0][1]
    ms = {k: median_ms(b.run, x) for k, b in ctx.backends.items()}
    text = ", ".join(f"{k} {v:.2f} ms" for k, v in ms.items()) + f" per window (median of {LATENCY_RUNS}, batch 1)"
    budget = ctx.meta.profile.hop_s * 1e3 / 2
    if max(ms.values()) > budget:
        return "warn", f"{text}; above half the {ctx.meta.profile.hop_s:g} s hop", \
            "check the power mode and load (docs/deploy.md sections 3-4); prefer the TensorRT engine"
    return "ok", text, ""


# --- the serial port ------------------------------------------------------------------------------

def check_port(ctx: Context) -> Result:
    """[serial] port: exists, is a character device, this user may open it, no other process holds it.
    Never opens it."""
    from .ports import holders

    port = ctx.cfg.serial.port
    if not os.path.lexists(port):
        return "warn", f"{port} does not exist (board unplugged? the daemon waits for it)", \
            "plug the board in; edge-rep ports lists the serial ports; set [serial] port"
    try:
        st = os.stat(port)
    except OSError as e:
        return "fail", f"{port}: {e.strerror or e} (a dangling link?)", "replug the board; edge-rep ports"
    if not stat.S_ISCHR(st.st_mode):
        return "fail", f"{port} is not a character device (a {'folder' if stat.S_ISDIR(st.st_mode) else 'file'})", \
            "set [serial] port to the board's device, e.g. /dev/edge-rep or /dev/ttyUSB0 (edge-rep ports)"
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    where = f"{port} -> {os.path.realpath(port)}" if os.path.islink(port) else port
    text = f"{where}: character device, mode {stat.filemode(st.st_mode)}, group {group}"
    if not os.access(port, os.R_OK | os.W_OK):
        member = st.st_gid in os.getgroups()
        return "fail", f"{text}; this user cannot open it", \
            (f"log out and in (group {group} is not active in this session yet)" if member else
             f"sudo usermod -aG {group} $USER, then log out and in (the service's user gets it from install.sh)")
    svc_groups = _user_groups(SERVICE_USER)
    if svc_groups is not None and st.st_gid not in svc_groups:
        return "fail", f"{text}; the service's user {SERVICE_USER} is not in group {group}", \
            f"sudo usermod -aG {group} {SERVICE_USER}; sudo systemctl restart {SERVICE}"
    held = holders(port, ctx.proc)
    if held:
        return "warn", f"{text}; held by process {', '.join(map(str, held))} (the service?)", \
            f"fuser -v {port}; stop the other program (or the service) before using the port yourself"
    return "ok", f"{text}; readable and writable, not held by another process", ""


def _user_groups(user: str) -> set[int] | None:
    """Group ids of ``user`` (primary and supplementary); None when there is no such user (not installed)."""
    import pwd
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return None
    return set(os.getgrouplist(user, pw.pw_gid))


def check_udev_link(ctx: Context) -> Result:
    """The stable name deploy/udev/99-edge-rep.rules makes for the board's USB adapter."""
    link = ctx.udev_link
    port = ctx.cfg.serial.port
    if Path(port) != link and not os.path.lexists(link):
        return "skip", f"[serial] port is {port}, not {link}", ""
    if not os.path.lexists(link):
        return "warn", f"{link} missing: the udev rule did not match a plugged-in adapter", \
            "ls -l /dev/serial/by-id; sudo deploy/jetson/install.sh --serial SERIAL (docs/deploy.md troubleshooting)"
    if not os.path.islink(link):
        return "warn", f"{link} exists but is not the udev rule's symlink", \
            "check /etc/udev/rules.d/99-edge-rep.rules (SYMLINK+=\"edge-rep\")"
    target = os.path.realpath(link)
    if not os.path.exists(target):
        return "fail", f"{link} -> {target}, which does not exist", "sudo udevadm trigger, or replug the board"
    return "ok", f"{link} -> {target}", ""


# --- the service and the disk ---------------------------------------------------------------------

def _query(argv: list[str]) -> tuple[int, str]:
    """Run a read-only query command; (exit status, stripped stdout+stderr); (-1, why) when it cannot run."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)
    return p.returncode, (p.stdout + p.stderr).strip()


def check_service(ctx: Context) -> Result:
    """``systemctl is-active edge-rep`` and, when not active, the last journal lines. Only queries."""
    if shutil.which("systemctl") is None:
        return "skip", "no systemctl on this host", ""
    rc, state = _query(["systemctl", "is-active", SERVICE])
    state = state.splitlines()[-1] if state else "unknown"
    if state not in UNIT_STATES:      # e.g. "Failed to connect to bus": no systemd in this container
        return "skip", f"systemctl cannot query systemd here ({state})", ""
    if state == "active":
        return "ok", f"{SERVICE}.service active", ""
    last = ""
    if shutil.which("journalctl") is not None:
        jrc, out = _query(["journalctl", "-u", SERVICE, "-n", "5", "--no-pager"])
        lines = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("-- ")] if jrc == 0 else []
        if lines:
            last = "; last log lines: " + " | ".join(lines)
    if state == "failed":
        return "fail", f"{SERVICE}.service failed{last}", \
            f"journalctl -u {SERVICE} -n 50; fix the cause, then sudo systemctl restart {SERVICE}"
    if state in ("inactive", "unknown") and not last:
        return "skip", f"{SERVICE}.service not running ({state}; not installed here?)", ""
    return "warn", f"{SERVICE}.service {state}{last}", f"systemctl status {SERVICE}; sudo systemctl start {SERVICE}"


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (a folder the daemon creates later is on that disk)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(ctx: Context) -> Result:
    """Free space where the JSON lines and sensor logs go, against [record] min_free_mb."""
    out, rec = ctx.cfg.output.jsonl, ctx.cfg.record
    places = {}
    if out != "-":
        places["output.jsonl"] = Path(out).parent
    if rec.dir:
        places["record.dir"] = Path(rec.dir)
    if not places:
        return "skip", "JSON lines on stdout and no sensor logs: nothing written to disk", ""
    parts, low = [], []
    for key, p in places.items():
        free_mb = shutil.disk_usage(_existing(p)).free / 2**20
        parts.append(f"{key} {p}: {free_mb:,.0f} MB free")
        if free_mb < rec.min_free_mb:
            low.append(key)
    text = "; ".join(parts) + f" (record.min_free_mb {rec.min_free_mb:g})"
    if low:
        return "warn", f"{text}; low for {', '.join(low)}: sensor logs pause there", \
            "free space (old sensor logs, rotated JSON lines), or lower [record] keep_mb"
    return "ok", text, ""


# Run in this order: check_model loads the backends that the parity and latency checks use.
CHECKS: list[tuple[str, Callable[[Context], Result]]] = [
    ("model", check_model), ("runtime", check_runtime), ("engine", check_engine), ("parity", check_parity),
    ("latency", check_latency), ("port", check_port), ("udev", check_udev_link), ("service", check_service),
    ("disk", check_disk),
]


def l4t_release() -> str:
    """The Jetson's L4T release ("R36 (release), REVISION: 4.3"), or "" on another host."""
    try:
        first = L4T_RELEASE.read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return ""
    return ", ".join(p.strip() for p in first.lstrip("# ").split(",")[:2])


def header() -> dict:
    """What a bug report needs first: versions and platform (and the L4T release on a Jetson)."""
    return {"edge_rep": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "executable": sys.executable, "l4t": l4t_release()}


def run_checks(ctx: Context) -> dict:
    """Every check in order. A check that raises is reported as a fail with its error, never a traceback.
    Returns {header, config, model, checks: [{name, status, text, fix}], counts, failed}."""
    rows = []
    for name, fn in CHECKS:
        try:
            status, text, fix = fn(ctx)
        except Exception as e:  # noqa: BLE001 - one broken check must not hide the others
            status, text, fix = "fail", f"check crashed: {type(e).__name__}: {e}", "report it with this output"
        rows.append({"name": name, "status": status, "text": text, "fix": fix})
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    return {"header": header(), "config": ctx.config_source, "model": str(ctx.model), "checks": rows,
            "counts": counts, "failed": counts["fail"] > 0}


def format_report(report: dict) -> str:
    """The report as text: a header line, one line per check (status, name, text, '-> fix'), a summary."""
    h = report["header"]
    lines = [f"edge-rep {h['edge_rep']}, Python {h['python']}, {h['platform']}"
             + (f", L4T {h['l4t']}" if h["l4t"] else "") + f"; config {report['config']}; model {report['model']}"]
    for r in report["checks"]:
        lines.append(f"{r['status']:<4}  {r['name']:<8} {r['text']}" + (f"  -> {r['fix']}" if r["fix"] else ""))
    c = report["counts"]
    lines.append(", ".join(f"{c[s]} {s}" for s in STATUSES))
    return "\n".join(lines)

