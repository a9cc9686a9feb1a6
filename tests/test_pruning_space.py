"""The degeneracy rules and the search space, on their own."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from search.pruners import DegeneracyRules
from search.study import DEFAULT_KNOBS, load_space
from trainer.errors import ConfigError
from trainer.stages import EpochReport


def epochs(
    histograms, qwks=None, kappas=None, losses=None, stage="pretrain", batches=50, baseline=0.4, patience=0, fold=0
):
    n = len(histograms)
    qwks = qwks or [0.3] * n
    kappas = kappas or [0.2] * n
    losses = losses or [0.5] * n
    return [
        EpochReport(fold, stage, e + 1, e, qwks[e], kappas[e], losses[e], list(histograms[e]), batches,
                    baseline_qwk=baseline, patience=patience)
        for e in range(n)
    ]  # fmt: skip


def first_prune(rules: DegeneracyRules, history: list[EpochReport]) -> tuple[str, int] | None:
    for i in range(len(history)):
        verdict = rules.check(history[: i + 1])
        if verdict:
            return verdict.rule, history[i].epoch
    return None


def test_collapse_from_epoch_1_is_pruned_by_epoch_3() -> None:
    collapsed = epochs([[0, 0, 60]] * 8, qwks=[0.0] * 8, kappas=[0.0] * 8)
    assert first_prune(DegeneracyRules(), collapsed) == ("collapsed", 3)


def test_a_learning_stage_is_not_pruned() -> None:
    learning = epochs(
        [[30, 20, 10], [25, 25, 10], [20, 30, 10], [20, 28, 12], [21, 27, 12]], qwks=[0.2, 0.3, 0.35, 0.4, 0.41]
    )
    assert first_prune(DegeneracyRules(), learning) is None


def test_slow_start_inside_warmup_is_tolerated() -> None:
    slow = epochs([[0, 60, 0], [10, 45, 5], [20, 30, 10], [20, 30, 10]], qwks=[0.0, 0.1, 0.25, 0.3])
    assert first_prune(DegeneracyRules(), slow) is None


def test_warmup_covers_a_minimum_of_optimizer_steps_on_small_data() -> None:
    # 12 steps an epoch: the 40-step warm-up lasts 4 epochs, where a healthy model may still predict the prior
    prior_then_learning = epochs([[0, 60, 0]] * 4 + [[20, 30, 10]] * 2, qwks=[0, 0, 0.01, 0.05, 0.3, 0.35], batches=12)
    assert first_prune(DegeneracyRules(), prior_then_learning) is None
    stuck = epochs([[0, 60, 0]] * 7, qwks=[0, 0, 0.01, 0.02, 0.01, 0.02, 0.01], kappas=[0.0] * 7, batches=12)
    assert first_prune(DegeneracyRules(), stuck) == ("collapsed", 6)


def test_kappa_at_or_below_zero_after_warmup() -> None:
    history = epochs([[20, 20, 20]] * 5, kappas=[0.1, -0.05, 0.0, -0.02, 0.1], qwks=[0.1, 0.05, 0.2, 0.1, 0.3])
    assert first_prune(DegeneracyRules(), history) == ("kappa_nonpositive", 3)


def test_stalled_means_flat_and_poor_or_flat_past_its_patience() -> None:
    # flat at or below the fold's metadata-only QWK: fusion adds nothing, early stopping heads for epoch 1
    poor = epochs([[20, 30, 10]] * 6, qwks=[0.41] * 6, stage="stage1", baseline=0.45)
    assert first_prune(DegeneracyRules(), poor) == ("stalled", 3)
    falling = epochs([[20, 30, 10]] * 4, qwks=[0.3, 0.2, 0.25, 0.1], stage="stage1", baseline=0.45)
    assert first_prune(DegeneracyRules(), falling) == ("stalled", 3)
    improving_once = epochs([[20, 30, 10]] * 4, qwks=[0.3, 0.32, 0.25, 0.1], stage="stage1", baseline=0.45)
    assert first_prune(DegeneracyRules(), improving_once) is None
    # flat but good (QWK 0.55, 0.55, 0.549 over a 0.45 baseline) is left to early stopping: no false alarm
    good = epochs([[20, 30, 10]] * 3, qwks=[0.55, 0.55, 0.549], stage="stage1", baseline=0.45)
    assert first_prune(DegeneracyRules(), good) is None
    # ... unless it outlives its patience without beating epoch 1
    outlived = epochs([[20, 30, 10]] * 6, qwks=[0.55] * 6, stage="stage1", baseline=0.45, patience=3)
    assert first_prune(DegeneracyRules(), outlived) == ("stalled", 4)
    # pre-training alone is judged against "no signal", not against the metadata
    flat_image = epochs([[20, 30, 10]] * 4, qwks=[0.2, 0.2, 0.19, 0.2], baseline=0.45)
    assert first_prune(DegeneracyRules(), flat_image) is None
    assert first_prune(DegeneracyRules(), epochs([[20, 30, 10]] * 4, qwks=[0.03] * 4)) == ("stalled", 3)
    # stage 2 often peaks at epoch 1 and is then simply not kept: not a rule there by default
    assert first_prune(DegeneracyRules(), epochs([[20, 30, 10]] * 6, qwks=[0.41] * 6, stage="stage2")) is None


def test_only_a_broken_fusion_stage_ends_the_trial() -> None:
    def verdict(stage: str, fold: int = 0):
        collapsed = epochs([[0, 0, 60]] * 4, qwks=[0.0] * 4, kappas=[0.0] * 4, stage=stage, fold=fold)
        return next(v for v in (DegeneracyRules().check(collapsed[: i + 1]) for i in range(4)) if v)

    assert verdict("stage1").rule == "collapsed" and not verdict("stage1").stage_only
    # a collapsed image pre-training or stage 2 ends that stage; the fusion (or stage 1) carries on
    assert verdict("pretrain").stage_only and verdict("stage2").stage_only
    # after a first fold, a broken stage 1 is that fold's mishap: fine-tuning may mend it (data seed 6, trial 27)
    assert verdict("stage1", fold=1).rule == "collapsed" and verdict("stage1", fold=1).stage_only
    assert (
        not DegeneracyRules(trial_folds=2)
        .check(epochs([[0, 0, 60]] * 3, qwks=[0.0] * 3, kappas=[0.0] * 3, stage="stage1", fold=1))
        .stage_only
    )
    flat = epochs([[20, 30, 10]] * 3, qwks=[0.3] * 3, stage="stage1", baseline=0.45)
    assert DegeneracyRules().check(flat).rule == "stalled" and DegeneracyRules().check(flat).stage_only


def test_warmup_never_outlasts_the_stage_patience() -> None:
    # 12 steps an epoch would ask for a 4-epoch warm-up, but with patience 4 early stopping ends a stage that
    # is collapsed from epoch 1 after epoch 5: the rule must fire by then
    stuck = epochs([[0, 60, 0]] * 5, qwks=[0.0] * 5, kappas=[0.0] * 5, batches=12, patience=4)
    assert first_prune(DegeneracyRules(), stuck) == ("collapsed", 5)
    assert DegeneracyRules().warmup(stuck[0]) == 3


def test_nan_loss_prunes_at_once_and_rules_can_be_disabled() -> None:
    history = epochs([[20, 30, 10]] * 2, losses=[0.5, math.nan])
    assert first_prune(DegeneracyRules(), history) == ("nan_loss", 2)
    assert first_prune(DegeneracyRules(enabled=False), history) is None


def test_default_space_and_a_space_file(tmp_path: Path) -> None:
    assert [k.name for k in DEFAULT_KNOBS] == ["alpha_cap", "lr_pretrain", "lr_stage1", "lr_stage2", "fusion_init"]
    path = tmp_path / "space.toml"
    path.write_text(
        "lr_stage2 = 1e-4\n[alpha_cap]\nlow = 2\nhigh = 4\n[gamma]\nchoices = [0.0, 2.0]\n[batch_size]\nlow = 16\nhigh = 64\nstep = 16\n"
    )
    space = load_space(path)
    assert space.fixed == {"lr_stage2": 1e-4}
    assert "lr_stage2" not in space.names and {"gamma", "batch_size"} <= set(space.names)
    assert (space.knob("alpha_cap").low, space.knob("alpha_cap").high) == (2.0, 4.0)
    assert space.knob("lr_pretrain").choices == (1e-5, 1e-4, 1e-3)  # untouched defaults stay
    restored = type(space).from_dict(space.to_dict())
    assert restored == space


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[colour]\nlow = 1\nhigh = 2\n", "unknown trainer setting 'colour'"),
        ("[alpha_cap]\nlow = 5\nhigh = 2\n", "needs low <= high"),
        ("[alpha_cap]\nmin = 1\n", "unknown key"),
        ("[lr_stage1]\nlow = 0\n", "log range needs low > 0"),
    ],
)
def test_bad_space_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_space(path)


def test_augmentation_and_precision_are_searchable_through_a_space_file(tmp_path: Path) -> None:
    import optuna

    from trainer.config import apply, load_config

    path = tmp_path / "space.toml"
    path.write_text('precision = "mixed"\n[augment]\nchoices = ["none", "light", "strong"]\n'
                    "[aug_rotation]\nlow = 0.0\nhigh = 0.3\n")  # fmt: skip
    space = load_space(path)
    base = load_config("quick")
    space.check(base, "--space")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        config = apply(base, {**space.fixed, **space.sample(trial)}, "trial")
        assert config.precision == "mixed"
        assert config.augmentation()["aug_rotation"] == trial.params["aug_rotation"]  # beats the level's
        seen.add(config.augment)
    assert seen == {"none", "light", "strong"}
    path.write_text("[aug_zoom]\nlow = 0.1\nhigh = 1.5\n")  # a draw above 1 would fail inside a trial
    with pytest.raises(ConfigError, match=r"\[aug_zoom\].*aug_zoom must lie in \[0, 1\)"):
        load_space(path).check(base, "--space")


def test_a_config_written_as_toml_reads_back_equal(tmp_path: Path) -> None:
    """``to_toml`` round-trips every value, strings TOML must escape included (a newline, quotes, a backslash)."""
    from trainer.config import apply, load_config

    tricky = tmp_path / 'a "quoted" \\ name\non two lines.weights.h5'  # a weights file TOML must escape
    tricky.write_bytes(b"")
    config = apply(load_config("quick"), {"backbone": "efficientnetb0", "weights": str(tricky), "modalities": ["metadata", "depth_rgb"], "alpha_cap": "none",
                                          "jit_compile": True, "lr_stage1": 3.5e-05}, "test")  # fmt: skip
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    assert load_config(None, path, []) == config


def test_the_default_space_shares_pretraining_and_a_range_is_called_out(tmp_path: Path) -> None:
    """lr_pretrain takes a few values by default, so trials share stored pre-trainings; a space file that makes a
    pre-training knob a range gets a note from launch, since then no two trials share one."""
    from search.workers._launch import _sharing_notes

    assert load_space(None).knob("lr_pretrain").choices == (1e-5, 1e-4, 1e-3)
    assert _sharing_notes(load_space(None)) == []
    ranged = tmp_path / "space.toml"
    ranged.write_text("[lr_pretrain]\nlow = 1e-5\nhigh = 1e-3\nlog = true\n\n[batch_size]\nchoices = [8, 16]\n")
    (note,) = _sharing_notes(load_space(ranged))
    assert "lr_pretrain is sampled from a range" in note and "batch_size" not in note


def test_images_that_add_nothing_end_the_trial_at_stage_1s_second_epoch() -> None:
    """The research's failure whole — a pre-training that ended predicting one class, then a fused stage 1 that
    does not move and is no better than the fold's metadata-only QWK — ends the trial at stage 1's second epoch;
    each half alone does not, nor a stage 1 at the RF's level that is learning."""
    from dataclasses import replace

    from search.pruners import RuleWatch, Verdict

    nothing = epochs([[0, 95, 0]] * 3, qwks=[0.0] * 3, kappas=[0.0] * 3)
    ends_collapsed = epochs([[10, 75, 10], [0, 95, 0], [0, 95, 0]], qwks=[0.1, 0.0, 0.0], kappas=[0.05, 0.0, 0.0])
    learned = epochs([[0, 95, 0], [10, 75, 10], [15, 65, 15]], qwks=[0.0, 0.1, 0.15], kappas=[0.0, 0.06, 0.1])
    still = epochs([[30, 50, 15]] * 2, qwks=[0.41, 0.41], stage="stage1", baseline=0.40)  # within 0.02 of the RF
    moving = epochs([[30, 50, 15], [36, 44, 15]], qwks=[0.40, 0.40], stage="stage1", baseline=0.40)
    above = epochs([[30, 50, 15]] * 2, qwks=[0.43, 0.43], stage="stage1", baseline=0.40)

    def verdicts(pretrain, stage1):
        watch = RuleWatch(DegeneracyRules(collapse_epochs=2, kappa_epochs=9, stall_stages=(), warmup_epochs=9))
        return [watch(r) for r in [*pretrain, *stage1]]

    for pretrain in (nothing, ends_collapsed):
        ended = verdicts(pretrain, still)
        assert ended[:4] == [None] * 4 and ended[4].rule == "images_add_nothing" and not ended[4].stage_only
    # in any fold: a fold where the fixed RF weight carries the fusion above the RF alone hides it, the next may not
    later = [replace(r, fold=1) for r in (*nothing, *still)]
    assert verdicts(later[:3], later[3:])[-1] == Verdict("images_add_nothing", stage_only=False)
    # the degenerate trial of a live run on data seed 0 (bench/pruning.py live) that escaped kappa ≤ 0: a pre-training that
    # ends at 99 % and 100 % one class with kappa 0.0096 and 0, a stage 1 that moves 2 of 298 visits, 0.011 above the RF
    live_pretrain = epochs([[0, 283, 15], [0, 0, 298], [0, 289, 9], [0, 295, 3], [0, 298, 0]],
                           qwks=[0.075, 0.0, 0.050, 0.008, 0.0], kappas=[0.046, 0.0, -0.009, 0.0096, 0.0])  # fmt: skip
    live_stage1 = epochs([[129, 117, 52], [127, 119, 52]], qwks=[0.358, 0.362], stage="stage1", baseline=0.351)
    assert verdicts(live_pretrain, live_stage1)[-1].rule == "images_add_nothing"
    assert verdicts(learned, still) == [None] * 5  # the images learned something: stage 1 may yet use it
    assert verdicts(nothing, moving) == [None] * 5  # stage 1 is learning, from the RF's level
    assert verdicts(nothing, above) == [None] * 5  # fusion already beats the RF alone
    assert DegeneracyRules(enabled=False).check(still, nothing) is None


def test_predictions_moved_by_batchnorm_alone_are_not_learning() -> None:
    """make demo's degenerate trial (LR 1e-6): BatchNorm's moving statistics, which are not trained, catch up in
    stage 1 and move its predictions (0.50 → 0.52 → 0.57 there, 1.6e-4 relative weight change by epoch 2). Weights
    that training has not moved end it at stage 1's second epoch; the same predictions with weights that moved
    (a learning stage 1, LR 1e-4: 1.4e-2) do not, nor reports that carry no weight change (recorded tables). Where
    reports carry it, the weights decide, also when the predictions are still."""
    from dataclasses import replace

    from search.pruners import RuleWatch

    nothing = epochs([[0, 95, 0]] * 3, qwks=[0.0] * 3, kappas=[0.0] * 3)
    moved = epochs([[23, 63, 10], [29, 57, 10]], qwks=[0.36, 0.42], stage="stage1", baseline=0.533)

    def verdicts(stage1):
        watch = RuleWatch(DegeneracyRules(collapse_epochs=2, kappa_epochs=9, stall_stages=(), warmup_epochs=9))
        return [watch(r) for r in [*nothing, *stage1]]

    unmoved_weights = [replace(r, weight_change=8.9e-5 * r.epoch) for r in moved]
    assert verdicts(unmoved_weights)[-1].rule == "images_add_nothing"
    learning = [replace(r, weight_change=7e-3 * r.epoch) for r in moved]
    assert verdicts(learning) == [None] * 5
    assert verdicts(moved) == [None] * 5
    # and the other way round: a fresh clone's make demo, trial 5 (LR 6.9e-4): fold 0 finished at 0.606 (the best
    # trial's 0.612, the RF alone 0.533); fold 1's pre-training ended one class and its stage 1 moved 2 of 95 visits by
    # epoch 2 (0.442 → 0.431, the RF alone 0.471) with its weights 4 % moved: learning, not yet visible. Its predictions
    # are still, its weights are not: not ended (the predictions alone ended it until 2026-12-07).
    slow = epochs([[35, 49, 11], [33, 50, 12]], qwks=[0.442, 0.431], stage="stage1", baseline=0.471)
    assert verdicts(slow)[-1].rule == "images_add_nothing"  # without weight_change: the predictions decide
    assert verdicts([replace(r, weight_change=0.02 * r.epoch) for r in slow]) == [None] * 5
