"""What a trial costs outside training: storage round trips, study load, model build, cache load.

Storage: W worker processes (1, 2, 4, 8) each run trials of a trivially short objective that makes
the same storage calls a real trial makes (ask; config and worker attributes; per epoch one
``report`` and one ``should_prune``; the folds attribute per fold; curve, epochs and wall time at the
end; tell), on SQLite, the journal file and PostgreSQL (a real server started for the run, as the
tests do). The per-trial time of those calls is the storage cost. Then, once: loading the study and
its settings, importing TensorFlow, building the quick preset's fusion model, and loading the
preprocessed images and RF probabilities from the cache; and the wall time of one real ``quick``
trial to set the 2 % goal against.

    python bench/overhead.py --quick     # < 5 minutes on 2 cores
    python bench/overhead.py             # more trials per worker

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

from _common import REPO, WORK, emit, machine, real_demo_data

STORAGES = ("sqlite", "journal", "postgresql")
FOLDS, STAGE_EPOCHS = 2, (8, 6, 4)  # the quick preset: 8 + 6 + 4 epochs a fold, 2 folds in the search's tests
EPOCHS_PER_FOLD = sum(STAGE_EPOCHS)


def _worker(url: str, study_name: str, trials: int, strategy: str, queue: mp.Queue) -> None:
    """A stand-in worker: the storage calls of a real trial, decided by the real Judge and pruner of ``strategy``."""
    import optuna

    from search.pruners import DegeneracyRules, Judge, make_pruner
    from search.study import StudySettings
    from storage import open_storage
    from trainer.config import STAGES, StepLayout
    from trainer.stages import EpochReport

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url, heartbeat=None)
    pruner = make_pruner(strategy, StepLayout(STAGE_EPOCHS))
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
    StudySettings.load(study)
    config = {f"knob_{i}": 0.1 * i for i in range(30)}
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        trial = study.ask()
        trial.suggest_float("alpha_cap", 1.0, 10.0)
        trial.suggest_float("lr_stage1", 1e-5, 1e-2, log=True)
        trial.set_user_attr("config", config)
        trial.set_user_attr("worker", {"host": "bench", "pid": 0, "gpu": "cpu"})
        judge = Judge(trial, strategy, DegeneracyRules(), FOLDS)
        curve, folds, step = [], [], 0
        for fold in range(FOLDS):
            for stage, epochs in zip(STAGES, STAGE_EPOCHS):
                for epoch in range(1, epochs + 1):
                    qwk = 0.3 + 0.01 * epoch
                    judge.on_epoch(EpochReport(fold, stage, epoch, step, qwk, 0.2, 0.5, [10, 20, 30], 50))
                    curve.append([step, fold, stage, epoch, qwk, 0.2, 0.5, [10, 20, 30], 0.3, 0.5])
                    step += 1
            folds.append({"fold": fold, "qwk": 0.4})
            trial.set_user_attr("folds", folds)
            judge.on_fold(fold, 0.4)
        trial.set_user_attr("epochs_trained", len(curve))
        trial.set_user_attr("wall_seconds", 1.0)
        trial.set_user_attr("curve", curve)
        study.tell(trial, 0.4)
        times.append(time.perf_counter() - started)
    queue.put(times)


def storage_cost(kind: str, url: str, workers: int, trials: int, strategy: str) -> dict:
    """Median and 95th-percentile seconds of storage calls per trial with ``workers`` processes at once."""
    import optuna

    from search.study import StudySettings
    from storage import open_storage

    name = f"overhead-{strategy}-{workers}"
    study = optuna.create_study(study_name=name, storage=open_storage(url, heartbeat=None), direction="maximize")
    StudySettings(data="bench", fingerprint={}, base_config={}, space={"knobs": [], "fixed": {}}, trials=0).save(study)
    queue: mp.Queue = mp.get_context("spawn").Queue()
    context = mp.get_context("spawn")  # a fresh interpreter per worker, like dfu-search's workers
    processes = [context.Process(target=_worker, args=(url, name, trials, strategy, queue)) for _ in range(workers)]
    for p in processes:
        p.start()
    times = [t for _ in processes for t in queue.get(timeout=600)]
    for p in processes:
        p.join()
    times.sort()
    return {
        "storage": kind,
        "strategy": strategy,
        "workers": workers,
        "trials": len(times),
        "median_ms": round(1000 * statistics.median(times), 1),
        "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 1),
    }


def one_off_costs(data: Path) -> dict:
    """Study load, TensorFlow import, model build and cache load, once each, in this process."""
    from storage import open_storage
    from trainer.config import load_config

    costs = {}
    url = f"sqlite:///{WORK / 'overhead' / 'sqlite.db'}"
    started = time.perf_counter()
    import optuna

    from search.study import StudySettings

    if "overhead-load" not in optuna.get_all_study_names(open_storage(url, heartbeat=None)):
        created = optuna.create_study(study_name="overhead-load", storage=open_storage(url, heartbeat=None))
        StudySettings(data="bench", fingerprint={}, base_config={}, space={"knobs": [], "fixed": {}}, trials=0).save(
            created
        )
        started = time.perf_counter()
    study = optuna.load_study(study_name="overhead-load", storage=open_storage(url, heartbeat=None))
    StudySettings.load(study)
    costs["study_load_s"] = round(time.perf_counter() - started, 3)

    config = load_config("quick", None, ["image_size=32"])
    from trainer import prepare

    prepare(data, config, WORK / "cache")  # build the cache if this data has never been used
    started = time.perf_counter()
    dataset, _ = prepare(data, config, WORK / "cache")
    costs["cache_load_s"] = round(time.perf_counter() - started, 3)
    from trainer.data import patient_folds
    from trainer.model import cached_fold_probabilities

    fold = patient_folds(dataset.metadata.labels, dataset.metadata.patients, 2, 0)[0]
    cached_fold_probabilities(dataset.metadata, fold, config.rf_settings, WORK / "cache")
    started = time.perf_counter()
    cached_fold_probabilities(dataset.metadata, fold, config.rf_settings, WORK / "cache")
    costs["rf_cache_load_s"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    from trainer import _backend  # noqa: F401  (imports Keras and TensorFlow)

    costs["tensorflow_import_s"] = round(time.perf_counter() - started, 2)
    from trainer.model import build_fusion_model, build_image_branches, build_pretrain_model

    started = time.perf_counter()
    branches = build_image_branches(config, dataset.image_modalities)
    build_pretrain_model(branches)
    build_fusion_model(branches, config)
    costs["model_build_s"] = round(time.perf_counter() - started, 3)
    return costs


def quick_trial_seconds(data: Path) -> float:
    """Wall time of one real trial of the quick preset (2 folds, 32 px) through the search's objective."""

    from search.study import StudyRequest, create_or_resume
    from search.workers import Objective
    from storage import open_storage

    storage = open_storage(f"sqlite:///{WORK / 'overhead' / 'trial.db'}", heartbeat=None)
    request = StudyRequest(name=f"trial-{time.time_ns()}", data=data, trials=1, folds=2, preset="quick", pruner="none")
    study, settings = create_or_resume(request, storage)
    objective = Objective(settings, data, WORK / "cache")
    objective._prepare(settings.config)  # images and RF cached: the trial's own time only
    started = time.perf_counter()
    study.optimize(objective, n_trials=1)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 trials per worker (< 5 min on 2 cores)")
    parser.add_argument("--trials", type=int, help="trials per worker (default: 5 quick, 20 full)")
    parser.add_argument("--postgres", help="use this PostgreSQL URL instead of starting a server")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--storages", default=",".join(STORAGES), help="comma-separated subset of " + ",".join(STORAGES)
    )
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    parser.add_argument(
        "--strategies", default="ours,median", help="pruning strategies to compare (median: stock Optuna, the old path)"
    )
    args = parser.parse_args()
    trials = args.trials or (5 if args.quick else 20)
    started = time.perf_counter()
    folder = WORK / "overhead"
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    server = None
    postgres_url = args.postgres
    if postgres_url is None:
        sys.path.insert(0, str(REPO / "tests"))
        from _postgres import PostgresServer

        server = PostgresServer.start()
    rows = []
    try:
        for kind in args.storages.split(","):
            for strategy in args.strategies.split(","):
                for workers in map(int, args.workers.split(",")):
                    if kind == "sqlite":
                        url = f"sqlite:///{folder / 'sqlite.db'}"
                    elif kind == "journal":
                        url = f"journal:///{folder / 'journal.log'}"
                    else:
                        url = postgres_url or server.create_database()
                    rows.append(storage_cost(kind, url, workers, trials, strategy))
                    r = rows[-1]
                    print(
                        f"{kind:>10} {strategy:>6} × {workers}: {r['median_ms']} ms a trial (p95 {r['p95_ms']})",
                        flush=True,
                    )
    finally:
        if server is not None:
            server.stop()
    data = real_demo_data(300, 1)
    costs = one_off_costs(data)
    trial_s = quick_trial_seconds(data)
    pg8 = max((r for r in rows if r["storage"] == "postgresql" and r["strategy"] == "ours"), key=lambda r: r["workers"])
    # Per trial: the storage calls, and per fold a model build and an RF cache read. The study load and the
    # images' cache load happen once per worker (the objective keeps the data across trials).
    outside = pg8["median_ms"] / 1000 + FOLDS * (costs["model_build_s"] + costs["rf_cache_load_s"])
    result = {
        "bench": "overhead",
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "reports_per_trial": FOLDS * EPOCHS_PER_FOLD,
        "storage": rows,
        **costs,
        "quick_trial_s": round(trial_s, 1),
        "postgres_most_workers": pg8["workers"],
        "postgres_8_workers_ms": pg8["median_ms"],
        "storage_goal_met": pg8["median_ms"] <= 50,
        "storage_share_of_quick_trial": round(pg8["median_ms"] / 1000 / trial_s, 4),
        "outside_training_share_of_quick_trial": round(outside / trial_s, 4),
        "total_s": round(time.perf_counter() - started, 1),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
