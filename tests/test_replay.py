"""Pruning strategies judged by replaying recorded curves; the fold-aware pruner; enqueued presets pin every knob."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from _cli import run_cli

from search.pruners import DEFAULT_PRUNER, SameStepPruner
from search.replay import RecordedTrial, Recording, load_recording, run_replay, write_outputs
from trainer.config import StepLayout

LAYOUT = (4, 4, 2)  # pretrain, stage1, stage2 epochs: 10 steps a fold
OFFSETS = {"pretrain": 0, "stage1": 4, "stage2": 8}


def _curve(quality: float, degenerate: bool, rng: np.random.Generator) -> tuple[list[list], list[float]]:
    """Three folds of rows as search.study._curves writes them; a degenerate trial predicts one class from pre-training
    through the fused model of stage 1."""
    rows, folds = [], []
    for fold in range(3):
        for stage, epochs in zip(OFFSETS, LAYOUT):
            for epoch in range(1, epochs + 1):
                if degenerate and stage in ("pretrain", "stage1"):
                    qwk, kappa, histogram = 0.0, 0.0, [0, 60, 0]
                else:
                    qwk = quality * (0.6 + 0.4 * epoch / epochs) + rng.normal(0, 0.01)
                    kappa, histogram = qwk * 0.8, [18, 30, 12]
                step = fold * sum(LAYOUT) + OFFSETS[stage] + epoch - 1
                rows.append([step, fold, stage, epoch, qwk, kappa, 0.5, histogram, None, None, 0.35, 10, 3])
        folds.append(0.05 if degenerate else quality + rng.normal(0, 0.02))
    return rows, folds


@pytest.fixture(scope="module")
def recording() -> Recording:
    rng = np.random.default_rng(0)
    trials = []
    for number in range(20):
        degenerate = number % 4 == 0
        quality = rng.uniform(0.2, 0.55)
        curve, folds = _curve(quality, degenerate, rng)
        params = {"alpha_cap": quality, "lr_pretrain": 1e-5 * (number + 1)}  # no two share a pre-training
        trials.append(RecordedTrial(number, float(np.mean(folds)), folds, curve, params))
    return Recording("fabricated", list(LAYOUT), 3, trials)


def test_replay_measures_every_strategy_against_none_and_the_oracle(recording: Recording, tmp_path: Path) -> None:
    strategies = ["none", "rules", "median", "hyperband", "wilcoxon", "forgiving", "ours", "running-mean", "near-best"]
    document = run_replay(recording, strategies, orderings=12, seed=1)
    rows = document["strategies"]
    total = sum(t.epochs for t in recording.trials)
    assert rows["none"]["epochs_mean"] == total and rows["none"]["false_prune_rate"] == 0
    # the rules alone stop exactly the five degenerate trials, in pre-training, and nothing good
    assert rows["rules"]["pruned_per_ordering"] == 5 and rows["rules"]["false_prune_rate"] == 0
    assert rows["rules"]["p_best_within_001"] == 1
    oracle = document["oracle"]
    for name in strategies:
        row = rows[name]
        assert oracle["epochs_mean"] <= row["epochs_mean"] <= total
        assert row["speedup_vs_none"] == pytest.approx(total / row["epochs_mean"])
        assert 0 <= row["p_best_within_001"] <= 1 and row["epochs_p05"] <= row["epochs_mean"] <= row["epochs_p95"]
        # an ordering that keeps the best within 0.01 keeps it within 0.02; the shortfall is 0 where it ran the best
        assert (
            row["p_best_within_001"] <= row["p_best_within_002"] and 0 <= row["shortfall_p50"] <= row["shortfall_p95"]
        )
    assert rows["none"]["shortfall_p95"] == 0 == oracle["shortfall_p95"] and rows["none"]["p_best_within_002"] == 1
    for name in ("ours", "running-mean", "near-best"):  # racing and the same-step test add savings to the rules'
        assert rows[name]["epochs_mean"] < rows["rules"]["epochs_mean"]
    # the oracle that must first reach fold 0's first fusion epoch pays at least that much for every trial
    at_fusion = document["oracle_at_fusion"]
    assert oracle["epochs_mean"] < at_fusion["epochs_mean"] <= total and at_fusion["p_best_within_001"] == 1

    path = write_outputs(document, tmp_path / "out")
    written = json.loads(path.read_text())
    assert set(written["strategies"]["ours"]) >= {
        "epochs_mean", "epochs_p05", "epochs_p95", "speedup_vs_none", "speedup_vs_median",
        "p_best_within_001", "ert_within_001", "ert_within_002", "ert_001_vs_oracle_at_fusion", "false_prune_rate",
    }  # fmt: skip
    # the oracle at fusion keeps the best in every ordering, so its ERT is its mean epochs to it: a strategy's
    # ratio to it is >= 1 wherever the strategy keeps the best less often or later
    assert document["oracle_at_fusion"]["ert_001_vs_oracle_at_fusion"] == 1
    assert {"study", "trials", "orderings", "strategies", "oracle"} <= set(written)
    assert (tmp_path / "out" / "anytime.png").stat().st_size > 10_000


def test_with_the_store_each_pretraining_is_paid_once(recording: Recording) -> None:
    """Trials on two pre-training settings: with the store, after the first trial of each setting every
    pre-training is free (its epochs still reported); without it, replay is as before. Stock median without
    the store stands beside every strategy as the reference."""
    from dataclasses import replace

    shared = replace(recording, trials=[replace(t, params={**t.params, "lr_pretrain": [1e-4, 1e-3][t.number % 2]})
                                        for t in recording.trials])  # fmt: skip
    total = sum(t.epochs for t in shared.trials)
    pretrain_rows = 3 * LAYOUT[0]  # every recorded trial pre-trains 3 folds of 4 epochs
    stored = run_replay(shared, ["none", "ours"], orderings=6, seed=2)
    assert stored["store"] and stored["default"] == DEFAULT_PRUNER
    assert stored["strategies"]["none"]["epochs_mean"] == total - (len(shared.trials) - 2) * pretrain_rows
    plain = run_replay(shared, ["none", "ours"], orderings=6, seed=2, store=False)
    assert plain["strategies"]["none"]["epochs_mean"] == total and plain["reference"] == {}
    assert stored["oracle"]["epochs_mean"] < plain["oracle"]["epochs_mean"]
    reference = stored["reference"]["median_no_store"]
    assert stored["strategies"]["ours"]["fewer_epochs_vs_median_no_store"] == pytest.approx(
        reference["epochs_mean"] / stored["strategies"]["ours"]["epochs_mean"]
    )


def test_curves_file_round_trip_and_the_cli(recording: Recording, tmp_path: Path) -> None:
    curves = tmp_path / "curves.json.gz"
    recording.save(curves)
    assert load_recording(curves) == recording
    result = run_cli(
        "replay", "--curves", curves, "--strategies", "none,ours", "--orderings", "5", "--out", tmp_path / "r"
    )
    assert result.returncode == 0, result.stderr
    assert "ours" in result.stdout and "oracle" in result.stdout
    assert set(json.loads((tmp_path / "r" / "replay.json").read_text())["strategies"]) == {"none", "ours", "median"}
    bad = run_cli("replay", "--curves", tmp_path / "nothing.json.gz", "--out", tmp_path / "r2")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error:")
    assert "Traceback" not in bad.stderr and not (tmp_path / "r2").exists()


def _trial_with(study: optuna.Study, values: dict[int, float], pruned: bool = False) -> None:
    trial = study.ask()
    for step, value in values.items():
        trial.report(value, step)
    if pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, float(np.mean(list(values.values()))))


def test_an_early_peak_does_not_shield_a_trial_in_later_folds() -> None:
    """MedianPruner compares the best value over all steps so far; SameStepPruner compares like with like."""
    layout = StepLayout(LAYOUT)
    stage1 = [f * 10 + 4 + e for f in range(2) for e in range(3)]  # stage 1 steps of folds 0 and 1
    for pruner, expected in ((optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2), False),
                             (SameStepPruner(layout), True)):  # fmt: skip
        study = optuna.create_study(direction="maximize", pruner=pruner)
        for _ in range(6):
            _trial_with(study, {s: 0.45 for s in stage1})
        trial = study.ask()
        for s in stage1[:3]:
            trial.report(0.6, s)  # a peak in fold 0 ...
        for s in stage1[3:5]:
            trial.report(0.2, s)  # ... and a poor fold 1
        assert bool(trial.should_prune()) == expected


def test_per_fold_a_fine_tuning_that_starts_lower_is_not_held_against_the_trial() -> None:
    """A fold reports its best epoch (early stopping restores it), so ``per="fold"`` judges the best over the
    fold's fusion stages so far; ``per="stage"`` (v1) judged stage 2 alone and pruned a good fold here."""
    layout = StepLayout(LAYOUT)
    stage1, stage2 = [4, 5, 6, 7], [8, 9]  # fold 0
    for per, expected in (("stage", True), ("fold", False)):
        study = optuna.create_study(direction="maximize", pruner=SameStepPruner(layout, min_epochs=1, per=per))
        for _ in range(6):
            _trial_with(study, {**{s: 0.45 for s in stage1}, **{s: 0.40 for s in stage2}})
        trial = study.ask()
        for s in stage1:
            trial.report(0.50, s)  # above the others' stage 1 ...
        trial.report(0.35, stage2[0])  # ... and a fine-tuning that starts lower (the fold keeps 0.50)
        assert bool(trial.should_prune()) == expected
    with pytest.raises(ValueError, match="per"):
        SameStepPruner(layout, per="epoch")


def test_per_trial_a_strong_fold_carries_a_weak_start_in_the_next() -> None:
    """``per="trial"`` (the default's) compares the mean of the finished folds and this fold's best so far: a
    trial whose fold 0 was the best is not stopped by one weak epoch in fold 1, which ``per="fold"`` would stop;
    a trial weak in both is stopped either way."""
    layout = StepLayout(LAYOUT)
    fold0, fold1 = [4, 5, 6, 7, 8, 9], [14, 15, 16, 17, 18, 19]  # the fusion steps of folds 0 and 1
    for per, first_fold, expected in (("fold", 0.60, True), ("trial", 0.60, False), ("trial", 0.30, True)):
        study = optuna.create_study(direction="maximize", pruner=SameStepPruner(layout, min_epochs=1, per=per))
        for _ in range(6):
            _trial_with(study, {**{s: 0.45 for s in fold0}, **{s: 0.45 for s in fold1}})
        trial = study.ask()
        for s in fold0:
            trial.report(first_fold, s)
        trial.report(0.35, fold1[0])
        assert bool(trial.should_prune()) == expected, (per, first_fold)


def test_a_percentile_per_fold_judges_each_fold_by_its_own() -> None:
    """``percentile`` as one value per fold: a trial at the others' 40th percentile survives fold 0 judged at
    the 33rd, and is stopped in fold 1 when that fold is judged at the median (a flat 33rd keeps it)."""
    layout = StepLayout(LAYOUT)
    fold0, fold1 = [4, 5, 6, 7, 8, 9], [14, 15, 16, 17, 18, 19]
    for percentile, expected in ((33.0, (False, False)), ((33.0, 50.0), (False, True))):
        pruner = SameStepPruner(layout, min_epochs=1, per="trial", percentile=percentile)
        study = optuna.create_study(direction="maximize", pruner=pruner)
        for value in (0.40, 0.42, 0.44, 0.46, 0.48, 0.50):
            _trial_with(study, {s: value for s in fold0 + fold1})
        trial = study.ask()
        for s in fold0:
            trial.report(0.44, s)
        in_fold0 = bool(trial.should_prune())
        trial.report(0.44, fold1[0])
        assert (in_fold0, bool(trial.should_prune())) == expected, percentile


def test_the_percentile_over_trials_reached_does_not_ratchet_with_the_pruning() -> None:
    """Pruning leaves only the strong trials to complete: over completed trials alone the 33rd percentile is
    a strong trial's value, and a trial as good as most of the study is stopped. ``reference="reached"`` counts
    the pruned trials too — but only up to the step where each stopped."""
    layout = StepLayout(LAYOUT)
    fold0 = [4, 5, 6, 7, 8, 9]
    for reference, expected in (("complete", True), ("reached", False)):
        pruner = SameStepPruner(layout, min_epochs=1, per="trial", percentile=33.0, reference=reference)
        study = optuna.create_study(direction="maximize", pruner=pruner)
        for value in (0.44, 0.45, 0.46, 0.47, 0.48):  # the survivors
            _trial_with(study, {s: value for s in fold0})
        for value in (0.30, 0.32, 0.34, 0.36):  # stopped at stage 1's first epoch (step 4)
            _trial_with(study, {4: value}, pruned=True)
        trial = study.ask()
        trial.report(0.42, 4)
        assert bool(trial.should_prune()) == expected, reference
    assert pruner.last_decision is None  # kept: nothing to explain
    # past step 4 the pruned trials reached nothing: the reference is the survivors again
    trial.report(0.42, 5)
    assert trial.should_prune()
    assert pruner.last_decision["test"] == "percentile" and pruner.last_decision["against_trials"] == 5


def test_a_trial_far_below_the_best_stops_before_the_startup_trials_are_done() -> None:
    """``best_margin`` judges from the first completed trial on, at the same step, against completed trials
    only: a trial more than the margin below the best stops, one within it goes on, and a pruned trial that was
    high at that step (it fell later) sets no bar."""
    layout = StepLayout(LAYOUT)
    fold0 = [4, 5, 6, 7, 8, 9]
    pruner = SameStepPruner(layout, min_epochs=1, per="trial", n_startup_trials=5, best_margin=0.03)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    _trial_with(study, {4: 0.60}, pruned=True)
    trial = study.ask()
    trial.report(0.40, 4)
    assert not trial.should_prune()  # no completed trial yet
    _trial_with(study, {s: 0.45 for s in fold0})
    for value, expected in ((0.43, False), (0.41, True)):
        trial = study.ask()
        trial.report(value, 4)
        assert bool(trial.should_prune()) == expected, value
    # the prune says which test fired and the bar (the trial's prune_reason shows it)
    assert pruner.last_decision == {"test": "best", "estimate": 0.41, "bar": pytest.approx(0.42), "against_trials": 1}
    with pytest.raises(ValueError, match="reference"):
        SameStepPruner(layout, reference="all")
    with pytest.raises(ValueError, match="best"):
        SameStepPruner(layout, best="top")


def test_the_margin_from_the_incumbent_is_not_set_by_a_lucky_start() -> None:
    """``best="incumbent"`` measures the margin from the trial with the best final value at the same step: a
    completed trial with a lucky first epoch (0.50) and a weaker final does not set the bar, as its highest
    value at that step does with ``best="max"``."""
    layout = StepLayout(LAYOUT)
    fold0 = [4, 5, 6, 7, 8, 9]
    for best, expected in (("max", True), ("incumbent", False)):
        pruner = SameStepPruner(layout, min_epochs=1, per="trial", n_startup_trials=50, best_margin=0.02, best=best)
        study = optuna.create_study(direction="maximize", pruner=pruner)
        _trial_with(study, {s: 0.50 if s == 4 else 0.42 for s in fold0})  # lucky start, final 0.42
        _trial_with(study, {s: 0.46 for s in fold0})  # the incumbent: 0.46 throughout
        trial = study.ask()
        trial.report(0.45, 4)
        assert bool(trial.should_prune()) == expected, best


def test_a_margin_per_fold_is_wider_in_the_first_fold() -> None:
    """``best_margin`` as one value per fold: 0.03 below the best survives fold 0 judged at 0.04 and is stopped
    in fold 1 judged at 0.02; a flat 0.02 stops it in fold 0 already."""
    layout = StepLayout(LAYOUT)
    fold0, fold1 = [4, 5, 6, 7, 8, 9], [14, 15, 16, 17, 18, 19]
    for margin, expected in ((0.02, (True, True)), ((0.04, 0.02), (False, True))):
        pruner = SameStepPruner(layout, min_epochs=1, per="trial", n_startup_trials=50, best_margin=margin)
        study = optuna.create_study(direction="maximize", pruner=pruner)
        _trial_with(study, {s: 0.46 for s in fold0 + fold1})
        trial = study.ask()
        trial.report(0.43, fold0[0])
        in_fold0 = bool(trial.should_prune())
        for s in fold0:
            trial.report(0.43, s)
        trial.report(0.43, fold1[0])
        assert (in_fold0, bool(trial.should_prune())) == expected, margin
    assert pruner.last_decision["bar"] == pytest.approx(0.44)


def test_a_trial_still_climbing_is_judged_once_it_levels_off() -> None:
    """``hold_rising`` holds judgement while the trial's value rose by more than it since the epoch before: a
    slow starter far below the best is kept while it climbs and judged at its first flat epoch; stage 2's first
    epoch is a rise over stage 1's best; a rise within the threshold is judged as without the hold, and so is a
    fold's first epoch, which nothing in its fold comes before."""
    layout = StepLayout(LAYOUT)
    flat = {s: 0.46 for s in range(2 * layout.steps_per_fold)}  # a completed trial: the bar is 0.46 less the margin

    def first_prune(values: dict[int, float], hold: float | None, min_epochs=2, margin=0.02, layout=layout,
                    completed=flat) -> int | None:  # fmt: skip
        pruner = SameStepPruner(layout, min_epochs=min_epochs, per="trial", n_startup_trials=50, best_margin=margin,
                                hold_rising=hold)  # fmt: skip
        study = optuna.create_study(direction="maximize", pruner=pruner)
        _trial_with(study, completed)
        trial = study.ask()
        for step, value in values.items():
            trial.report(value, step)
            if trial.should_prune():
                return step
        return None

    climbing = {4: 0.30, 5: 0.33, 6: 0.36, 7: 0.36}  # fold 0, stage 1: rises twice, then levels off
    assert first_prune(climbing, hold=None) == 5
    assert first_prune(climbing, hold=0.0) == 7
    assert first_prune(climbing, hold=0.05) == 5  # rises of 0.03 are within it
    # the completed trial jumps in stage 2 (bar 0.48); this one follows halfway: held at stage 2's first epoch,
    # a rise over its stage-1 best, and judged at the next
    jumps = {**{s: 0.40 for s in range(4, 8)}, 8: 0.50, 9: 0.50}
    into_stage2 = {4: 0.40, 5: 0.40, 6: 0.40, 7: 0.40, 8: 0.45, 9: 0.45}
    assert first_prune(into_stage2, hold=None, min_epochs=1, completed=jumps) == 8
    assert first_prune(into_stage2, hold=0.0, min_epochs=1, completed=jumps) == 9
    # without pre-training steps between them, fold 1's first epoch follows fold 0's last: above fold 0's best,
    # but not a rise, so judged (0.435 is below 0.44)
    no_pretrain = StepLayout((0, 4, 2))
    fold1_opens_high = {**{s: 0.40 for s in range(6)}, 6: 0.47}
    assert first_prune(fold1_opens_high, 0.0, min_epochs=1, margin=(0.10, 0.02), layout=no_pretrain) == 6


def test_an_enqueued_preset_runs_exactly_that_preset(demo_folder: Path, tmp_path: Path) -> None:
    from search.study import StudyRequest, create_or_resume
    from search.workers import Objective
    from storage import open_storage
    from trainer.config import load_config
    from trainer.errors import ConfigError

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=None)
    request = StudyRequest(name="enq", data=demo_folder, trials=2, preset="quick", enqueue=["default", "degenerate"])
    study, settings = create_or_resume(request, storage)
    objective = Objective(settings, demo_folder, tmp_path / "cache")
    for preset in ("default", "degenerate"):
        config = objective.config_for(study.ask())
        for knob in settings.search_space.names + ["fusion", "pretrain_alpha"]:
            assert getattr(config, knob) == getattr(load_config(preset), knob), (preset, knob)
        assert config.epochs_pretrain == load_config("quick").epochs_pretrain  # the study's layout stays

    layout_change = tmp_path / "longer.toml"
    layout_change.write_text("epochs_stage1 = 40\n")
    with pytest.raises(ConfigError, match="epochs_stage1"):
        create_or_resume(StudyRequest(name="enq", trials=0, enqueue=[str(layout_change)]), storage)
    space = tmp_path / "space.toml"
    space.write_text("[image_size]\nchoices = [32, 64]\n")
    with pytest.raises(ConfigError, match="image_size"):
        create_or_resume(StudyRequest(name="other", data=demo_folder, space=space), storage)


def test_a_replay_is_repeatable_for_its_seed(recording: Recording) -> None:
    # HyperbandPruner hashes the study name into brackets: replay names its studies, so the numbers repeat
    first, second = (run_replay(recording, ["hyperband"], orderings=4, seed=3) for _ in range(2))
    assert first["strategies"] == second["strategies"]


def test_expected_running_time_counts_an_ordering_that_misses_the_best_as_a_miss() -> None:
    """COCO's ERT: every ordering's epochs (to the target, or all of them when it never got there) over the
    orderings that got there. The old mean of "epochs to the target, else all epochs" gave the strategy that
    stops early and loses the best the shorter time."""
    from search.replay._simulate import _Run, expected_running_time

    def run(bests: list[float], epochs: list[int]) -> _Run:
        return _Run(sum(epochs), max(bests), list(np.cumsum(epochs)), list(np.maximum.accumulate(bests)), [], [])

    finds = run([0.3, 0.5, 0.5], [10, 20, 10])  # the best (0.5) after 30 epochs, 40 in all
    misses = run([0.3, 0.4], [10, 5])  # stops early, never finds it: 15 epochs
    assert expected_running_time([finds, finds], 0.49) == 30
    assert expected_running_time([finds, misses], 0.49) == (30 + 15) / 1  # not the mean, (30 + 15) / 2
    assert expected_running_time([misses, misses], 0.49) == float("inf")
    assert expected_running_time([finds, misses], 0.39) == (30 + 15) / 2  # both reach 0.4: 30 and 15 epochs


def test_orderings_led_by_a_given_trial_start_with_it(recording: Recording) -> None:
    """``replay --lead-percentile``: every ordering starts with the trial at that percentile of the finals (as a
    study whose user enqueued a strong default does), the others shuffled behind it."""
    from search.replay import percentile_trial

    lead = percentile_trial(recording, 90)
    finals = np.array([t.value for t in recording.trials])
    assert abs(finals[lead] - np.percentile(finals, 90)) == np.min(np.abs(finals - np.percentile(finals, 90)))
    document = run_replay(recording, ["none"], orderings=6, seed=2, lead=lead)
    runs = document["_anytime"]["none"]
    assert all(best[0] == recording.trials[lead].value for _, best in runs)  # "none" completes it first
    assert len({tuple(best) for _, best in runs}) > 1  # the rest in other orders
