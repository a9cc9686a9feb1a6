"""The three-stage trainer end to end on demo data: hook semantics, determinism, learning, failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _cli import run_cli

from trainer import RunCallbacks, StopStage, load_config, train
from trainer.stages import EpochReport

# All epochs run (patience ≥ epochs), so every step of a fold is reported.
FULL_RUN = {
    "image_size": 16,
    "epochs_pretrain": 3,
    "epochs_stage1": 2,
    "epochs_stage2": 2,
    "patience_pretrain": 5,
    "patience_stage1": 5,
    "patience_stage2": 5,
    "folds": 2,
    "rf_trees": 30,
}


class Stop(Exception):
    pass


def test_steps_keep_their_meaning_when_a_stage_ends_early_and_raising_in_the_hook_stops_training(
    demo_folder: Path, cache_dir: Path
) -> None:
    # A stage the hook ends early (StopStage, as the degeneracy rules do) leaves the next stage's steps where
    # the configured maxima put them; any other exception from the hook stops training altogether.
    config = load_config("quick", overrides={**FULL_RUN, "epochs_pretrain": 6})
    reports: list[EpochReport] = []

    def hook(report: EpochReport) -> None:
        reports.append(report)
        if report.stage == "pretrain" and report.epoch == 2:
            raise StopStage("test: end pre-training at epoch 2")
        if report.stage == "stage1":
            raise Stop

    # stage_rules: what ends a stage early is part of the pre-training store's key
    with pytest.raises(Stop):
        train(demo_folder, config, cache_dir, callbacks=RunCallbacks(on_epoch=hook, stage_rules={"test": 2}))
    assert [(r.stage, r.epoch, r.step) for r in reports] == [("pretrain", 1, 0), ("pretrain", 2, 1), ("stage1", 1, 6)]

    # the process can go straight on with the next run (memory freed, no stale graph), and a full run
    # reports every epoch at consecutive global steps with the offsets of the configured maxima
    config = load_config("quick", overrides=FULL_RUN)
    reports = []
    train(demo_folder, config, cache_dir, callbacks=RunCallbacks(on_epoch=reports.append))
    per_fold = 3 + 2 + 2
    assert [r.step for r in reports] == list(range(2 * per_fold))
    expected = [("pretrain", e) for e in (1, 2, 3)] + [("stage1", e) for e in (1, 2)] + [("stage2", e) for e in (1, 2)]
    for fold in (0, 1):
        assert [(r.stage, r.epoch) for r in reports if r.fold == fold] == expected
    assert all(r.step == config.global_step(r.fold, r.stage, r.epoch) for r in reports)
    assert config.layout.offset("stage1") == 3 and config.layout.offset("stage2") == 5
    assert all(sum(r.pred_histogram) == sum(reports[0].pred_histogram) for r in reports if r.fold == 0)
    assert all(np.isfinite(r.train_qwk) and np.isfinite(r.val_loss) for r in reports)


# Determinism for a seed is tested across processes in test_query: `train --config best.toml` reproduces
# the QWK a worker measured for that trial exactly.


def _train_cli(data: Path, out: Path, cache: Path, *args: str) -> dict:
    result = run_cli("train", "--data", data, "--out", out, "--cache-dir", cache, *args, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


def test_default_recipe_learns_in_every_stage_and_beats_metadata(preset_study) -> None:
    """The quick preset's default recipe, 2 folds, as the preset study's worker trained it (its ``result.json``
    artifact is what ``train --preset quick --folds 2`` writes: test_query reproduces a trial with ``train``)."""
    from _cli import artifact_file, load

    from search.visualization import default_artifact_dir

    study = load(preset_study.url, preset_study.name)
    default = next(t for t in study.trials if t.user_attrs.get("enqueued") == "default")
    summary = json.loads(
        artifact_file(study, default, "result.json", default_artifact_dir(preset_study.url)).read_text()
    )
    assert summary["config"]["modalities"] == ["metadata", "depth_rgb", "thermal_map"]
    for fold in summary["folds"]:
        stages = fold["stages"]
        assert set(stages) == {"pretrain", "stage1", "stage2"}
        assert {"epochs_run", "best_epoch", "best_qwk", "kept", "pred_histogram"} <= set(stages["pretrain"])
        assert stages["pretrain"]["best_qwk"] > 0
        assert 0 < fold["fusion_weight"] < 1
        assert sum(1 for n in fold["pred_histogram"] if n > 0) >= 2
    assert summary["qwk"] > summary["metadata_qwk"]


def test_degenerate_preset_reproduces_the_failure(training_folder: Path, tmp_path: Path) -> None:
    summary = _train_cli(
        training_folder,
        tmp_path / "run",
        tmp_path / "cache",
        "--preset",
        "degenerate",
        "--folds",
        "3",
        "--set",
        "image_size=24",
        "--set",
        "epochs_pretrain=6",
        "--set",
        "epochs_stage1=4",
        "--set",
        "epochs_stage2=0",  # stage 2 at the preset's LR of 1e-6 moves nothing either (the preset study runs it)
    )
    pretrains = [fold["stages"]["pretrain"] for fold in summary["folds"]]
    # the oversized image branch predicts one class (≥ 95 % of the visits) in most of its epochs in every fold,
    # and what early stopping restores is no better than chance, mostly one class, in most folds. (The restored
    # epoch is the best of a noisy stage on ~95 validation visits: one fold's may reach QWK ~0.2, or spread its
    # guesses over two classes at QWK ~0.05, as fold 1 of this data does on the CI machine since 2026-12-01.)
    for pretrain in pretrains:
        assert pretrain["collapsed_epochs"] >= pretrain["epochs_run"] / 2, pretrain
    assert sorted(abs(p["best_qwk"]) for p in pretrains)[len(pretrains) // 2] <= 0.1, pretrains
    one_class = [max(p["pred_histogram"]) / sum(p["pred_histogram"]) for p in pretrains]
    assert sorted(one_class)[len(pretrains) // 2] >= 0.8, pretrains
    assert all(fold["fusion_weight"] == pytest.approx(0.7) for fold in summary["folds"])  # fixed 0.70 / 0.30 fusion
    # the fused stage 1 at LR 1e-6 hardly moves, and the fusion adds nothing over the metadata alone
    assert summary["qwk"] <= summary["metadata_qwk"] + 0.05
