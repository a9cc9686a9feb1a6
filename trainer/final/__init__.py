"""The final model: what ``train --save-models`` writes per fold (:func:`save_fold`), read back
(:func:`load_final_model`) as the fold ensemble that predicts new visits."""

from trainer._lazy import lazy_exports

_EXPORTS = {
    "CONFIG_FILE": "trainer.final._final",
    "FinalModel": "trainer.final._final",
    "load_final_model": "trainer.final._final",
    "save_fold": "trainer.final._final",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
