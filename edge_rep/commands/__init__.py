"""One module per subcommand; see edge_rep/cli.py for the contract."""
