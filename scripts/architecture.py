"""The shape of the code, in numbers: what issue 43 asked to measure before and after.

    python scripts/architecture.py                 # this checkout
    python scripts/architecture.py /tmp/old        # another tree (git archive REV | tar -x -C /tmp/old)

Prints one JSON document: modules per package in trainer/; imports between packages and how they reach the other
package (its ``__init__``'s exports, trainer's public modules errors/schema, the top package's own private root
modules, or a module inside the package); the share of private modules; bench/'s modules, lines and result files;
import circles among the product's modules and bench/'s (a bench module named like a package counts as the package
it shadows); the longest function. Reads source only; imports nothing of the project.

``tests/test_lint.py`` holds the architecture to these numbers with the same parts (:func:`module_graph`,
:func:`cycles`), so what is measured here is what the tests enforce.
"""

from __future__ import annotations

import ast
import json
import sys
from collections import Counter
from pathlib import Path

PRODUCT = ("search", "trainer", "storage", "demodata")


def modules(root: Path) -> dict[str, Path]:
    """Every module of the product's packages under ``root``, by dotted name (a package by its ``__init__``)."""
    found = {}
    for package in PRODUCT:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import | ast.ImportFrom)]


def _cross_package(found: dict[str, Path]) -> dict:
    """``from X import …`` between packages (a package: a folder with ``__init__.py``), by the way it reaches X."""
    packages = {name for name, path in found.items() if path.name == "__init__.py"}
    home = {name: name if name in packages else name.rsplit(".", 1)[0] for name in found}
    ways: Counter[str] = Counter()
    for name, path in found.items():
        for node in _imports(path):
            target = getattr(node, "module", None)
            if isinstance(node, ast.Import) or node.level or target not in found or home[target] == home[name]:
                continue
            last = target.rsplit(".", 1)[-1]
            if target in packages:
                ways["via_exports"] += 1
            elif target.count(".") == 1 and last.startswith("_") and target.split(".")[0] == name.split(".")[0]:
                ways["via_own_root_private"] += 1
            elif target in ("trainer.errors", "trainer.schema"):
                ways["via_trainer_public_module"] += 1
            else:
                ways["naming_a_submodule"] += 1
    total = sum(ways.values())
    return {"cross_package_imports": total, **ways, "share_via_exports": round(ways["via_exports"] / total, 3)}


def module_graph(root: Path, found: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """Product module → the product modules it imports (anywhere in the file, lazy imports included)."""
    found = found if found is not None else modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        targets = set()
        for node in _imports(path):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in found and t != name}
    return graph


def bench_graph(root: Path) -> dict[str, set[str]]:
    """bench/'s module → the bench modules it imports, by file name (a bench module named like one of our packages
    is what ``import trainer`` finds from a bench script: it shadows the package)."""
    bench = {path.stem: path for path in (root / "bench").glob("*.py")}
    graph: dict[str, set[str]] = {}
    for stem, path in bench.items():
        targets = set()
        for node in _imports(path):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                targets |= {a.name.split(".")[0] for a in node.names}
        graph[stem] = {t for t in targets if t in bench and t != stem}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle of ``graph`` (module → the modules it imports), each once, from its smallest member."""
    found = []
    for start in graph:  # a depth-first walk from each module back to itself (the graphs are small)
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start and len(path) > 1 and start == min(path):
                    found.append(path)
                elif nxt not in path and nxt > start:
                    stack.append((nxt, [*path, nxt]))
    return found


def _longest_function(root: Path, packages: tuple[str, ...]) -> list:
    longest = [0, ""]
    for package in packages:
        for path in (root / package).rglob("*.py"):
            if ".work" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > longest[0]:
                        longest = [lines, f"{path.relative_to(root)}:{node.name}"]
    return longest


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    found = modules(root)
    trainer = Counter(
        "trainer/" + (name.split(".")[1] + "/" if name.count(".") > 1 else "")
        for name, path in found.items()
        if name.startswith("trainer") and path.name != "__init__.py"
    )
    plain = [name for name, path in found.items() if path.name not in ("__init__.py", "__main__.py")]
    private = [name for name in plain if name.rsplit(".", 1)[-1].startswith("_")]
    bench = sorted((root / "bench").glob("*.py"))
    results = [p for p in (root / "bench" / "results").rglob("*") if p.is_file()]
    print(json.dumps({
        "trainer_modules_by_package": dict(sorted(trainer.items())),
        **_cross_package(found),
        "product_modules": len(plain),
        "private_modules": len(private),
        "share_private": round(len(private) / len(plain), 3),
        "bench_modules": len(bench),
        "bench_lines": sum(len(p.read_text().splitlines()) for p in bench),
        "bench_result_files": len(results),
        "bench_result_files_historical": sum("historical" in p.parts for p in results),
        "circles": len(cycles(module_graph(root, found))) + len(cycles(bench_graph(root))),
        "longest_function_product": _longest_function(root, PRODUCT),
        "longest_function_bench": _longest_function(root, ("bench",)),
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
