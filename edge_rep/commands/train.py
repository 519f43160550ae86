"""``edge-rep train``: stage 1 (backbone on complete windows) + stage 2 (REP or a baseline under
simulated missing modalities). Runs under ``torchrun --nproc_per_node N`` with DDP as well."""

from . import EPOCHS, SEED, THREADS, number, path_arg

NAME = "train"
HELP = "train the backbone and REP (or a baseline) on a dataset folder; resumable, DDP under torchrun"
EXAMPLE = ("edge-rep train --data data/synth --out runs/train --threads 1"
           "   |   edge-rep train --data data/site --out runs/site --init-from   (site adaptation)")
ORDER = 20


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, type=path_arg, help="dataset folder (edge-rep synth / convert output)")
    p.add_argument("--add-train", nargs="+", default=(), type=path_arg, metavar="DIR",
                   help="more dataset folders whose train splits join --data's (same profile, units and "
                        "classes; their val and test splits are never trained on), e.g. background made with "
                        "'edge-rep synth --background-only --split train'; validation stays --data's")
    p.add_argument("--out", required=True, type=path_arg,
                   help="run folder (new, empty, or an earlier run with --resume/--fresh): resumable training "
                        "checkpoints, backbone, model")
    p.add_argument("--save", default=None, type=path_arg,
                   help="where to write the final model (default OUT/model.safetensors)")
    p.add_argument("--init-from", nargs="?", const="bundled", default=None, metavar="MODEL",
                   help="site adaptation: fine-tune this trained model (.safetensors; 'bundled' or no value: the "
                        "bundled model) on --data instead of starting from scratch; its model settings, front-end "
                        "calibration and classes are kept (the data must match its profile, units and classes); "
                        "stage 1 learning rate 5e-4 unless --lr. The sidecar records the model it started from")
    p.add_argument("--lr", type=number(float, gt=0, le=1), default=None,
                   help="stage 1 learning rate (default 2e-3; 5e-4 with --init-from)")
    p.add_argument("--method", default="rep", help="rep (default), map, dcp, finetune or zerofill")
    p.add_argument("--eta", type=number(float, ge=0, le=100), default=70.0,
                   help="simulated missing rate in percent (default 70)")
    p.add_argument("--missing", default="both", help="missing type: acoustic, seismic or both (default both)")
    p.add_argument("--stage1-epochs", type=EPOCHS, default=None, help="backbone epochs (default 12)")
    p.add_argument("--stage2-epochs", type=EPOCHS, default=None, help="adaptation epochs (default 6)")
    p.add_argument("--batch-size", type=number(int, ge=1, le=65536), default=None,
                   help="windows per step and process (default 128)")
    p.add_argument("--width", type=number(int, ge=4, le=4096), default=None, help="model width D (default 64)")
    p.add_argument("--layers", type=number(int, ge=1, le=64), default=None, help="transformer layers (default 4)")
    p.add_argument("--buffer-tokens", type=number(int, ge=1, le=256), default=None,
                   help="REP buffer tokens L (default 4)")
    p.add_argument("--rep-layer", type=number(int, ge=0, le=63), default=None, help="replay layer k (default 2)")
    p.add_argument("--init", default=None, help="REP buffer init: dynamic (default), random or zero")
    p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=THREADS, default=None, help="torch CPU threads per process")
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU when there is one), cpu, cuda or cuda:N")
    p.add_argument("--resume", action="store_true",
                   help="continue the run folder's training checkpoints (model settings must not change)")
    p.add_argument("--fresh", "--force", dest="fresh", action="store_true",
                   help="start the run folder over: its training checkpoints are deleted, its model replaced when "
                        "the new one is written")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    import os
    from importlib.util import find_spec

    from ..dataset import load_dataset

    if find_spec("torch") is not None:     # (without torch, its import below names the extra to install)
        load_dataset(args.data)            # a wrong --data fails before torch loads (seconds)
        for extra in args.add_train:
            load_dataset(extra)
    import torch

    from ..errors import EdgeRepError
    from ..model import ModelConfig
    from ..distributed import resolve_device
    from ..train import FINETUNE_LR, METHODS, TrainConfig, run_training

    if args.method not in METHODS:
        raise EdgeRepError(f"--method {args.method}: use one of {', '.join(METHODS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    resolve_device(args.device)   # a bad --device fails before any work
    over = {"width": args.width, "n_layer": args.layers, "buffer_tokens": args.buffer_tokens,
            "rep_layer": args.rep_layer, "init": args.init}
    cfg = ModelConfig.from_dict({**ModelConfig().to_dict(), **{k: v for k, v in over.items() if v is not None}})
    t_over = {"stage1_epochs": args.stage1_epochs, "stage2_epochs": args.stage2_epochs,
              "batch_size": args.batch_size, "eta": args.eta / 100.0, "missing": args.missing, "seed": args.seed,
              "device": args.device}
    tc = TrainConfig(**{k: v for k, v in t_over.items() if v is not None})
    given = {k: getattr(cfg, k) for k, v in over.items() if v is not None}   # what --resume must not change
    if args.init_from is not None:
        if given:
            opts = {"width": "--width", "n_layer": "--layers", "buffer_tokens": "--buffer-tokens",
                    "rep_layer": "--rep-layer", "init": "--init"}
            raise EdgeRepError(f"--init-from keeps the model's settings; drop {', '.join(opts[k] for k in given)}")
        tc.lr = args.lr or FINETUNE_LR
    elif args.lr:
        tc.lr = args.lr
    path = run_training(args.data, args.out, cfg, tc, method=args.method, resume=args.resume,
                        progress=not args.quiet, save=args.save, fresh=args.fresh, given=given,
                        init_from=args.init_from, add_train=args.add_train)
    if int(os.environ.get("RANK", "0")) == 0:
        from ..modelspec import ModelMeta
        x = ModelMeta.load(path.with_suffix(".json")).extra
        c = x["parameters"]
        print(f"{args.method}: {c['trainable']:,} trainable of {c['total']:,} parameters "
              f"(backbone {c['backbone']:,}); stage 1 {x['seconds']['stage1']} s, stage 2 {x['seconds']['stage2']} s")
        if "init_from" in x:
            print(f"fine-tuned from model {x['init_from']['model_id']} ({x['init_from']['path']})")
        print(f"wrote {path} (+ {path.with_suffix('.json').name})")
    return 0
