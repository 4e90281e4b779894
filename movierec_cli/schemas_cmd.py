"""`movierec schemas`: export the event contracts' JSON Schemas and check them for drift."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from schemas import export as schema_export

app = typer.Typer(no_args_is_help=True, help="Event contracts (JSON Schema files in schemas/json/).")
console = Console()


@app.command()
def export(out_dir: Path = typer.Option(schema_export.JSON_DIR, help="Where the .json files go.")) -> None:
    """Write schemas/json/<Name>.json for every event contract."""
    written = schema_export.export(out_dir)
    for path in written:
        console.print(f"[green]wrote[/] {path}")
    if not written:
        console.print(f"schemas in {out_dir} already up to date")


@app.command()
def check(out_dir: Path = typer.Option(schema_export.JSON_DIR, help="Where the .json files are.")) -> None:
    """Exit 1 if the committed JSON Schemas differ from the models."""
    problems = schema_export.check(out_dir)
    for line in problems:
        console.print(f"[red]drift[/] {line}")
    if problems:
        console.print("run `movierec schemas export` and commit schemas/json/")
        raise typer.Exit(1)
    console.print("[green]schemas in sync[/]")
