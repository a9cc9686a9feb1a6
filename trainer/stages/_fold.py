"""One fold of the three-stage trainer, top to bottom (docs/design.md, the trainer).

metadata branch (cached RF probabilities) → stage 0 ``pretrain`` (image-only, alpha equal by
default) → stage 1 ``stage1`` (fusion, backbones frozen) → stage 2 ``stage2`` (top of the
backbones unfrozen, BatchNorm frozen; kept only if it beats stage 1).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainer.config import STAGES, TrainConfig
from trainer.data import Dataset, Fold
from trainer.model import MetadataProbabilities, Scores, cached_fold_probabilities, class_alpha, score
from trainer.schema import METADATA
from trainer.stages._store import PretrainStore, data_digest

# Keras-dependent modules load lazily: a metadata-only run never imports TensorFlow.


@dataclass
class FoldResult:
    fold: int
    scores: Scores
    metadata_scores: Scores
    #: The out-of-fold predictions: the validation visits (positions in the metadata) and the final model's
    #: probabilities for each (rows in the same order). A study keeps them to correct its best score for the
    #: selection (search.query's selection estimate); ``train`` writes them to ``oof.csv``.
    val_visits: np.ndarray
    val_probabilities: np.ndarray
    fusion_weight: float | None = None
    stages: dict = field(default_factory=dict)  # name → StageResult

    @property
    def n_val_visits(self) -> int:
        return len(self.val_visits)

    def summary(self) -> dict:
        return {
            "fold": self.fold,
            **self.scores.as_dict(),
            "n_val_visits": self.n_val_visits,
            "metadata_qwk": self.metadata_scores.qwk,
            "fusion_weight": self.fusion_weight,
            "stages": {name: stage.summary() for name, stage in self.stages.items()},
        }


def train_fold(
    dataset: Dataset,
    images: dict[str, np.ndarray],
    fold: Fold,
    config: TrainConfig,
    cache_dir: Path,
    on_epoch=None,
    on_model: Callable[[Fold, object], None] | None = None,
    reuse: PretrainReuse | None = None,
) -> FoldResult:
    """Train and validate one fold; ``on_epoch`` may raise to stop it.

    ``on_model(fold, network)``: called with the fold's final network (None: a metadata-only run) once it is
    trained, before the fold's result is returned (``train --save-models`` saves it).

    ``reuse``: take pre-training from the store when it holds this fold's, and store it when it does not.
    """
    metadata = dataset.metadata
    # The RF always runs (cached): it is the metadata-only baseline on this very fold, and the
    # network's RF input when "metadata" is one of the modalities.
    rf = cached_fold_probabilities(metadata, fold, config.rf_settings, cache_dir)
    metadata_scores = score(metadata.labels[fold.val], rf.val.argmax(axis=1))
    if not dataset.image_modalities:
        if on_model is not None:
            on_model(fold, None)
        return FoldResult(fold.index, metadata_scores, metadata_scores, fold.val, rf.val)
    if METADATA not in dataset.modalities:
        rf = None

    from trainer import _backend

    # Seeds and the dtype policy, per fold; Keras' session is not cleared: the compiled models are kept
    # for the next fold and trial (trainer.model.start_fold).
    _backend.configure(config.seed + fold.index, config.precision, config.deterministic, config.jit_compile)
    return _train_networks(dataset, images, fold, config, rf, metadata_scores, on_epoch, on_model, reuse)


def _train_networks(dataset, images, fold, config, rf, metadata_scores, on_epoch, on_model, reuse) -> FoldResult:
    from trainer import _backend
    from trainer.model import (
        build_image_branches,
        build_pretrain_model,
        freeze_backbones,
        fusion_weight,
        start_fold,
        unfreeze_top,
    )
    from trainer.stages._stage import predict_visits

    train, val = _split(dataset, images, fold, rf)

    # The kept compiled models of this graph, with every starting value a fresh build gives (nothing
    # traced); they do the training.
    def build():
        branches = build_image_branches(config, dataset.image_modalities)
        return branches, build_pretrain_model(branches)

    compiled = start_fold(config, dataset.image_modalities, rf is not None, build)
    branches = compiled.branches

    plan = functools.partial(_plan, config, fold.index, train.labels, metadata_scores.qwk)

    # Every stage starts from its own seed, so a stored pre-training (skipped here) changes no random
    # stream of the stages after it: a store hit gives what a miss gives.
    stages = {}
    model = compiled.pretrain
    if config.epochs_pretrain > 0:
        _backend.reseed(stage_seed(config, fold.index, "pretrain"))
        pretrain_plan = plan("pretrain", config.pretrain_alpha)
        stages["pretrain"] = _pretrain(model, pretrain_plan, train, val, on_epoch, reuse, config, fold, dataset, images)

    if rf is not None:
        _backend.reseed(stage_seed(config, fold.index, "stage1"))
        compiled.start_fusion(config)
        model = compiled.fusion
        freeze_backbones(branches)
        if config.epochs_stage1 > 0:
            stages["stage1"] = _fusion_stage(model, plan("stage1", config.alpha_cap), train, val, on_epoch)
        if config.epochs_stage2 > 0 and config.unfreeze_fraction > 0:
            _backend.reseed(stage_seed(config, fold.index, "stage2"))
            before = model.get_weights()
            unfreeze_top(branches, config.unfreeze_fraction)
            stage2 = _fusion_stage(compiled.fine_tune, plan("stage2", config.alpha_cap), train, val, on_epoch)
            baseline = stages["stage1"].best_qwk if "stage1" in stages else float("-inf")
            stage2.kept = stage2.best_qwk > baseline
            if not stage2.kept:
                model.set_weights(before)
            stages["stage2"] = stage2
            # Back to stage 1's trainable set, the one the fusion model's predict step was traced with.
            freeze_backbones(branches)

    probabilities = predict_visits(model, val)
    if on_model is not None:
        on_model(fold, model)
    return FoldResult(
        fold.index,
        score(val.visit_labels, probabilities.argmax(axis=1)),
        metadata_scores,
        fold.val,
        probabilities,
        fusion_weight(model) if rf is not None else None,
        stages,
    )


@dataclass(frozen=True)
class PretrainReuse:
    """Pre-training shared through a store: where it lives, and what the ``on_epoch`` hook may do to a stage
    (the degeneracy rules that can end it early change what a pre-training is, so they are part of the key)."""

    store: PretrainStore
    stage_rules: dict | None = None


def stage_seed(config: TrainConfig, fold: int, stage: str) -> int:
    """The seed every generator takes at the start of ``stage`` in ``fold``."""
    return config.seed * 1000 + fold * 10 + STAGES.index(stage) + 1


def _plan(config: TrainConfig, fold: int, labels: np.ndarray, baseline_qwk: float, stage: str, alpha_spec):
    """One stage's settings: its LR, epochs and patience, and the fold's alpha from its training labels."""
    from trainer.stages._stage import StagePlan

    return StagePlan(
        name=stage,
        lr=getattr(config, f"lr_{stage}"),
        epochs=config.epochs(stage),
        patience=getattr(config, f"patience_{stage}"),
        alpha=class_alpha(labels, alpha_spec),
        gamma=config.gamma,
        batch_size=config.batch_size,
        lr_reduce_factor=config.lr_reduce_factor,
        lr_reduce_patience=config.lr_reduce_patience,
        fold=fold,
        first_step=config.global_step(fold, stage, 1),
        baseline_qwk=baseline_qwk,
        jit_compile=config.jit_compile,
    )


def _fusion_stage(model, plan, train, val, on_epoch):
    """A fusion stage, with the RF weight it started from and the one it restored (None for concatenation)."""
    from trainer.model import fusion_weight
    from trainer.stages._stage import run_stage

    start = fusion_weight(model)
    result = run_stage(model, plan, train, val, on_epoch)
    if start is not None:
        result.fusion_weight = [start, fusion_weight(model)]
    return result


def _pretrain(model, plan, train, val, on_epoch, reuse, config, fold, dataset, images):
    """Image pre-training: trained here, or loaded from the store and its epochs reported again (marked cached)."""
    from trainer import _backend
    from trainer.stages._stage import load_stage, replay_reports, run_stage, save_stage

    if reuse is None:
        return run_stage(model, plan, train, val, on_epoch)
    resolved = {
        "modalities": list(dataset.modalities),
        **_backend.resolved_settings(model, config.precision, config.deterministic, config.jit_compile),
    }
    digest = data_digest(dataset, images, fold.train, fold.val)
    key = reuse.store.key(config, fold.index, digest, reuse.stage_rules, resolved)
    result, cached = reuse.store.train_or_load(
        key,
        train=lambda: run_stage(model, plan, train, val, on_epoch),
        save=lambda folder, stage: save_stage(folder, model, stage),
        load=lambda folder: load_stage(folder, model, plan),
        describe=f"{config.backbone}@{config.image_size} lr_pretrain={config.lr_pretrain:g} fold {fold.index}",
    )
    if cached:
        replay_reports(result, on_epoch)
    return result


def _split(dataset: Dataset, images: dict[str, np.ndarray], fold: Fold, rf: MetadataProbabilities | None):
    """Image rows of the fold's training and validation visits, with each row's RF probabilities."""
    from trainer.stages._stage import visit_rows

    return (
        visit_rows(dataset, images, fold.train, rf.train if rf is not None else None),
        visit_rows(dataset, images, fold.val, rf.val if rf is not None else None),
    )
