"""The search: an Optuna study over the trainer's knobs, its workers, and read-only queries.

Joins ``trainer`` (Keras, no Optuna) and ``storage`` (Optuna storages, no Keras). The public
surface for scripts is :func:`open_study` and the replay of recorded curves (:func:`run_replay`); the rest is the ``dfu-search`` command line. Names load
on first use, so ``import search`` (and ``dfu-search --help``) stays light.
"""

import importlib as _importlib

_EXPORTS = {
    "StudyView": "search.query",
    "open_study": "search.query",
    "StudySettings": "search.settings",
    "SearchSpace": "search.space",
    "DegeneracyRules": "search.pruning",
    "SameStepPruner": "search.racing",
    "load_recording": "search.replay",
    "record_from_study": "search.replay",
    "run_replay": "search.replay",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(_importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
