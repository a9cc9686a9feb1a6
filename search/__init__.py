"""The search: an Optuna study over the trainer's knobs, its workers, and read-only queries.

Joins ``trainer`` (Keras, no Optuna) and ``storage`` (Optuna storages, no Keras). One concept a
package, each lower one knowing nothing of those above it:

- :mod:`search.pruners` — degeneracy rules, same-step comparison, fold racing, the per-trial judge;
- :mod:`search.samplers` — TPE or random;
- :mod:`search.study` — settings, search space, create/resume, retries, the stored learning curve;
- :mod:`search.query` — read-only views of a study;
- :mod:`search.visualization` — trial diagnostics and the HTML report;
- :mod:`search.workers` — a worker, the launcher that supervises local workers, stopping;
- :mod:`search.replay` — recorded curves replayed through each pruning strategy;
- :mod:`search.cli` — the ``dfu-search`` command line.

The public surface for scripts is :func:`open_study` and the replay of recorded curves
(:func:`run_replay`). Names load on first use, so ``import search`` (and ``dfu-search --help``)
stays light.
"""

from search._lazy import lazy_exports

_EXPORTS = {
    "StudyView": "search.query",
    "open_study": "search.query",
    "StudySettings": "search.study",
    "SearchSpace": "search.study",
    "DegeneracyRules": "search.pruners",
    "SameStepPruner": "search.pruners",
    "load_recording": "search.replay",
    "record_from_study": "search.replay",
    "run_replay": "search.replay",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
