"""``edge-rep evaluate``: score a finished model (``--model``), or train and compare REP with the baselines
(the paper's table: eta x missing type x method, REP ablations, replay gain)."""

from . import EPOCHS, SEED, THREADS, add_force, number, path_arg

NAME = "evaluate"
HELP = ("score a model as it is (--model: metrics.json, confusion PNGs), or train and compare REP with baselines "
        "under missing modalities")
EXAMPLE = ("edge-rep evaluate --model runs/train/model.safetensors --data data/synth --split test --out runs/score"
           "   |   edge-rep evaluate --data data/synth --out runs/eval --eta 70")
ORDER = 21


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, type=path_arg,
                   help="dataset folder (train split to train, test split to score)")
    p.add_argument("--model", default=None, metavar="MODEL", type=path_arg,
                   help="score this trained model (.safetensors, .onnx or .engine; 'default' for the bundled one) "
                        "without training: accuracy, macro-F1, per-class precision/recall, confusion PNGs for "
                        "complete windows and each modality missing, level check -> OUT/metrics.json")
    p.add_argument("--split", default="test", help="with --model: test (default), val, train, foreign or all")
    p.add_argument("--backend", default="auto", help="with --model: the runtime (auto, onnxruntime, tensorrt, torch)")
    p.add_argument("--detections", action="store_true",
                   help="with --model: also play every recording of the split as a sensor log through the daemon "
                        "(with the microphone, then the geophone, dropped around each closest approach) and score "
                        "pass-by detections: Pd, accuracy per detection, false alarms per hour on generated "
                        "background -> metrics.json 'detections'")
    p.add_argument("--jobs", type=number(int, ge=1, le=256), default=None,
                   help="with --detections: worker processes, each with its own copy of the model (default: the "
                        "CPU count, at most 8)")
    p.add_argument("--background", default=None, metavar="DIR", type=path_arg,
                   help="with --detections: background-only dataset (edge-rep synth --background-only); default: "
                        "10 hours generated once into ~/.cache/edge-rep/")
    p.add_argument("--config", default=None, metavar="TOML", type=path_arg,
                   help="with --detections: the [detections] settings of this config file (min_duration_s, "
                        "merge_gap_s, min_confidence, uncertain_threshold) instead of the defaults")
    p.add_argument("--out", required=True, type=path_arg,
                   help="evaluation folder to create (new or empty) for table.md/csv, ablation, replay, PNGs, "
                        "results.json; it appears when the evaluation completes")
    add_force(p, "evaluation folder")
    p.add_argument("--eta", type=number(float, ge=0, le=100), nargs="+", default=[50.0, 70.0, 90.0],
                   help="missing rates in percent (default 50 70 90)")
    p.add_argument("--missing", default="acoustic,seismic,both", help="missing types, comma separated")
    p.add_argument("--methods", default="zerofill,mask,finetune,map,dcp,rep",
                   help="methods, comma separated (zerofill, mask, finetune, map, dcp, rep)")
    p.add_argument("--no-ablations", action="store_true", help="skip the REP ablation table")
    p.add_argument("--backbone", default=None, type=path_arg,
                   help="reuse a trained backbone (.safetensors) instead of stage 1")
    p.add_argument("--stage1-epochs", type=EPOCHS, default=None, help="backbone epochs (default 12)")
    p.add_argument("--stage2-epochs", type=EPOCHS, default=None, help="adaptation epochs per cell (default 6)")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=THREADS, default=None, help="torch CPU threads")
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    if args.model is not None:
        return _score(args)
    if args.detections or args.background or args.config:
        from ..errors import EdgeRepError
        raise EdgeRepError("--detections scores a finished model; give it with --model M (or --model default)")
    from importlib.util import find_spec

    from ..dataset import load_dataset, window_arrays
    from ..inpaths import input_file

    if find_spec("torch") is not None:     # (without torch, its import below names the extra to install)
        load_dataset(args.data)            # bad input fails before torch loads (seconds)
        if args.backbone:
            input_file(args.backbone, "backbone", option="--backbone")

    from ..checkpoint import load_model
    from ..errors import EdgeRepError
    from ..evaluate import EVALUATION, evaluate
    from ..model import ModelConfig
    from ..outpaths import claim, staged_folder
    from ..distributed import resolve_device
    from ..train import TrainConfig

    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    resolve_device(args.device)   # a bad --device fails before any work
    out = claim(args.out, EVALUATION, args.force)     # before minutes of training, not after
    ds = load_dataset(args.data)
    backbone = None
    if args.backbone:
        backbone, _ = load_model(args.backbone, profile=ds.profile, data=args.data)   # units too
    tr = window_arrays(ds.recordings("train"), ds.profile)
    te = window_arrays(ds.recordings("test"), ds.profile)
    if len(tr) == 0 or len(te) == 0:
        raise EdgeRepError(f"{args.data}: need windows in both the train and the test split")
    t_over = {"stage1_epochs": args.stage1_epochs, "stage2_epochs": args.stage2_epochs, "seed": args.seed,
              "device": args.device}
    tc = TrainConfig(**{k: v for k, v in t_over.items() if v is not None})
    cfg = backbone.cfg if backbone is not None else ModelConfig()
    with staged_folder(out) as tmp:
        res = evaluate(tr, te, ds.profile, tmp, cfg, tc, etas=tuple(e / 100.0 for e in args.eta),
                       types=tuple(t.strip() for t in args.missing.split(",") if t.strip()),
                       methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()),
                       ablations=not args.no_ablations, backbone=backbone, progress=not args.quiet)
    print((out / "table.md").read_text())
    wrote = ", ".join(sorted(p.name for p in out.iterdir()))      # what is there, not what might be
    print(f"wrote {args.out}: {wrote} ({res['seconds']} s)")
    return 0


def _score(args) -> int:
    from ..errors import EdgeRepError
    from ..evaluate_model import MODEL_EVALUATION, evaluate_model, metrics_table, write_report
    from ..outpaths import claim

    section = None
    if args.config:
        if not args.detections:
            raise EdgeRepError("--config sets the [detections] settings; use it with --detections")
        from ..config import load_config
        section = load_config(args.config).detections          # a bad file fails before the work
    claim(args.out, MODEL_EVALUATION, args.force)          # before the work, not after
    metrics = evaluate_model(None if args.model == "default" else args.model, args.data, args.split,
                             args.backend, progress=not args.quiet)
    if args.detections:
        import os
        args.jobs = args.jobs or min(len(os.sched_getaffinity(0)), 8)
        from ..evaluate_detections import evaluate_detections
        metrics["detections"] = evaluate_detections(None if args.model == "default" else args.model, args.data,
                                                    args.split, args.backend, args.background,
                                                    section=section, progress=not args.quiet, jobs=args.jobs)
    out = write_report(args.out, metrics, args.force)
    print(metrics_table(metrics), end="")
    print(f"wrote {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0
