"""Lazy package exports (PEP 562), so that importing a package of the trainer costs nothing until a name is used:
``dfu-search --help``, ``status`` and the query API read ``trainer``'s names without loading Keras or pandas."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) on first use and returns its ``name``."""

    def __getattr__(name: str) -> object:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
