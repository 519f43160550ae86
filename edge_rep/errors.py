"""The one exception type a user sees: a message that names the thing and what to do.

firmware_bridge, the lower layer, raises its own ``firmware_bridge.errors.BridgeError`` (it never
imports edge_rep); the command line prints both alike: one line, exit code 2.
"""


class EdgeRepError(Exception):
    """A user-facing error. The CLI prints ``edge-rep: error: <message>`` and exits with ``exit_code``.

    Raise it for bad input (missing or corrupt files, wrong shapes, bad config, a missing device);
    the message must be one line, name the offending thing, and say what to do.
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


def warn(message: str) -> None:
    """Something the user should fix that does not stop the command (it still exits 0): one line on stderr,
    ``edge-rep: warning: <thing>: <problem>; <what to do>``, the same form as an error."""
    import sys
    print(f"edge-rep: warning: {message}", file=sys.stderr, flush=True)
