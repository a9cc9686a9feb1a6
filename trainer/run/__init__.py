"""A training run: every fold of a config through its stages (:func:`train`), the run's summary
(``result.json``) and every visit's out-of-fold prediction (``oof.csv``)."""

from trainer._lazy import lazy_exports

_EXPORTS = {
    "OOF_FILE": "trainer.run._run",
    "RunCallbacks": "trainer.run._run",
    "out_of_fold": "trainer.run._run",
    "prediction_table": "trainer.run._run",
    "train": "trainer.run._run",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
