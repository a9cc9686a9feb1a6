"""What pruning saves: the same study run three ways, side by side, in one process each.

Arms: ``rules+median`` (the degeneracy rules, then the median pruner: dfu-search's default),
``median`` (the median pruner alone) and ``none`` (every trial trains to its early stop). Each arm is
a fresh study with the same seed, the same TPE sampler, the same budget and the ``degenerate``
preset enqueued first, on demo data drawn from the real metadata (its visits and labels, synthetic
images). The first trials' parameters are identical in every arm; later TPE suggestions follow
each arm's own history.

    python bench/pruning.py --quick      # < 5 minutes on 2 cores
    python bench/pruning.py              # the full run (24 trials an arm)

Ends with one JSON line: per arm epochs, wall seconds, best QWK, epochs spent on collapsed trials,
and ``epochs_pruned``/``epochs_unpruned``/``best_pruned``/``best_unpruned`` (rules+median vs none).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import resource
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from _common import WORK, emit, machine, real_demo_data

ARMS = {"rules+median": ("median", True), "median": ("median", False), "none": ("none", False)}


@dataclass(frozen=True)
class Plan:
    visits: int | None  # None: all 890 visits of the real metadata
    shots: int
    trials: int
    sets: tuple[str, ...]


QUICK = Plan(
    visits=300,
    shots=1,
    trials=6,
    sets=("image_size=16", "batch_size=8", "rf_trees=50", "epochs_pretrain=5", "epochs_stage1=3",
          "epochs_stage2=2", "patience_pretrain=3", "patience_stage1=2", "patience_stage2=2"),
)  # fmt: skip
FULL = Plan(visits=None, shots=1, trials=24, sets=("image_size=16", "batch_size=16"))


def run_arm(arm: str, plan: Plan, data: Path, seed: int, folder: Path) -> dict:
    """One arm: a fresh SQLite study, one in-process worker, ``plan.trials`` trials."""
    import optuna

    from search.objective import Objective
    from search.pruning import DegeneracyRules, make_pruner
    from search.study import StudyRequest, create_or_resume
    from search.worker import make_sampler
    from storage import open_storage

    pruner_name, rules = ARMS[arm]
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # Keras's retracing notes, once per model
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    storage = open_storage(f"sqlite:///{folder / 'study.db'}", heartbeat=None)
    request = StudyRequest(
        name=arm, data=data, trials=plan.trials, folds=2, seed=seed, preset="quick", sets=list(plan.sets),
        enqueue=["degenerate"], pruner=pruner_name, rules=DegeneracyRules(enabled=rules),
    )  # fmt: skip
    _, settings = create_or_resume(request, storage)
    study = optuna.load_study(
        study_name=arm,
        storage=storage,
        sampler=make_sampler(settings, seed * 1000),
        pruner=make_pruner(settings.pruner, max(1, settings.config.epochs_pretrain // 3)),
    )
    objective = Objective(settings, data, WORK / "cache")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started, cpu = time.perf_counter(), _cpu_seconds()
    study.optimize(objective, n_trials=plan.trials, gc_after_trial=True)
    result = summarize(arm, study, time.perf_counter() - started) | {"cpu_s": round(_cpu_seconds() - cpu, 1)}
    (folder / "arm.json").write_text(json.dumps(result) + "\n")  # survives an interrupted comparison
    return result


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summarize(arm: str, study, seconds: float) -> dict:
    from search.query import max_epochs

    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    complete = [t for t in finished if t.state.name == "COMPLETE"]
    epochs = sum(t.user_attrs.get("epochs_trained", 0) for t in finished)
    collapsed = [t for t in finished if is_collapsed(t.user_attrs.get("curve", []))]
    return {
        "arm": arm,
        "trials": len(finished),
        "pruned": len(finished) - len(complete),
        "epochs": epochs,
        "max_epochs": sum(max_epochs(t) for t in finished),
        "wall_s": round(seconds, 1),
        "best_qwk": round(max((t.value for t in complete), default=float("nan")), 4),
        "prune_rules": dict(
            Counter((t.user_attrs.get("prune_reason") or {}).get("rule") for t in finished if t.state.name == "PRUNED")
        ),
        "collapsed_trials": len(collapsed),
        "epochs_on_collapsed": sum(t.user_attrs.get("epochs_trained", 0) for t in collapsed),
        "params": [sorted(t.params.items()) for t in study.trials],
    }


def is_collapsed(curve: list[list]) -> bool:
    """The failure's look in the first stage every trial runs (fold 0, image pre-training): most of its
    epochs predicted (almost) one class or had validation kappa ≤ 0.

    Judged on the curve alone, independently of the pruning rules, so it classifies a trial the same
    way in every arm whether or not it was stopped there.
    """
    from trainer.metrics import COLLAPSE_SHARE, top_class_share

    first = [row for row in curve if row[1] == 0 and row[2] == "pretrain"]
    if not first:
        return False
    bad = [top_class_share(row[7]) >= COLLAPSE_SHARE or (row[5] is not None and row[5] <= 0) for row in first]
    return sum(bad) > len(bad) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 visits, 6 trials an arm (~5 min on 2 cores)")
    parser.add_argument("--trials", type=int, help="trials per arm (default: 6 quick, 24 full)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated subset of: " + ", ".join(ARMS))
    parser.add_argument("--out", type=Path, help="also write the JSON line here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    plan = QUICK if args.quick else FULL
    if args.trials:
        plan = Plan(plan.visits, plan.shots, args.trials, plan.sets)
    started = time.perf_counter()
    data = real_demo_data(plan.visits, plan.shots)
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, "1")  # three arms share the cores: no thread oversubscription
    names = args.arms.split(",")
    mode = "quick" if args.quick else "full"
    context = mp.get_context("spawn")
    # The arms run at once, one process each: on 2 cores their wall times are inflated alike, and
    # each arm's CPU seconds (its own process) are the fair cost; epochs do not depend on the machine.
    with context.Pool(len(names)) as pool:
        jobs = {
            arm: pool.apply_async(run_arm, (arm, plan, data, args.seed, WORK / f"pruning-{mode}-{arm}"))
            for arm in names
        }
        arms = {arm: job.get() for arm, job in jobs.items()}
    for arm, a in arms.items():
        print(f"{arm:>13}: {a['trials']} trials ({a['pruned']} pruned), {a['epochs']} epochs "
              f"(max {a['max_epochs']}), {a['wall_s']} s ({a['cpu_s']} CPU s), best QWK {a['best_qwk']}, "
              f"{a['epochs_on_collapsed']} epochs on {a['collapsed_trials']} collapsed trials, pruned by {a['prune_rules']}",
              flush=True)  # fmt: skip
    same = _shared_prefix([a.pop("params") for a in arms.values()])
    result = {"bench": "pruning", "mode": "quick" if args.quick else "full", "machine": machine(),
              "trials_per_arm": plan.trials, "identical_leading_trials": same, "arms": arms}  # fmt: skip
    if "rules+median" in arms and "none" in arms:
        pruned, unpruned = arms["rules+median"], arms["none"]
        result |= {
            "epochs_pruned": pruned["epochs"],
            "epochs_unpruned": unpruned["epochs"],
            "epoch_ratio": round(unpruned["epochs"] / max(pruned["epochs"], 1), 2),
            "best_pruned": pruned["best_qwk"],
            "best_unpruned": unpruned["best_qwk"],
            "wall_ratio": round(unpruned["wall_s"] / max(pruned["wall_s"], 1e-9), 2),
            "cpu_ratio": round(unpruned["cpu_s"] / max(pruned["cpu_s"], 1e-9), 2),
        }
    result["total_s"] = round(time.perf_counter() - started, 1)
    emit(result, args.out)


def _shared_prefix(param_lists: list[list]) -> int:
    n = 0
    for rows in zip(*param_lists):
        if any(row != rows[0] for row in rows):
            break
        n += 1
    return n


if __name__ == "__main__":
    main()
