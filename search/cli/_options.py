"""Command-line options that several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Study storage URL: sqlite:///FILE, postgresql://USER:PASS@HOST/DB or journal:///FILE "
        "[default: $DFU_SEARCH_STORAGE, else sqlite:///dfu-search.db].",
    ),
]
StudyOption = Annotated[str, typer.Option("--study", help="Study name.")]
DataOption = Annotated[
    Path,
    typer.Option("--data", help="A metadata CSV (metadata only) or a data folder in the DFU study's layout."),
]
CacheOption = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Preprocessing cache (images, RandomForest probabilities), shared by every worker and study on the "
        "same data [default: $DFU_SEARCH_CACHE or ~/.cache/dfu-search].",
    ),
]
ArtifactsOption = Annotated[
    Path | None,
    typer.Option(
        "--artifacts",
        help="Folder for trial diagnostics (learning curves, confusion matrices, result.json) "
        "[default: $DFU_SEARCH_ARTIFACTS, else the study's, else beside the SQLite/journal file, "
        "else ./dfu-search-artifacts]. Shared storage needs a folder every worker can reach.",
    ),
]
