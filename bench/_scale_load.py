"""One load-generator process of ``bench/scale.py``: many simulated workers as threads, every storage call timed.

    python bench/_scale_load.py --study S --storage URL --curves F --first 0 --workers 50 --epoch-seconds 1 --out F.json

Each thread is a :func:`~search.replay._simulated_worker.run_simulated_worker` (its own storage and connection
pool, as a worker process has). The calls a worker makes are timed where Optuna makes them, end to end as the
worker waits for them (retries included):

- ``ask``: ``Study.ask`` (the sampler reads the study, then a trial is created or a queued one taken);
- ``report``: ``Trial.report``; ``should_prune``: ``Trial.should_prune`` (the trial read back, the pruner's reads);
- ``set_attr``: ``Trial.set_user_attr``; ``tell``: the storage's ``set_trial_state_values`` that ends a trial;
- ``heartbeat``: ``record_heartbeat``; ``budget``: the trial loop's count of finished trials.

The process writes one JSON file: per call its latencies and end times (seconds since ``--t0``), the
retries the resilient storage logged, the workers' errors, and the process's own CPU seconds.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import resource
import threading
import time
from collections import defaultdict
from pathlib import Path

import _common  # noqa: F401  (puts the repository on sys.path)
import optuna

from search.replay import first_folds, load_recording, run_simulated_worker
from search.study import StaleTrialRetry
from search.workers import _worker as worker_module
from storage import HeartbeatSettings

CALLS: dict[str, list[tuple[float, float]]] = defaultdict(list)  # name → [(end time, seconds)]
T0 = 0.0


def _timed(name: str, function, when=None):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.time()
        try:
            return function(*args, **kwargs)
        finally:
            if when is None or when(*args, **kwargs):
                ended = time.time()
                CALLS[name].append((round(ended - T0, 4), round(ended - started, 5)))  # list.append: thread-safe

    return wrapper


def _ends_trial(self, trial_id, state, values=None) -> bool:
    return state.is_finished()


def instrument() -> None:
    """Time the worker's storage calls wherever Optuna makes them (class attributes: every thread's objects)."""
    from optuna.storages import GrpcStorageProxy

    from storage import ResilientRDBStorage

    optuna.study.Study.ask = _timed("ask", optuna.study.Study.ask)
    optuna.trial.Trial.report = _timed("report", optuna.trial.Trial.report)
    optuna.trial.Trial.should_prune = _timed("should_prune", optuna.trial.Trial.should_prune)
    optuna.trial.Trial.set_user_attr = _timed("set_attr", optuna.trial.Trial.set_user_attr)
    worker_module.finished_trials = _timed("budget", worker_module.finished_trials)  # as the trial loop calls it
    for storage in (ResilientRDBStorage, GrpcStorageProxy):
        storage.set_trial_state_values = _timed("tell", storage.set_trial_state_values, _ends_trial)
    ResilientRDBStorage.record_heartbeat = _timed("heartbeat", ResilientRDBStorage.record_heartbeat)


class _Count(logging.Handler):
    """Counts the resilient storage's retries (its warnings) and the workers' logged errors."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = defaultdict(int)
        self.samples: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = f"{record.name}:{record.levelname}"
        self.counts[key] += 1
        self.samples.setdefault(key, record.getMessage()[:300])


def main() -> None:
    global T0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--curves", type=Path, required=True)
    parser.add_argument("--first", type=int, default=0, help="index of this process's first worker")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--epoch-seconds", type=float, default=1.0)
    parser.add_argument("--folds", type=int, default=None, help="replay only the recording's first folds (tests)")
    parser.add_argument("--heartbeat", type=int, default=2, help="heartbeat interval, s (0: none, as through a proxy)")
    parser.add_argument("--grace", type=int, default=30)
    parser.add_argument("--t0", type=float, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    T0 = args.t0 or time.time()
    counter = _Count()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger().addHandler(counter)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    instrument()
    recording = load_recording(args.curves)
    if args.folds:
        recording = first_folds(recording, args.folds)
    heartbeat = None
    if args.heartbeat:
        heartbeat = HeartbeatSettings(interval=args.heartbeat, grace_period=args.grace, on_stale=StaleTrialRetry())
    store, errors, ran = set(), [], []

    def worker(index: int) -> None:
        try:
            ran.append(run_simulated_worker(args.study, args.storage, recording, args.epoch_seconds, index, heartbeat,
                                            store))  # fmt: skip
        except BaseException as exc:  # noqa: BLE001  (counted and reported: the benchmark's errors column)
            errors.append(repr(exc)[:300])

    threads = [threading.Thread(target=worker, args=(args.first + i,), name=f"w{args.first + i}", daemon=True)
               for i in range(args.workers)]  # fmt: skip
    for thread in threads:
        thread.start()
        time.sleep(0.01)  # workers join over a second or so, as a launcher's do
    for thread in threads:
        thread.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "pid": os.getpid(),
        "workers": args.workers,
        "trials_ran": sum(ran),
        "errors": errors,
        "log_counts": dict(counter.counts),
        "log_samples": counter.samples,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "calls": {name: values for name, values in CALLS.items()},
    }
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
