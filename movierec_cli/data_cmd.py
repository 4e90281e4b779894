"""`movierec data`: fetch MovieLens, generate synthetic MovieLens data, check a dataset loads cleanly."""
from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from offline.data import fetch as fetch_mod
from offline.data.errors import DataError
from offline.data.loaders import load_dataset
from offline.data.report import LoadReport
from offline.data.synth import generate, n_chunks

app = typer.Typer(no_args_is_help=True, help="Fetch MovieLens, synthetic data, data checks.")
console = Console()
err_console = Console(stderr=True)


class Format(str, enum.Enum):
    """Ratings file format for `synth`."""

    csv = "csv"
    parquet = "parquet"


class Preset(str, enum.Enum):
    """Published dataset sizes (users, movies, ratings)."""

    ml_latest_small = "ml-latest-small"
    ml_20m = "ml-20m"


class Fetchable(str, enum.Enum):
    """Datasets `fetch` can download (with a pinned SHA-256)."""

    ml_latest_small = "ml-latest-small"


PRESET_SIZES: dict[Preset, tuple[int, int, int]] = {
    Preset.ml_latest_small: (610, 9_742, 100_836),
    Preset.ml_20m: (138_493, 27_278, 20_000_263),
}


def _fail(error: Exception) -> typer.Exit:
    """Print ``error`` on stderr; the Exit (code 2) to raise."""
    err_console.print(f"[bold red]error:[/] {error}", markup=True, highlight=False)
    return typer.Exit(code=2)


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Directory to write ratings and movies into.")],
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 2_000,
    movies: Annotated[int, typer.Option(min=1, help="Number of movies.")] = 3_000,
    ratings: Annotated[int, typer.Option(min=1, help="Number of ratings (exact).")] = 200_000,
    seed: Annotated[int, typer.Option(help="Seed for every random draw.")] = 42,
    fmt: Annotated[Format, typer.Option("--format", help="Ratings file format.")] = Format.csv,
    preset: Annotated[
        Optional[Preset], typer.Option(help="Use a published dataset's sizes (overrides the three sizes).")
    ] = None,
) -> None:
    """Write a synthetic MovieLens-shaped dataset (ml-latest layout) into OUT."""
    if preset is not None:
        users, movies, ratings = PRESET_SIZES[preset]
    bar = tqdm(desc=f"synth {users:,} users", unit="chunk", total=n_chunks(users))

    def on_chunk(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        summary = generate(out, users, movies, ratings, seed, fmt=fmt.value, on_chunk=on_chunk)
    except (ValueError, OSError) as error:
        raise _fail(error) from error
    finally:
        bar.close()
    table = Table(title=f"synthetic data in {out}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("users", f"{summary.n_users:,}"), ("movies", f"{summary.n_movies:,}"),
        ("ratings", f"{summary.n_ratings:,}"), ("mean rating", f"{summary.mean_rating:.3f}"),
        ("ratings per user", f"{summary.min_user_ratings:,} - {summary.max_user_ratings:,}"),
        ("ratings file", str(summary.ratings_path)), ("movies file", str(summary.movies_path)),
        ("seconds", f"{summary.seconds:.1f}"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _report_table(title: str, report: LoadReport) -> Table:
    """A LoadReport as a two-column rich table."""
    table = Table(title=title, show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("file", report.path)
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("rows kept", f"{report.rows_kept:,}")
    for reason, count in sorted(report.dropped.items()):
        table.add_row(f"dropped: {reason}", f"{count:,}")
    for name, count in sorted(report.notes.items()):
        table.add_row(f"note: {name}", f"{count:,}")
    return table


@app.command()
def check(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory or ratings file.")],
) -> None:
    """Load a dataset and print its layout and what was read, kept and dropped."""
    try:
        dataset = load_dataset(data)
    except DataError as error:
        raise _fail(error) from error
    ratings = dataset.ratings
    console.print(
        f"layout [bold]{dataset.layout}[/]: {len(ratings):,} ratings, "
        f"{ratings['user_id'].nunique():,} users, {len(dataset.movies):,} movies"
    )
    console.print(_report_table("ratings", dataset.ratings_report))
    console.print(_report_table("movies", dataset.movies_report))


@app.command()
def fetch(
    dataset: Annotated[Fetchable, typer.Argument(help="Dataset to download.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to unpack into (as OUT/<dataset>/).")] = Path("data/raw"),
    base_url: Annotated[str, typer.Option("--base-url", envvar="MOVIEREC_DATA_BASE_URL",
                                          help="Where <dataset>.zip lies (a mirror).")] = fetch_mod.BASE_URL,
    sha256: Annotated[Optional[str], typer.Option(
        "--sha256", help="Expected SHA-256 of the zip (default: the pinned digest of the official file).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing OUT/<dataset>.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Network timeout, seconds.")] = 60.0,
) -> None:
    """Download a MovieLens zip, verify its SHA-256, unpack it into OUT (nothing half-written on failure)."""
    target = out / dataset.value
    if target.exists() and not force:
        console.print(f"{target} already exists; keeping it (--force to download again)")
        return
    bars: list[tqdm] = []  # created on the first bytes: a failed connection prints no empty bar

    def on_progress(done: int, total: int | None) -> None:
        if not bars:
            bars.append(tqdm(desc=f"{dataset.value}.zip", total=total, unit="B", unit_scale=True, unit_divisor=1024))
        bars[0].update(done - bars[0].n)

    try:
        path = fetch_mod.fetch_dataset(dataset.value, out, base_url=base_url, sha256=sha256, timeout_s=timeout,
                                       force=force, on_progress=on_progress)
    except fetch_mod.FetchError as error:
        raise _fail(error) from error
    finally:
        for bar in bars:
            bar.close()
    console.print(f"[green]{dataset.value}[/] verified and unpacked into {path}")
