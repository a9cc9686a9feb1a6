"""``dfu-search cache list|clear``: what the shared cache holds (stored pre-trainings above all), and freeing it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from search.cli._console import console, setup_logging
from search.cli._options import CacheOption

app = typer.Typer(help="The shared cache: stored pre-trainings, preprocessed images, RandomForest probabilities, "
                  "compiled XLA programs.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)  # fmt: skip


def _folder_bytes(folder: Path) -> tuple[int, int]:
    """(entries, bytes) of the entry folders directly in ``folder``."""
    if not folder.is_dir():
        return 0, 0
    entries = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return len(entries), sum(f.stat().st_size for p in entries for f in p.rglob("*") if f.is_file())


@app.command("list")
def list_entries(cache_dir: CacheOption = None) -> None:
    """Each stored pre-training (what it is, size, hits, last use), then the other caches' totals."""
    setup_logging()
    from rich.table import Table

    from trainer import default_cache_dir
    from trainer.stages import FOLDER, PretrainStore

    root = Path(cache_dir or default_cache_dir())
    entries = PretrainStore(root / FOLDER).entries()
    table = Table("key", "pre-training", "MB", "hits", "created", "last used", title=f"stored pre-trainings in {root}")
    for e in entries:
        table.add_row(e.key[:12], e.describe, f"{e.bytes / 1e6:.2f}", str(e.hits), _when(e.created), _when(e.last_used))
    console.print(table)
    total = sum(e.bytes for e in entries)
    console.print(f"{len(entries)} pre-trainings, {total / 1e6:.1f} MB, {sum(e.hits for e in entries)} hits")
    for name, what in (
        ("images", "preprocessed image arrays"),
        ("metadata", "RandomForest probabilities"),
        ("xla", "compiled XLA programs (JAX backend; an entry per library version and device kind)"),
        ("fingerprints", "image digests of the data fingerprint (a file per host and data folder)"),
    ):
        count, size = _folder_bytes(root / name)
        console.print(f"{what}: {count} entries, {size / 1e6:.1f} MB ({root / name})")


@app.command()
def clear(
    older_than: Annotated[
        float | None, typer.Option(min=0, help="Only pre-trainings not used for this many days [default: all].")
    ] = None,
    cache_dir: CacheOption = None,
) -> None:
    """Remove stored pre-trainings (the next trial that needs one trains it again); other caches stay."""
    setup_logging()
    from trainer import default_cache_dir
    from trainer.stages import FOLDER, PretrainStore

    root = Path(cache_dir or default_cache_dir())
    removed, freed = PretrainStore(root / FOLDER).clear(older_than)
    console.print(f"removed {removed} stored pre-trainings, {freed / 1e6:.1f} MB, from {root / FOLDER}")


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cache")
