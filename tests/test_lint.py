"""The code stays clean: ruff's checks (pyflakes, pycodestyle, imports, bugbear, pyupgrade)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "trainer", "search", "storage", "tests"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level modules each file of ``package`` imports (anywhere in the file, lazy imports included)."""
    import ast

    found = {}
    for path in (REPO / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = names
    return found


def test_layers_stay_apart() -> None:
    """trainer/ knows nothing of Optuna, storage/ nothing of Keras or the trainer; search/ joins them."""
    for path, names in _imports("storage").items():
        assert not names & {"trainer", "search", "keras", "tensorflow"}, (path, names)
    for path, names in _imports("trainer").items():
        assert not names & {"optuna", "search", "storage", "optuna_dashboard"}, (path, names)
