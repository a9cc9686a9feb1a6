"""What the sections of ``bench/README.md`` share: results read by name, Markdown tables, percentages."""

from __future__ import annotations

import json
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = RESULTS.parents[1]


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


def current_paths(text: str) -> str:
    """Module paths in text recorded with older results (a run's note: ``storage/trial_reads.py``) as they are now,
    where the module has since become private (``storage/_trial_reads.py``): a reader of the README finds the file."""

    def current(match: re.Match) -> str:
        path = match.group(0)
        folder, _, name = path.rpartition("/")
        private = f"{folder}/_{name}"
        return private if not (REPO / path).exists() and (REPO / private).exists() else path

    return re.sub(r"\b(?:search|trainer|storage|demodata)/[\w/]*?[a-z]\w*\.py\b", current, text)
