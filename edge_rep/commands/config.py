"""``edge-rep config``: check an edge-rep.toml, or print the effective configuration."""

from . import path_arg

NAME = "config"
HELP = "check an edge-rep.toml (keys, values, files it names) or print the effective configuration"
EXAMPLE = "edge-rep config --check /etc/edge-rep/edge-rep.toml"
ORDER = 80


def add_arguments(p) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", metavar="FILE", type=path_arg,
                   help="validate FILE and the files it names; exit 2 on a problem")
    g.add_argument("--print", metavar="FILE", nargs="?", const=False,  # False: --print with no FILE
                   type=path_arg, dest="print_file",
                   help="print the effective config (FILE merged over the defaults; no FILE: the defaults) "
                        "as commented TOML")
    p.add_argument("--json", action="store_true", help="with --print: print JSON instead of TOML")


def run(args) -> int:
    import json

    from ..config import check_paths, dump_toml, load_config
    from ..errors import EdgeRepError

    if args.check is not None:
        cfg = load_config(args.check)
        problems = check_paths(cfg)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise EdgeRepError(f"{args.check}: {problems[0]}{more}; fix the path or install the file")
        print(f"{args.check}: ok")
        return 0
    cfg = load_config(args.print_file or None)
    print(json.dumps(cfg.to_dict(), indent=2) if args.json else dump_toml(cfg), end="" if not args.json else "\n")
    return 0
