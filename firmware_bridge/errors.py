"""The one exception type firmware_bridge raises: a message that names the thing and what to do.

firmware_bridge is the lower layer (the board <-> host link) and knows nothing of edge_rep; edge_rep's
command line prints a ``BridgeError`` exactly like its own ``EdgeRepError``: ``edge-rep: error: <message>``
and exit code ``exit_code`` (2). Wire data never raises it: decoders count bad bytes instead.
"""


class BridgeError(Exception):
    """A user-facing error of the link layer (a bad port, log, frame to encode or CSV channel map).

    The message is one line, names the offending thing and says what to do.
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
