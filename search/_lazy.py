"""Lazy package exports (PEP 562): every package of ``search`` exports its public names this way, so importing a
package costs nothing until a name is used (``dfu-search --help`` loads neither Optuna nor Keras)."""

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
