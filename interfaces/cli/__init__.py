"""The `modiste` command line (typer): see interfaces.cli.main."""
