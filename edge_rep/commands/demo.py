"""``edge-rep demo``: the main job on embedded defaults (no hardware)."""

NAME = "demo"
HELP = "run the main job on embedded defaults: a simulated sensor board and the bundled model"
EXAMPLE = "edge-rep demo"
ORDER = 0


def add_arguments(p) -> None:
    p.add_argument("--seconds", type=float, default=30.0, help="how long to run (default 30)")


def run(args) -> int:
    from ..errors import EdgeRepError
    raise EdgeRepError("the demo is not built yet")
