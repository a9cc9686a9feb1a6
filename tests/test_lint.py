"""The code stays clean: ruff's checks (pyflakes, pycodestyle, imports, bugbear, pyupgrade)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

from conftest import REPO


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "trainer", "search", "storage", "demodata", "tests", "scripts"],
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
        assert not names & {"optuna", "search", "storage", "optuna_dashboard", "demodata"}, (path, names)
    # the demo-data generator builds data for the trainer and knows nothing of training, the search or the storage
    for path, names in _imports("demodata").items():
        assert not names & {"optuna", "search", "storage", "keras", "tensorflow"}, (path, names)


#: search/'s packages from the bottom up: each may import those before it, never those after it.
SEARCH_LAYERS = ("pruners", "samplers", "study", "query", "visualization", "workers", "replay", "cli")


def _architecture():
    """scripts/architecture.py: the import graph and its circles, the parts its measurements and these tests share."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("architecture", REPO / "scripts" / "architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _module_graph() -> dict[str, set[str]]:
    """Project module → the project modules it imports (anywhere in the file, lazy imports included)."""
    return _architecture().module_graph(REPO)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    return _architecture().cycles(graph)


def test_no_module_imports_itself_back() -> None:
    """No import circle anywhere: a module that needs itself through others is two concepts tangled."""
    cycles = _cycles(_module_graph())
    assert not cycles, cycles


def _upward_imports(top: str, layers: tuple[str, ...], loose: tuple[str, ...]) -> list[str]:
    """What breaks ``top``'s layers (``layers``, from the bottom up): a module sitting directly in ``top``/ that is
    not in ``loose``, and an import from a lower package into a higher one. Directly in ``top``/ sit the shared
    helpers, beneath every package, and ``__main__``, above them all; ``top``'s ``__init__`` holds no code."""
    broken = [f"{top}/{p.name} sits directly in {top}/" for p in (REPO / top).glob("*.py") if p.name not in loose]

    def layer(module: str) -> int | None:
        parts = module.split(".")
        if parts[0] != top or len(parts) == 1:
            return None
        if parts[1] in layers:
            return layers.index(parts[1])
        return len(layers) if parts[1] == "__main__" else -1

    graph = _module_graph()
    broken += [
        f"{module} → {target}"
        for module, imported in graph.items()
        for target in imported
        if layer(module) is not None and layer(target) is not None and layer(target) > layer(module)
    ]
    return broken


def test_search_packages_import_only_downwards() -> None:
    """search/'s packages form layers (:data:`SEARCH_LAYERS`); no module sits directly in search/ but
    the package's entry points and the lazy exports its packages share."""
    upwards = _upward_imports("search", SEARCH_LAYERS, ("__init__.py", "__main__.py", "_lazy.py"))
    upwards += [
        f"{module} → {target}"
        for module, imported in _module_graph().items()
        for target in imported
        if module.startswith(("trainer", "storage")) and target.startswith("search")
    ]
    assert not upwards, upwards


#: trainer/'s packages from the bottom up, as search/'s; below them the modules directly in trainer/ (the errors, the
#: data's schema, the private backend set-up, file helpers and lazy exports), which import none of the packages.
TRAINER_LAYERS = ("config", "data", "model", "stages", "final", "run")
TRAINER_LOOSE = ("__init__.py", "errors.py", "schema.py", "_backend.py", "_files.py", "_lazy.py")


def test_trainer_packages_import_only_downwards() -> None:
    """trainer/'s packages form layers (:data:`TRAINER_LAYERS`): the stages may use the model, never the model the
    stages. Directly in trainer/ sit only the modules every package shares (:data:`TRAINER_LOOSE`)."""
    upwards = _upward_imports("trainer", TRAINER_LAYERS, TRAINER_LOOSE)
    assert not upwards, upwards


def _surface_of(module: str) -> str:
    """The package whose exports a module belongs to: ``search.study._create`` → ``search.study``,
    ``trainer.data._images`` → ``trainer.data``; ``storage._urls``, ``trainer.errors`` → ``storage``, ``trainer``."""
    parts = module.split(".")
    if parts[0] in ("search", "trainer") and len(parts) > 1 and (REPO / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    return parts[0]


def test_packages_use_each_others_exports() -> None:
    """Product code imports another package through that package's exports (``from trainer.data import
    prepare``, ``from storage import StorageError``), never a module inside it: what a package offers the others
    is its ``__init__`` (Optuna's convention), and its modules may move. Exceptions: trainer's public modules
    :mod:`trainer.errors` and :mod:`trainer.schema`, and a top package's private root modules (``trainer._backend``,
    ``trainer._files``), which its own packages share."""
    import ast
    import importlib

    found = []
    for root in ("search", "trainer", "storage", "demodata"):
        for path in sorted((REPO / root).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            me = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                target = node.module
                if target.split(".")[0] not in ("search", "trainer", "storage", "demodata"):
                    continue
                if _surface_of(target) == _surface_of(me) or target in ("trainer.errors", "trainer.schema"):
                    continue
                if target.split(".")[0] == parts[0] and target.count(".") == 1 and target.split(".")[1].startswith("_"):
                    continue  # a private root module of the importer's own top package
                if target != _surface_of(target):
                    found.append(f"{path.relative_to(REPO)}: {target} (a module inside {_surface_of(target)})")
                    continue
                exported = set(getattr(importlib.import_module(target), "__all__", ()))
                shared = {a.name for a in node.names if a.name.startswith("_") and target == parts[0]}
                found += [f"{path.relative_to(REPO)}: {target}.{a.name} (not exported)" for a in node.names
                          if a.name not in exported and a.name not in shared]  # fmt: skip
    assert not found, found


def test_modules_are_private_behind_their_package() -> None:
    """Optuna's convention: a package's implementation lives in private ``_modules`` and its ``__init__`` says what
    others may use. Public modules are only trainer's two vocabularies, :mod:`trainer.errors` and :mod:`trainer.schema`."""
    public = sorted(
        str(path.relative_to(REPO))
        for root in ("search", "trainer", "storage", "demodata")
        for path in (REPO / root).rglob("*.py")
        if not path.name.startswith("_") and path.parent.name != "presets"
    )
    assert public == ["trainer/errors.py", "trainer/schema.py"], public


def test_no_lazy_export_is_shadowed_by_a_module() -> None:
    """Packages export names lazily (PEP 562); a submodule of the same name would replace the export with
    the module once anything imports it (``from trainer import prepare`` then gets a module)."""
    import importlib

    inits = [*(REPO / "trainer").rglob("__init__.py"), *(REPO / "search").rglob("__init__.py")]
    for init in [i for i in inits if i.parent.name != "presets"]:  # presets/: the TOML files' resource folder
        name = ".".join(init.parent.relative_to(REPO).parts)
        exports = getattr(importlib.import_module(name), "_EXPORTS", {})
        assert exports or name == "search.cli", f"{name} exports nothing"
        for export, module in exports.items():
            importlib.import_module(module)  # every export names a real module ...
            assert not (init.parent / f"{export}.py").exists() and not (init.parent / export).is_dir(), (name, export)


def test_bench_readme_is_generated_from_the_results() -> None:
    """bench/README.md's tables come from bench/results/ by bench/readme.py; an edit to either alone fails here."""
    result = subprocess.run([sys.executable, "bench/readme.py", "--check"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_repository_stands_alone() -> None:
    """Code and docs cite the design in docs/, never a document outside the repository."""
    cited = []
    for path in [*REPO.glob("*.md"), *REPO.glob("docs/*.md")] + [
        p
        for package in ("trainer", "search", "storage", "demodata", "bench")
        for p in (REPO / package).rglob("*.py")
        if ".work" not in p.relative_to(REPO).parts  # benchmarks' scratch (a checkout of another commit, say)
    ]:
        if "DESIGN §" in path.read_text() or "shared/DESIGN" in path.read_text():
            cited.append(str(path.relative_to(REPO)))
    assert not cited, cited


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def test_links_between_the_documents_resolve() -> None:
    """Every relative link in the Markdown documents names a file that exists, and a heading there if it has an
    anchor: the README's decision lines point into bench/README.md, whose headings are generated."""
    import re

    broken = []
    for document in [*REPO.glob("*.md"), *REPO.glob("docs/*.md"), REPO / "bench" / "README.md"]:
        text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            if not linked.exists():
                broken.append(f"{document.relative_to(REPO)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{document.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, broken


def test_documents_name_source_files_that_exist() -> None:
    """A source file the documents name (``storage/_trial_reads.py``, ``bench/scale.py``) exists: a module moved or
    made private takes its mentions along (bench/README.md's, from older results' notes too)."""
    import re

    missing = []
    for document in [*REPO.glob("*.md"), *REPO.glob("docs/*.md"), REPO / "bench" / "README.md"]:
        for path in re.findall(r"(?<![\w/.])((?:search|trainer|storage|demodata|bench|tests|scripts)/[\w/.-]*?\.py)\b",
                               document.read_text()):  # fmt: skip
            if not (REPO / path).is_file():
                missing.append(f"{document.relative_to(REPO)}: {path}")
    assert not missing, missing


def test_the_trainer_compiles_in_one_place_and_never_clears_the_session_while_training() -> None:
    """Models are compiled once per graph and process (trainer/model/_compiled.py): a `compile(` or a
    `clear_session` anywhere else in trainer/ would bring back a trace per fold and stage."""
    import re

    compiles, clears = [], []
    for path in (REPO / "trainer").rglob("*.py"):
        text = path.read_text()
        if re.search(r"\.compile\(\s*(optimizer|$)", text, flags=re.M) and path.name != "_compiled.py":
            compiles.append(path.name)
        if "clear_session" in text and path.name != "_compiled.py":  # free_memory: for tests and benchmarks
            clears.append(path.name)
    assert not compiles and not clears, (compiles, clears)


_FILE_ENDINGS = ("db", "py", "md", "json", "toml", "csv", "png", "log", "keras", "txt", "gz")


def _named_modules(path: pathlib.Path) -> list[str]:
    """Dotted names of this project's modules (``search.…``, ``trainer.…``, ``storage.…``) in a document, or in
    a Python file's strings and comments (code is checked by importing it; a variable may be called storage)."""
    import io
    import re
    import tokenize

    text = path.read_text()
    if path.suffix == ".py":
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        text = "\n".join(t.string for t in tokens if t.type in (tokenize.STRING, tokenize.COMMENT))
    names = re.findall(r"(?<![\w./-])((?:search|trainer|storage)(?:\.[A-Za-z_]\w*)+)", text)
    return [n for n in names if n.rsplit(".", 1)[1] not in _FILE_ENDINGS]


def _defines(module: str, name: str) -> bool:
    """Whether ``module`` has ``name``: a submodule, or a top-level definition, assignment or import in its source."""
    import importlib.util
    import re

    spec = importlib.util.find_spec(module)
    if spec.submodule_search_locations is not None and importlib.util.find_spec(f"{module}.{name}") is not None:
        return True
    source = pathlib.Path(spec.origin).read_text()
    pattern = rf"^(?:(?:async )?def|class) {name}\b|^\s*{name}\s*[:=]|import .*\b{name}\b|\"{name}\""
    return re.search(pattern, source, flags=re.M) is not None


def test_documents_name_modules_that_exist() -> None:
    """A dotted name in the documents, docstrings or comments (``search.pruners._judge.Judge``) names a module
    that exists and, after it, something that module defines: a module moved or renamed takes its mentions along."""
    import importlib.util

    files = [*REPO.glob("*.md"), *REPO.glob("docs/*.md")] + [
        p
        for package in ("trainer", "search", "storage", "demodata", "bench", "tests")
        for p in (REPO / package).rglob("*.py")
        if ".work" not in p.relative_to(REPO).parts
    ]
    missing = []
    for path in files:
        for name in _named_modules(path):
            parts = name.split(".")
            module = parts[0]
            for part in parts[1:]:
                if not _defines(module, part):
                    missing.append(f"{path.relative_to(REPO)}: {name}")
                    break
                if importlib.util.find_spec(module).submodule_search_locations is None:
                    break  # an attribute of a module: what follows it is the attribute's own
                module = f"{module}.{part}"
                if importlib.util.find_spec(module) is None:
                    break
    assert not missing, missing


def test_no_package_imports_another_packages_private_names() -> None:
    """A leading underscore means "this package's own": search/, trainer/, storage/ and demodata/ import another of our
    packages' names only if they are public (Optuna's private storage helpers are the one outside exception:
    storage/ reads through Optuna's own session helper, storage/_light_reads.py and storage/_resilient.py). A top
    package's private root modules (``trainer._backend``, ``trainer._files``) are shared by its own packages, as
    Optuna's ``optuna._imports`` is."""
    import ast

    found = []
    for root in ("search", "trainer", "storage", "demodata"):
        for path in sorted((REPO / root).rglob("*.py")):
            package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                if node.module.startswith("optuna.") or node.module == package or node.module.startswith(package + "."):
                    continue
                if node.module == root:  # ``from trainer import _backend``: the root's own private module
                    found += [f"{path.relative_to(REPO)}: {root}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not (REPO / root / f"{a.name}.py").is_file()]  # fmt: skip
                    continue
                found += [f"{path.relative_to(REPO)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]  # fmt: skip
    assert not found, found


def test_bench_modules_share_helpers_without_circles_or_private_names() -> None:
    """bench/ is one script per question plus the parts of one question (``_gpu_*`` of gpu.py, ``_scale_*`` of
    scale.py, ``_readme_*`` of readme.py) and one module of shared helpers, ``_common``: no script imports another's
    private helpers (they move to ``_common``), no two modules import each other, directly or round a longer circle,
    and no module is named like a package of ours (bench/ is first on a script's path: it would shadow the package)."""
    import ast

    modules = {path.stem: path for path in (REPO / "bench").glob("*.py")}
    assert not set(modules) & {"trainer", "search", "storage", "demodata"}, sorted(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    private = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in modules and not node.level:
                graph[name].add(node.module)
                private += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in modules}
    assert not private, private

    def question(module: str) -> str:  # gpu.py, _gpu_cases.py → gpu; _common.py → common
        return module.lstrip("_").split("_")[0] if module.startswith("_") else module

    # a part (_gpu_cases) is imported by its question's script (gpu) or that script's other parts (_gpu_epochs)
    strays = [f"{name} → {target}" for name, imported in graph.items() for target in imported
              if target != "_common" and question(target) != question(name)]  # fmt: skip
    assert not strays, f"a question's parts are its own: {strays}"

    cycles = _cycles(graph)
    assert not cycles, cycles
