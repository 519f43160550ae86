"""One module per subcommand; see edge_rep/cli.py for the contract."""


def add_force(p, what: str) -> None:
    """The one ``--force`` of every writer: replace an existing ``what`` (only edge-rep's own output of
    that kind; anything else at the path is refused either way, see ``edge_rep.outpaths``)."""
    p.add_argument("--force", action="store_true",
                   help=f"replace an existing {what} at --out (never anything else: other paths are refused)")
