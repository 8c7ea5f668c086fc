"""The CLI subcommands: thin printers over the core."""
