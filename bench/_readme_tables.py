"""What the sections of ``bench/README.md`` share: results read by name, Markdown tables, percentages."""

from __future__ import annotations

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f} %"


def relative(command: str) -> str:
    """A recorded command with the checkout's absolute path dropped: the same text from any clone."""
    return re.sub(r"/\S*?/(bench/)", r"\1", command)
