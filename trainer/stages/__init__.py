"""The three stages and one fold through them: image pre-training, fusion with the backbone frozen, fine-tuning
(:func:`run_stage`, one Keras ``fit`` each, reporting every epoch), :func:`train_fold` running a fold's stages,
and the pre-training store that lets a fold skip a pre-training trained before."""

from trainer._lazy import lazy_exports

_EXPORTS = {
    "EpochReport": "trainer.stages._reports",
    "StopStage": "trainer.stages._reports",
    "Split": "trainer.stages._stage",
    "StagePlan": "trainer.stages._stage",
    "StageResult": "trainer.stages._stage",
    "predict_visits": "trainer.stages._stage",
    "run_stage": "trainer.stages._stage",
    "visit_rows": "trainer.stages._stage",
    "FoldResult": "trainer.stages._fold",
    "PretrainReuse": "trainer.stages._fold",
    "train_fold": "trainer.stages._fold",
    "FOLDER": "trainer.stages._store",
    "PRETRAIN_FIELDS": "trainer.stages._store",
    "PretrainStore": "trainer.stages._store",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
