"""The `movierec` command line: one Typer app, one file per command group."""
