"""The ``edge-rep`` command line.

Each subcommand lives in its own module under ``edge_rep/commands/`` and defines:

    NAME: str            the subcommand name
    HELP: str            one-line help
    EXAMPLE: str         an example invocation, shown in its --help
    ORDER: int           position in ``edge-rep --help``
    add_arguments(p)     argparse set-up (must import nothing heavy)
    run(args) -> int     the work (imports its heavy dependencies inside)

Errors: an ``EdgeRepError`` (or firmware_bridge's ``BridgeError``, the link layer's own) becomes one line
on stderr and its exit code (2); so does a missing module that an optional extra installs
(``EXTRA_MODULES``: the line names the extra to install), and an argument error (an unknown option, a
number out of range: see the types in ``edge_rep.commands``). Anything else becomes a one-line internal
error (exit 1) unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from firmware_bridge.errors import BridgeError

from . import __version__, commands
from .errors import EdgeRepError

# Modules that only an optional extra of pyproject.toml installs: module -> (distribution, extras that
# install it, first preferred unless one is named like the command). tests/test_packaging.py checks this
# table against pyproject.toml, and that the base install runs the device's commands without any of them.
EXTRA_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "torch": ("torch", ("train", "export")),
    "safetensors": ("safetensors", ("train", "export")),
    "tqdm": ("tqdm", ("train",)),
    "matplotlib": ("matplotlib", ("train",)),
    "onnx": ("onnx", ("export", "jetson")),
    "onnxscript": ("onnxscript", ("export",)),
    "obspy": ("obspy", ("seismic",)),
    "h5py": ("h5py", ("matlab",)),
    "paho": ("paho-mqtt", ("mqtt",)),
    "cuda": ("cuda-python", ("jetson",)),
}


def missing_extra(command: str, error: ModuleNotFoundError) -> EdgeRepError | None:
    """The one-line error for a command that needs a module of a not-installed extra; None for any other
    missing module (a bug, reported as an internal error)."""
    top = (error.name or "").partition(".")[0]
    if top not in EXTRA_MODULES:
        return None
    dist, extras = EXTRA_MODULES[top]
    extra = command if command in extras else extras[0]
    return EdgeRepError(f"edge-rep {command} needs {dist}, from the '{extra}' extra, which is not installed; "
                        f"pip install 'edge-rep[{extra}]'")


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are ``EdgeRepError``s, so ``main`` prints them like any other bad input: one
    line ``edge-rep: error: <option>: <problem>; <what to do>``, exit 2 (not argparse's usage block and
    second line). Sub-parsers inherit the class."""

    def error(self, message: str):
        message = message.removeprefix("argument ").replace("\n", " ")
        todo = "" if ";" in message else f"; see '{self.prog} --help'"
        raise EdgeRepError(f"{message}{todo}")


def _command_modules() -> list:
    mods = [importlib.import_module(f"{commands.__name__}.{m.name}")
            for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    return sorted(mods, key=lambda m: (m.ORDER, m.NAME))


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="edge-rep",
        description="Acoustic-seismic ground-sensor classification that survives dropped channels.",
        epilog="Run 'edge-rep COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"edge-rep {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP,
                           epilog=f"example:\n  {mod.EXAMPLE}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except EdgeRepError as e:
        print(f"edge-rep: error: {e}", file=sys.stderr)
        return e.exit_code
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        try:
            return int(args._run(args) or 0)
        except ModuleNotFoundError as e:       # from an extra that is not installed: name the extra
            missing = missing_extra(args.command, e)
            if missing is None:
                raise
            raise missing from None
    except (EdgeRepError, BridgeError) as e:
        print(f"edge-rep: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("edge-rep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # the user gets one line, never a traceback
        if args.debug:
            raise
        print(f"edge-rep: internal error: {type(e).__name__}: {e} (rerun with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
