"""One module per subcommand; each exposes `run(args) -> int`. Imported lazily by cli.py."""
