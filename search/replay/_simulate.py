"""What would each pruning strategy have saved? Replay recorded learning curves through it.

A study run without pruning (``launch --pruner none --no-rules``) keeps every trial's whole curve.
For each of many random orderings of those trials, a fresh in-memory Optuna study receives each
trial's reports in order, and the strategy decides after every report through the same
:class:`~search.pruners._judge.Judge` a live worker uses — Optuna's own pruner classes where the strategy
names one. A pruned trial costs the epochs it ran; a complete one yields its recorded value. A stage
that a rule ends early (stage 2) saves its remaining epochs and keeps the recorded fold value (the
trainer would keep stage 1, or stage 2's best so far, which the recorded value approximates).

Time to the best is the **expected running time** (ERT) to a target, as optimisation benchmarks (COCO/BBOB)
define it: the epochs every ordering spent — until its best-so-far came within the target of the best
recorded trial, or to its end when it never did — divided by the number of orderings that got there
(infinite when none did; ``Infinity`` in replay.json). A strategy that stops early and misses the best pays for its
misses: a mean over the orderings of "epochs until reached, else all its epochs" would reward losing the best.
Targets: within 0.01 and within 0.02 of the best (0.02 is about the standard error of a 3-fold mean QWK here).

The ``oracle`` knows every final value: it runs a trial to the end only when it will beat the
incumbent and stops every other one after its first epoch. No pruner can save more.
``oracle_at_fusion`` knows the same but may stop a trial only once it reaches its first fusion
epoch (fold 0, stage 1): the limit for a pruner that needs a fusion QWK to judge, since image
pre-training's QWK says next to nothing about the final value (``bench/pruning.py signal``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna

from search.pruners import DEFAULT_PRUNER, FOLD_RACERS, REPLAYABLE, WITH_RULES, DegeneracyRules, Judge, make_pruner
from search.replay._recording import RecordedTrial, Recording
from search.study import report_from_row
from trainer import UserError
from trainer.config import StepLayout

log = logging.getLogger(__name__)

WITHIN = 0.01  # "found the best": within 0.01 QWK of the best recorded trial
TARGETS = {"001": WITHIN, "002": 2 * WITHIN}  # the targets' keys in replay.json → distance below the best
_REFERENCES = ("median_no_store", "oracle", "oracle_at_fusion")  # replayed beside the strategies asked for


def run_replay(
    recording: Recording,
    strategies: list[str],
    orderings: int = 200,
    seed: int = 0,
    progress=None,
    pruner_for: Callable[[str, StepLayout], optuna.pruners.BasePruner] = make_pruner,
    races: tuple[str, ...] = FOLD_RACERS,
    store: bool = True,
    race_margin: float | None = None,
    median_no_store: bool = True,
    lead: int | None = None,
) -> dict:
    """Replay every strategy over the same ``orderings`` random orderings; returns the replay.json document.

    ``store``: a pre-training that an earlier trial of the ordering finished (same fold, same pre-training
    settings) costs nothing, as with the live pre-training store; its epochs are still reported. Stock
    median without the store is replayed too (``reference``): what a user of plain Optuna gets.
    ``lead``: the index of a recorded trial that leads every ordering (the rest in random order), as a study
    whose user enqueued a strong default first starts. ``pruner_for`` (strategy, layout) → pruner and ``races`` (the strategies that race folds) let a
    benchmark replay variants of a strategy through the same code; ``median_no_store=False`` skips that
    reference (a benchmark replaying many variants of one table needs it once, not once per variant).
    """
    unknown = [s for s in strategies if s not in REPLAYABLE]
    if unknown:
        raise UserError(f"--strategies: unknown {', '.join(unknown)} (choose from {', '.join(REPLAYABLE)})")
    trials = recording.trials
    if len(trials) < 2:
        raise UserError(
            f"study {recording.study!r} has {len(trials)} complete trials with curves; replay needs 2 or more"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    if lead is None:
        orders = [rng.permutation(len(trials)) for _ in range(orderings)]
    else:
        rest = np.array([i for i in range(len(trials)) if i != lead])
        orders = [np.concatenate([[lead], rng.permutation(rest)]) for _ in range(orderings)]
    runs = {}
    for name in strategies:
        runs[name] = [
            _replay_order(recording, [trials[i] for i in order], name, k, pruner_for, name in races, store, race_margin)
            for k, order in enumerate(orders)
        ]
        if progress:
            progress(name)
    if store and median_no_store:
        runs["median_no_store"] = [
            _replay_order(recording, [trials[i] for i in order], "median", k, pruner_for, fold_race=False, store=False)
            for k, order in enumerate(orders)
        ]
    runs["oracle"] = [_oracle([trials[i] for i in order], False, store) for order in orders]
    runs["oracle_at_fusion"] = [_oracle([trials[i] for i in order], True, store) for order in orders]
    return _document(recording, runs, orderings, seed, store)


def percentile_trial(recording: Recording, percentile: float) -> int:
    """The index of the recorded trial whose final value is nearest the ``percentile``-th percentile of the finals."""
    finals = np.array([t.value for t in recording.trials])
    return int(np.argmin(np.abs(finals - np.percentile(finals, percentile))))


def _document(recording: Recording, runs: dict[str, list], orderings: int, seed: int, store: bool) -> dict:
    """The replay.json document: each strategy's summary over the orderings, and the references beside them."""
    finals = np.array([t.value for t in recording.trials])
    best = float(finals.max())
    none_epochs = float(sum(t.epochs for t in recording.trials))
    median_mean = float(np.mean([r.epochs for r in runs["median"]])) if "median" in runs else None
    summary = {name: _summarize(rs, finals, best, none_epochs, median_mean) for name, rs in runs.items()}
    reference = summary.get("median_no_store")
    for row in summary.values():
        for key in TARGETS:  # the limit for a pruner that reads reports: how far above it, in ERT
            row[f"ert_{key}_vs_oracle_at_fusion"] = _ratio(
                row[f"ert_within_{key}"], summary["oracle_at_fusion"][f"ert_within_{key}"]
            )
        if reference is not None:  # against what plain Optuna gives: sooner to the best (ERT), fewer epochs in all
            for key in TARGETS:
                row[f"sooner_{key}_vs_median_no_store"] = _ratio(
                    reference[f"ert_within_{key}"], row[f"ert_within_{key}"]
                )
            row["fewer_epochs_vs_median_no_store"] = reference["epochs_mean"] / row["epochs_mean"]
    return {
        "study": recording.study,
        "trials": len(recording.trials),
        "orderings": orderings,
        "seed": seed,
        "store": store,
        "default": DEFAULT_PRUNER,
        "best_recorded": best,
        "median_recorded": float(np.median(finals)),
        "epochs_all": none_epochs,
        "strategies": {n: summary[n] for n in runs if n not in _REFERENCES},
        "reference": {"median_no_store": reference} if reference is not None else {},
        "oracle": summary["oracle"],
        "oracle_at_fusion": summary["oracle_at_fusion"],
        "_anytime": {n: [(r.cumulative, r.best_so_far) for r in rs] for n, rs in runs.items()},
    }


@dataclass
class _Run:
    epochs: int
    best: float
    cumulative: list[int]  # epochs spent after each trial
    best_so_far: list[float]
    pruned_finals: list[float]  # recorded final values of the trials this run pruned
    pruned_rules: list[str]


def _replay_order(
    recording: Recording,
    order: list[RecordedTrial],
    strategy: str,
    index: int,
    pruner_for,
    fold_race: bool,
    store: bool = True,
    race_margin: float | None = None,
) -> _Run:
    layout = recording.layout
    pruner_name = "none" if strategy == "rules" else strategy
    pruner = pruner_for(pruner_name, layout)
    # A fixed name: HyperbandPruner picks a trial's bracket from a hash of the study name (random by default),
    # so only named studies make a replay repeatable for its --seed.
    study = optuna.create_study(
        study_name=f"replay-{strategy}-{index}", direction="maximize", pruner=pruner,
        sampler=optuna.samplers.RandomSampler(0),
    )  # fmt: skip
    rules = DegeneracyRules(enabled=strategy in WITH_RULES)
    run = _Run(0, -np.inf, [], [], [], [])
    stored: set[tuple[int, str]] | None = set() if store else None  # (fold, pre-training identity) finished
    for recorded in order:
        trial = study.ask()
        judge = Judge(trial, pruner_name, rules, recording.folds, fold_race, race_margin)
        spent, verdict = _feed(trial, judge, recorded, stored)
        run.epochs += spent
        if verdict is not None:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            run.pruned_finals.append(recorded.value)
            run.pruned_rules.append(verdict)
        else:
            study.tell(trial, recorded.value)
            run.best = max(run.best, recorded.value)
        run.cumulative.append(run.epochs)
        run.best_so_far.append(run.best)
    return run


def _feed(
    trial: optuna.Trial, judge: Judge, recorded: RecordedTrial, stored: set | None = None
) -> tuple[int, str | None]:
    """Feed one trial's curve to the judge; returns (epochs spent, the pruning rule or None).

    ``stored``: the (fold, pre-training identity) pairs finished earlier in this ordering (None: no store).
    Their epochs cost nothing but are reported all the same; a pre-training this trial finishes joins them.
    """
    spent, skipped_stage = 0, None
    curve = recorded.curve
    identity = recorded.pretrain_identity
    for i, row in enumerate(curve):
        report = report_from_row(row)
        key = (report.fold, identity)
        free = stored is not None and report.stage == "pretrain" and key in stored
        ends_pretrain = report.stage == "pretrain" and (i + 1 == len(curve) or curve[i + 1][2] != "pretrain")
        if (report.fold, report.stage) != skipped_stage:
            spent += not free
            verdict = judge.on_epoch(report)
            if verdict is not None and verdict.stage_only:
                skipped_stage = (report.fold, report.stage)
            elif verdict is not None:
                return spent, verdict.rule
        if stored is not None and ends_pretrain:  # finished (a trial that ends on this row stores nothing)
            stored.add(key)
        if i + 1 == len(curve) or curve[i + 1][1] != report.fold:  # the fold ends here
            done = recorded.fold_qwks[: report.fold + 1]
            trial.set_user_attr("folds", [{"qwk": q} for q in done])
            verdict = judge.on_fold(report.fold, recorded.fold_qwks[report.fold])
            if verdict is not None:
                return spent, verdict.rule
    return spent, None


def _oracle(order: list[RecordedTrial], at_fusion: bool, store: bool) -> _Run:
    """Run a trial to the end only if it beats the incumbent; stop every other one after its first epoch —
    ``at_fusion``: its first fusion epoch (after fold 0's pre-training). With ``store``, a pre-training an
    earlier trial finished costs nothing, and each one this run finishes is stored."""
    run = _Run(0, -np.inf, [], [], [], [])
    stored: set[tuple[int, str]] = set()
    for recorded in order:
        identity = recorded.pretrain_identity
        done = {fold for fold, name in stored if name == identity} if store else set()
        if recorded.value > run.best:
            run.epochs += _paid(recorded.curve, done)
            run.best = recorded.value
            if store:
                stored |= {(row[1], identity) for row in recorded.curve if row[2] == "pretrain"}
        else:
            fold0 = [row for row in recorded.curve if row[1] == 0 and row[2] == "pretrain"]
            run.epochs += (_paid(fold0, done) if at_fusion else 0) + 1
            if at_fusion and fold0 and store:
                stored.add((0, identity))
            run.pruned_finals.append(recorded.value)
            run.pruned_rules.append("oracle")
        run.cumulative.append(run.epochs)
        run.best_so_far.append(run.best)
    return run


def _paid(rows: list[list], stored_folds: set[int]) -> int:
    """Epochs among ``rows`` that cost something: all but the pre-training of a fold already stored."""
    return sum(not (row[2] == "pretrain" and row[1] in stored_folds) for row in rows)


def _summarize(runs: list[_Run], finals: np.ndarray, best: float, none_epochs: float, median_mean: float | None):
    epochs = np.array([r.epochs for r in runs], dtype=float)
    mean = float(epochs.mean())
    threshold = float(np.median(finals))
    pruned = [v for r in runs for v in r.pruned_finals]
    rules: dict[str, int] = {}
    false_by_rule: dict[str, int] = {}
    for r in runs:
        for value, rule in zip(r.pruned_finals, r.pruned_rules):
            rules[rule] = rules.get(rule, 0) + 1
            false_by_rule[rule] = false_by_rule.get(rule, 0) + (value >= threshold)
    found = np.array([r.best for r in runs])
    # how far below the best recorded an ordering ends: "within 0.01" alone hides whether a lost ordering
    # missed by 0.011 (a flat table whose best stands alone) or by 0.1
    shortfall = best - found
    return {
        "epochs_mean": mean,
        "epochs_p05": float(np.percentile(epochs, 5)),
        "epochs_p95": float(np.percentile(epochs, 95)),
        "speedup_vs_none": none_epochs / mean,
        "speedup_vs_median": (median_mean / mean) if median_mean else None,
        **{f"p_best_within_{key}": float(np.mean(found >= best - below)) for key, below in TARGETS.items()},
        **{f"ert_within_{key}": expected_running_time(runs, best - below) for key, below in TARGETS.items()},
        "shortfall_p50": float(np.median(shortfall)),
        "shortfall_p95": float(np.percentile(shortfall, 95)),
        "false_prune_rate": (sum(v >= threshold for v in pruned) / len(pruned)) if pruned else 0.0,
        "pruned_per_ordering": len(pruned) / len(runs),
        "prunes_by_rule": {k: v / len(runs) for k, v in sorted(rules.items())},
        "false_prune_rate_by_rule": {k: false_by_rule[k] / rules[k] for k in sorted(rules)},
    }


def expected_running_time(runs: list[_Run], target: float) -> float:
    """COCO's expected running time to ``target``: the epochs of every run until its best-so-far first reached
    ``target`` (all its epochs when it never did), over the number of runs that reached it; infinite when none
    did."""
    spent, successes = 0, 0
    for run in runs:
        reached = next((epochs for epochs, best in zip(run.cumulative, run.best_so_far) if best >= target), None)
        spent += run.epochs if reached is None else reached
        successes += reached is not None
    return spent / successes if successes else math.inf


def _ratio(numerator: float, denominator: float) -> float | None:
    """The ratio of two expected running times: ∞/x = ∞, x/∞ = 0, and ∞/∞ None (neither reached the target)."""
    if math.isinf(numerator) and math.isinf(denominator):
        return None
    return numerator / denominator if denominator else math.inf
