"""What would each pruning strategy have saved? Replay recorded learning curves through it.

A study run without pruning (``launch --pruner none --no-rules``) keeps every trial's whole curve.
For each of many random orderings of those trials, a fresh in-memory Optuna study receives each
trial's reports in order, and the strategy decides after every report through the same
:class:`~search.judge.Judge` a live worker uses — Optuna's own pruner classes where the strategy
names one. A pruned trial costs the epochs it ran; a complete one yields its recorded value. A stage
that a rule ends early (stage 2) saves its remaining epochs and keeps the recorded fold value (the
trainer would keep stage 1, or stage 2's best so far, which the recorded value approximates).

The ``oracle`` knows every final value: it runs a trial to the end only when it will beat the
incumbent and stops every other one after its first epoch. No pruner can save more.
``oracle_at_fusion`` knows the same but may stop a trial only once it reaches its first fusion
epoch (fold 0, stage 1): the limit for a pruner that needs a fusion QWK to judge, since image
pre-training's QWK says next to nothing about the final value (``bench/pruning.py signal``).
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import optuna

from search.curves import CURVE_COLUMNS
from search.judge import Judge
from search.pruning import DegeneracyRules, make_pruner
from search.racing import StepLayout
from trainer.errors import UserError
from trainer.reports import EpochReport

log = logging.getLogger(__name__)

STRATEGIES = ("none", "rules", "median", "hyperband", "wilcoxon", "forgiving", "ours")
CURVES_VERSION = 1
_WITHIN = 0.01  # "found the best": within 0.01 QWK of the best recorded trial


@dataclass(frozen=True)
class RecordedTrial:
    number: int
    value: float
    fold_qwks: list[float]
    curve: list[list]  # rows as search.curves.CURVE_COLUMNS
    params: dict

    @property
    def epochs(self) -> int:
        return len(self.curve)


@dataclass(frozen=True)
class Recording:
    study: str
    epochs: list[int]  # configured maximum epochs per stage: the step layout
    folds: int
    trials: list[RecordedTrial]

    @property
    def layout(self) -> StepLayout:
        return StepLayout(tuple(self.epochs))

    def save(self, path: Path) -> None:
        """A compact gzip JSON file that :func:`load_recording` reads back."""
        document = {"version": CURVES_VERSION, "columns": list(CURVE_COLUMNS), **asdict(self)}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as handle:
            json.dump(document, handle, separators=(",", ":"))


def record_from_study(study: optuna.Study) -> Recording:
    """The whole curves of a study's complete trials; refuses a study whose trials were pruned."""
    from search.settings import StudySettings

    settings = StudySettings.load(study)
    trials = study.get_trials(deepcopy=False)
    pruned = [t.number for t in trials if t.state.name == "PRUNED"]
    if pruned:
        raise UserError(
            f"study {study.study_name!r} has {len(pruned)} pruned trials (their curves are cut short); replay needs "
            "a study launched with --pruner none --no-rules"
        )
    recorded = [
        RecordedTrial(t.number, float(t.value), [float(f["qwk"]) for f in t.user_attrs["folds"]],
                      t.user_attrs["curve"], dict(t.params))
        for t in trials
        if t.state.name == "COMPLETE" and t.user_attrs.get("curve") and t.user_attrs.get("folds")
    ]  # fmt: skip
    config = settings.config
    return Recording(
        study.study_name, [config.epochs(s) for s in ("pretrain", "stage1", "stage2")], config.folds, recorded
    )


def load_recording(path: Path) -> Recording:
    try:
        with gzip.open(path, "rt") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise UserError(f"--curves {path}: no such file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"--curves {path}: not a curves file written by dfu-search replay ({exc})") from None
    if document.get("version") != CURVES_VERSION:
        raise UserError(f"--curves {path}: unknown version {document.get('version')!r}")
    trials = [RecordedTrial(**t) for t in document["trials"]]
    return Recording(document["study"], document["epochs"], document["folds"], trials)


def run_replay(recording: Recording, strategies: list[str], orderings: int = 200, seed: int = 0, progress=None) -> dict:
    """Replay every strategy over the same ``orderings`` random orderings; returns the replay.json document."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise UserError(f"--strategies: unknown {', '.join(unknown)} (choose from {', '.join(STRATEGIES)})")
    trials = recording.trials
    if len(trials) < 2:
        raise UserError(
            f"study {recording.study!r} has {len(trials)} complete trials with curves; replay needs 2 or more"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(len(trials)) for _ in range(orderings)]
    finals = np.array([t.value for t in trials])
    best = float(finals.max())
    runs = {}
    for name in strategies:
        runs[name] = [_replay_order(recording, [trials[i] for i in order], name, k) for k, order in enumerate(orders)]
        if progress:
            progress(name)
    runs["oracle"] = [_oracle(recording, [trials[i] for i in order]) for order in orders]
    runs["oracle_at_fusion"] = [_oracle(recording, [trials[i] for i in order], _first_fusion_epoch) for order in orders]
    none_epochs = float(sum(t.epochs for t in trials))
    median_mean = float(np.mean([r.epochs for r in runs["median"]])) if "median" in runs else None
    summary = {name: _summarize(rs, finals, best, none_epochs, median_mean) for name, rs in runs.items()}
    return {
        "study": recording.study,
        "trials": len(trials),
        "orderings": orderings,
        "seed": seed,
        "best_recorded": best,
        "median_recorded": float(np.median(finals)),
        "epochs_all": none_epochs,
        "strategies": {n: summary[n] for n in strategies},
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


def _replay_order(recording: Recording, order: list[RecordedTrial], strategy: str, index: int) -> _Run:
    layout = recording.layout
    pruner_name = "none" if strategy == "rules" else strategy
    pruner = make_pruner(pruner_name, layout)
    # A fixed name: HyperbandPruner picks a trial's bracket from a hash of the study name (random by default),
    # so only named studies make a replay repeatable for its --seed.
    study = optuna.create_study(
        study_name=f"replay-{strategy}-{index}", direction="maximize", pruner=pruner,
        sampler=optuna.samplers.RandomSampler(0),
    )  # fmt: skip
    rules = DegeneracyRules(enabled=strategy in ("rules", "ours"))
    run = _Run(0, -np.inf, [], [], [], [])
    for recorded in order:
        trial = study.ask()
        judge = Judge(trial, pruner_name, rules, recording.folds)
        spent, verdict = _feed(trial, judge, recorded)
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


def _feed(trial: optuna.Trial, judge: Judge, recorded: RecordedTrial) -> tuple[int, str | None]:
    """Feed one trial's curve to the judge; returns (epochs spent, the pruning rule or None)."""
    spent, skipped_stage = 0, None
    curve = recorded.curve
    for i, row in enumerate(curve):
        report = _report(row)
        if (report.fold, report.stage) != skipped_stage:
            spent += 1
            verdict = judge.on_epoch(report)
            if verdict is not None and verdict.stage_only:
                skipped_stage = (report.fold, report.stage)
            elif verdict is not None:
                return spent, verdict.rule
        if i + 1 == len(curve) or curve[i + 1][1] != report.fold:  # the fold ends here
            done = recorded.fold_qwks[: report.fold + 1]
            trial.set_user_attr("folds", [{"qwk": q} for q in done])
            verdict = judge.on_fold(report.fold, recorded.fold_qwks[report.fold])
            if verdict is not None:
                return spent, verdict.rule
    return spent, None


def _report(row: list) -> EpochReport:
    values = dict(zip(CURVE_COLUMNS, row))
    nan = float("nan")

    def number(key: str) -> float:
        value = values.get(key)
        return nan if value is None else float(value)

    return EpochReport(
        fold=values["fold"], stage=values["stage"], epoch=values["epoch"], step=values["step"],
        val_qwk=number("val_qwk"), val_kappa=number("val_kappa"), val_accuracy=nan, val_macro_f1=nan,
        train_loss=number("train_loss"), lr=nan, pred_histogram=values["pred_histogram"],
        train_batches=int(values.get("train_batches") or 0), baseline_qwk=number("baseline_qwk"),
        patience=int(values.get("patience") or 0),
    )  # fmt: skip


def _oracle(recording: Recording, order: list[RecordedTrial], stop_cost=lambda recorded: 1) -> _Run:
    """Run a trial to the end only if it beats the incumbent; stop every other one after ``stop_cost`` epochs."""
    run = _Run(0, -np.inf, [], [], [], [])
    for recorded in order:
        if recorded.value > run.best:
            run.epochs += recorded.epochs
            run.best = recorded.value
        else:
            run.epochs += stop_cost(recorded)
            run.pruned_finals.append(recorded.value)
            run.pruned_rules.append("oracle")
        run.cumulative.append(run.epochs)
        run.best_so_far.append(run.best)
    return run


def _first_fusion_epoch(recorded: RecordedTrial) -> int:
    """Epochs up to and including the first one outside image pre-training."""
    for i, row in enumerate(recorded.curve):
        if row[2] != "pretrain":
            return i + 1
    return recorded.epochs


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
    reached = [_epochs_to(r, best - _WITHIN) for r in runs]
    return {
        "epochs_mean": mean,
        "epochs_p05": float(np.percentile(epochs, 5)),
        "epochs_p95": float(np.percentile(epochs, 95)),
        "speedup_vs_none": none_epochs / mean,
        "speedup_vs_median": (median_mean / mean) if median_mean else None,
        "p_best_within_001": float(np.mean([r.best >= best - _WITHIN for r in runs])),
        "epochs_to_within_001": float(np.mean(reached)),
        "false_prune_rate": (sum(v >= threshold for v in pruned) / len(pruned)) if pruned else 0.0,
        "pruned_per_ordering": len(pruned) / len(runs),
        "prunes_by_rule": {k: v / len(runs) for k, v in sorted(rules.items())},
        "false_prune_rate_by_rule": {k: false_by_rule[k] / rules[k] for k in sorted(rules)},
    }


def _epochs_to(run: _Run, target: float) -> float:
    """Epochs spent until the best-so-far first reached ``target``; all the run's epochs if it never did."""
    for spent, value in zip(run.cumulative, run.best_so_far):
        if value >= target:
            return float(spent)
    return float(run.epochs)


def write_outputs(document: dict, out: Path) -> Path:
    """``out/replay.json`` (without the raw anytime points) and ``out/anytime.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in document.items() if not k.startswith("_")}
    (out / "replay.json").write_text(json.dumps(public, indent=1) + "\n")
    anytime_figure(document).savefig(out / "anytime.png", dpi=110)
    return out / "replay.json"


def anytime_figure(document: dict):
    """Best-so-far QWK against cumulative epochs: mean and 10–90 % band over orderings, per strategy."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5.5), layout="constrained")
    axes = figure.subplots()
    grid = np.linspace(0, document["epochs_all"], 400)
    floor = document["median_recorded"] - 0.1
    for name, runs in document["_anytime"].items():
        curves = np.array([_step_function(cumulative, best, grid, floor) for cumulative, best in runs])
        mean = curves.mean(axis=0)
        low, high = np.percentile(curves, [10, 90], axis=0)
        style = {"linestyle": "--" if name == "oracle" else ":", "color": "black"} if name.startswith("oracle") else {}
        (line,) = axes.plot(grid, mean, label=name, linewidth=2 if name == "ours" else 1.3, **style)
        axes.fill_between(grid, low, high, color=line.get_color(), alpha=0.12)
    axes.axhline(document["best_recorded"] - _WITHIN, color="grey", linewidth=0.8, linestyle=":")
    axes.set_xlabel("epochs trained (cumulative)")
    axes.set_ylabel("best QWK so far")
    axes.set_ylim(floor, document["best_recorded"] + 0.02)
    axes.set_title(
        f"{document['study']}: {document['trials']} recorded trials, {document['orderings']} orderings "
        "(mean, 10–90 % band; dotted: best − 0.01)"
    )
    axes.legend(loc="lower right")
    return figure


def _step_function(cumulative: list[int], best: list[float], grid: np.ndarray, floor: float) -> np.ndarray:
    values = np.full(len(grid), floor)
    for spent, value in zip(cumulative, best):
        if np.isfinite(value):
            values[grid >= spent] = max(value, floor)
    return values
