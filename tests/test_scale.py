"""Many workers on one PostgreSQL: nothing lost, duplicated or left RUNNING, the budget met (bench/scale.py, small).

Simulated workers (the real worker around recorded curves, :mod:`search.replay._simulated_worker`) run as threads of
``bench/_scale_load.py`` processes, as the load benchmark runs them, while the test kills a process of them and
terminates database backends under their writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.replay import load_recording, nearest_recorded, simulated_settings
from search.replay._simulated_worker import first_folds
from search.study import check_integrity, retry_trial
from storage import open_storage

REPO = Path(__file__).resolve().parents[1]
CURVES = REPO / "bench" / "results" / "pruning-v2-curves-seed0.json.gz"
OUTAGE_LIMIT, HEARTBEAT, GRACE = 6, 1, 9  # grace > outage limit + 2 heartbeats, as the storage requires


def _generator(url: str, first: int, workers: int, out: Path, epoch_seconds: float) -> subprocess.Popen:
    command = [sys.executable, str(REPO / "bench" / "_scale_load.py"), "--study", "scale", "--storage", url,
               "--curves", str(CURVES), "--first", str(first), "--workers", str(workers), "--epoch-seconds",
               str(epoch_seconds), "--heartbeat", str(HEARTBEAT), "--grace", str(GRACE), "--out", str(out), "--folds", "1"]  # fmt: skip
    env = {**os.environ, "DFU_SEARCH_OUTAGE_LIMIT": str(OUTAGE_LIMIT), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_twenty_workers_lose_nothing_through_killed_workers_and_terminated_backends(postgres, tmp_path: Path) -> None:
    recording = first_folds(load_recording(CURVES), 1)  # one fold of the recorded curves: short trials
    url = postgres.create_database()
    database = url.rsplit("/", 1)[1]
    storage = open_storage(url, None)
    study = optuna.create_study(study_name="scale", storage=storage, direction="maximize")
    budget = 12
    simulated_settings(recording, budget, "running-mean").save(study)

    # 1. Eight workers take a trial each and are killed (SIGKILL: no re-queue of their own), some of them
    #    before their heartbeat thread has beaten once.
    doomed = _generator(url, 0, 8, tmp_path / "doomed.json", epoch_seconds=0.5)
    deadline = time.time() + 60
    while len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))) < 8:
        assert doomed.poll() is None and time.time() < deadline, doomed.stdout.read() if doomed.poll() else "slow"
        time.sleep(0.05)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    orphans = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    assert len(orphans) == 8
    time.sleep(GRACE + 0.5)  # their heartbeats are now stale: the next worker to start a trial re-queues them
    # Two recorded trials whose fold 0 the degeneracy rules end (kappa_nonpositive, replayed alone), queued so that
    # a prune happens whatever TPE samples: in a study this short the race has few complete trials to race against.
    doomed_by_rules = [recording.trials[15], recording.trials[61]]
    for recorded in doomed_by_rules:
        study.enqueue_trial(recorded.params, skip_if_exists=False)

    # 2. Twelve workers (two processes) finish the study while backends are terminated under their writes.
    survivors = [_generator(url, 8 + 6 * k, 6, tmp_path / f"survivors{k}.json", epoch_seconds=0.0) for k in (0, 1)]
    terminated = 0

    def terminate() -> None:
        nonlocal terminated
        while any(p.poll() is None for p in survivors):
            time.sleep(0.7)
            (count,), = postgres.query(
                "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity where datname = "
                f"'{database}' and application_name like 'dfu-search:%' order by (state = 'active') desc, random() "
                "limit 1) t")  # fmt: skip
            terminated += count

    killer = threading.Thread(target=terminate, daemon=True)
    killer.start()
    outputs = [p.communicate(timeout=300)[0] for p in survivors]
    killer.join()
    assert [p.returncode for p in survivors] == [0, 0], outputs
    results = [json.loads((tmp_path / f"survivors{k}.json").read_text()) for k in (0, 1)]
    assert [r["errors"] for r in results] == [[], []], outputs

    integrity = check_integrity(study, budget)
    assert integrity.whole(workers=12), (integrity, outputs)
    trials = study.get_trials(deepcopy=False)
    requeued = {t.user_attrs.get("retry_of") for t in trials if t.user_attrs.get("retries")}
    assert orphans <= requeued  # every killed worker's trial was queued again, by the heartbeat sweep
    assert all(t.state == TrialState.FAIL for t in trials if t.number in orphans)
    retried = sum(r["log_counts"].get("storage._resilient:WARNING", 0) for r in results)
    assert terminated > 0 and retried > 0, (terminated, results)
    # the pruner ran on the replayed curves: early stops recorded with their rule, as in a real study
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert all(t.user_attrs["prune_reason"]["rule"] for t in pruned)
    by_rules = [t for t in trials if t.params in [r.params for r in doomed_by_rules]]
    assert [t.state for t in by_rules] == [TrialState.PRUNED] * 2, [t.user_attrs for t in by_rules]
    assert {t.user_attrs["prune_reason"]["rule"] for t in by_rules} == {"kappa_nonpositive"}


def test_a_failed_trial_retried_by_many_processes_at_once_is_queued_once(postgres) -> None:
    """The heartbeat sweep of every worker, the launcher and the worker itself may all retry one trial (and after
    an outage none can tell whose FAIL landed): the claim and the copy are one transaction, so one copy."""
    url = postgres.create_database()
    study = optuna.create_study(study_name="r", storage=open_storage(url, None), direction="maximize")
    lost = study.ask({"lr_stage1": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)})
    frozen = study._storage.get_trial(lost._trial_id)
    gate = threading.Barrier(8)
    queued: list[bool] = []

    def retry() -> None:
        mine = optuna.load_study(study_name="r", storage=open_storage(url, None))  # a process of its own
        gate.wait()
        queued.append(retry_trial(mine, frozen))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    copies = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("retry_of") == lost.number]
    assert len(copies) == 1 and sorted(queued) == [False] * 7 + [True]


def test_integrity_counts_what_a_broken_study_shows() -> None:
    """A trial left RUNNING, one failed and never queued again, one queued twice: each is counted."""
    study = optuna.create_study(direction="maximize")
    for value in (0.3, 0.4):
        study.tell(study.ask(), value)
    study.ask()  # left RUNNING
    lost = study.ask()
    study.tell(lost, state=TrialState.FAIL)
    twice = study.ask()
    study.tell(twice, state=TrialState.FAIL)
    for _ in range(2):
        study.enqueue_trial({}, user_attrs={"retry_of": twice.number, "retries": 1}, skip_if_exists=False)
    integrity = check_integrity(study, budget=2)
    assert (integrity.lost, integrity.duplicated, integrity.running, integrity.overshoot) == (1, 1, 1, 0)
    assert not integrity.whole(workers=4)
    assert check_integrity(study, budget=3).overshoot == -1  # the budget not met


def test_a_sampled_configuration_trains_as_the_nearest_recorded_trial() -> None:
    recording = load_recording(CURVES)
    target = recording.trials[7]
    near = {k: v * 1.01 if isinstance(v, float) else v for k, v in target.params.items()}
    assert nearest_recorded(recording, near) is target


pytestmark = pytest.mark.timeout(300)
