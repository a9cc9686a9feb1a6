"""The Keras side of dfu-search: data, folds, metadata branch, models, losses, metrics, stages.

Knows nothing of Optuna. The search drives it through :func:`train` with a :class:`TrainConfig`
and an ``on_epoch`` hook. Importing this package does not import Keras or TensorFlow; only
training image modalities does.
"""

import importlib as _importlib

# Public names and the module that defines each. Loaded on first use (PEP 562), so that
# `import trainer` (and the CLI's start-up) does not pay for pandas, scikit-learn or Keras.
_EXPORTS = {
    "ConfigError": "trainer.errors",
    "DataError": "trainer.errors",
    "Dataset": "trainer.data",
    "EpochReport": "trainer.reports",
    "Fold": "trainer.folds",
    "FinalModel": "trainer.final",
    "Metadata": "trainer.data",
    "RunCallbacks": "trainer.run",
    "STAGES": "trainer.config",
    "StopStage": "trainer.reports",
    "Scores": "trainer.metrics",
    "TrainConfig": "trainer.config",
    "UserError": "trainer.errors",
    "check_data": "trainer.inputs",
    "class_alpha": "trainer.alpha",
    "gpu_devices": "trainer._backend",
    "load_config": "trainer.config",
    "load_dataset": "trainer.data",
    "load_final_model": "trainer.final",
    "patient_folds": "trainer.folds",
    "prepare": "trainer.inputs",
    "prediction_table": "trainer.run",
    "preset_names": "trainer.config",
    "read_metadata": "trainer.data",
    "score": "trainer.metrics",
    "score_visits": "trainer.metrics",
    "train": "trainer.run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(_importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")
