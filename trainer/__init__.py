"""The Keras side of dfu-search: the classifier, its three-stage training per fold, and the final model.

Knows nothing of Optuna. The search drives it through :func:`train` with a :class:`TrainConfig` and an
``on_epoch`` hook. One concept a package, each lower one knowing nothing of those above it:

- :mod:`trainer.config` — :class:`TrainConfig`, every knob named; presets, TOML, ``key=value`` overrides;
- :mod:`trainer.data` — the visits: metadata, images (cropped, cached), patient-grouped folds, fingerprints;
- :mod:`trainer.model` — the image branches, the fusion network, the RandomForest over metadata, the focal
  loss, the scores, and the compile-once cache;
- :mod:`trainer.stages` — pre-training, fusion, fine-tuning; one fold through them; the pre-training store;
- :mod:`trainer.final` — the fold models a run saves, read back to predict new visits;
- :mod:`trainer.run` — every fold of a config, the run's summary and out-of-fold predictions.

Below them: :mod:`trainer.errors` (the errors a user sees as one line), :mod:`trainer.schema` (column names,
classes, modalities), and the private backend set-up and file helpers. Other packages import the names below
(or a package's exports); they load on first use (PEP 562), so ``import trainer`` (and the CLI's start-up)
does not pay for pandas, scikit-learn or Keras.
"""

from trainer._lazy import lazy_exports

_EXPORTS = {
    "ConfigError": "trainer.errors",
    "DataError": "trainer.errors",
    "UserError": "trainer.errors",
    "STAGES": "trainer.config",
    "TrainConfig": "trainer.config",
    "load_config": "trainer.config",
    "preset_names": "trainer.config",
    "Dataset": "trainer.data",
    "Fold": "trainer.data",
    "Metadata": "trainer.data",
    "check_data": "trainer.data",
    "load_dataset": "trainer.data",
    "patient_folds": "trainer.data",
    "prepare": "trainer.data",
    "read_metadata": "trainer.data",
    "Scores": "trainer.model",
    "class_alpha": "trainer.model",
    "score": "trainer.model",
    "score_visits": "trainer.model",
    "EpochReport": "trainer.stages",
    "StopStage": "trainer.stages",
    "FinalModel": "trainer.final",
    "load_final_model": "trainer.final",
    "RunCallbacks": "trainer.run",
    "prediction_table": "trainer.run",
    "train": "trainer.run",
    "default_cache_dir": "trainer._files",
    "write_atomically": "trainer._files",
    "gpu_devices": "trainer._backend",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
