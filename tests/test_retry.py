"""One retry path for a lost trial, whoever notices the loss: the heartbeat sweep, the launcher, the worker."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest

from search.study import StaleTrialRetry, fail_and_retry, retry_trial
from storage import HeartbeatSettings, open_storage

States = optuna.trial.TrialState
CURVES = Path(__file__).resolve().parents[1] / "bench" / "results" / "pruning-v2-curves-seed0.json.gz"


@pytest.fixture
def study(tmp_path: Path) -> optuna.Study:
    """A study on SQLite whose heartbeats go stale after 3 s, retried through the search's path."""
    heartbeat = HeartbeatSettings(interval=1, grace_period=3, on_stale=StaleTrialRetry())
    storage = open_storage(f"sqlite:///{tmp_path / 'retry.db'}", heartbeat, outage_limit=0.5)
    return optuna.create_study(study_name="r", storage=storage, direction="maximize")


def _lost_trial(study: optuna.Study, pid: int = 4242) -> optuna.trial.FrozenTrial:
    """A RUNNING trial whose worker beat once and then went silent, after recording what a real one records."""
    trial = study.ask({"lr_stage1": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)})
    trial.set_user_attr("worker", {"host": "h", "pid": pid, "gpu": "cpu"})
    trial.set_user_attr("overrides", {"fusion": "fixed"})
    trial.set_user_attr("stage_stops", [{"rule": "stalled", "fold": 0, "stage": "pretrain", "epoch": 3}])
    trial.report(0.3, 0)
    study._storage.record_heartbeat(trial._trial_id)
    return study._storage.get_trial(trial._trial_id)


def _sweep_until_stale(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """What every worker's next trial does first, until the trial is past its grace period (SQLite's clock
    counts whole seconds, so 'past' can come a second late)."""
    deadline = time.monotonic() + 10
    while study._storage.get_trial(trial._trial_id).state == States.RUNNING and time.monotonic() < deadline:
        time.sleep(0.5)
        optuna.storages.fail_stale_trials(study)


def _copies(study: optuna.Study, number: int) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("retry_of") == number]


def test_a_stale_trial_is_queued_again_by_the_search_retry_path(study: optuna.Study) -> None:
    lost = _lost_trial(study)
    _sweep_until_stale(study, lost)
    assert study._storage.get_trial(lost._trial_id).state == States.FAIL
    (copy,) = _copies(study, lost.number)
    assert copy.state == States.WAITING and copy.system_attrs["fixed_params"] == lost.params
    assert copy.user_attrs["retries"] == 1 and copy.user_attrs["overrides"] == {"fusion": "fixed"}
    # what the lost attempt recorded stays with it: `status` must not show its stage stops twice
    assert "stage_stops" not in copy.user_attrs and "worker" not in copy.user_attrs
    assert not any(key.startswith("failed_trial") or "retry" in key for key in copy.system_attrs)


def test_the_launcher_and_the_heartbeat_sweep_see_each_others_retries(study: optuna.Study) -> None:
    """A trial the sweep already re-queued is not queued again by the launcher, nor the other way round."""
    first = _lost_trial(study, pid=1)
    _sweep_until_stale(study, first)
    assert fail_and_retry(study, "h", {1}) == []  # no longer RUNNING: nothing for the launcher to do
    assert retry_trial(study, first) is False  # a late worker re-queue finds the copy
    assert len(_copies(study, first.number)) == 1

    other = optuna.create_study(study_name="r2", storage=study._storage, direction="maximize")  # an empty queue
    second = _lost_trial(other, pid=2)
    assert fail_and_retry(other, "h", {2}) == [second.number]  # the launcher first, this time
    time.sleep(4.5)  # past its grace period, had it stayed RUNNING
    optuna.storages.fail_stale_trials(other)  # not RUNNING any more: the sweep leaves it alone
    assert len(_copies(other, second.number)) == 1


def test_retries_stop_at_the_limit(study: optuna.Study) -> None:
    trial = _lost_trial(study)
    for attempt in range(1, 5):
        retry_trial(study, trial, max_retry=3)
        copies = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("retries") == attempt]
        if attempt > 3:
            assert not copies  # the third retry was the last
            break
        (copy,) = copies
        study._storage.set_trial_state_values(copy._trial_id, States.RUNNING)
        trial = study._storage.get_trial(copy._trial_id)


def test_a_worker_killed_before_its_first_heartbeat_leaves_no_trial_running_for_ever(study: optuna.Study) -> None:
    """Optuna's sweep takes only a trial with a heartbeat for stale; the first beat now comes with the trial."""
    trial = study.ask()  # RUNNING; no heartbeat thread ever beats for it: its worker is "killed" here
    lost = study._storage.get_trial(trial._trial_id)
    _sweep_until_stale(study, lost)
    assert study._storage.get_trial(trial._trial_id).state == States.FAIL
    assert len(_copies(study, lost.number)) == 1


def test_a_live_worker_keeps_the_leaving_worker_from_failing_its_trial(study: optuna.Study) -> None:
    """A RUNNING trial that keeps beating has a live worker, which leaves later (and watches then): the leaving
    worker sees a beat and goes, failing nothing."""
    import threading

    from search.study import wait_out_silent_trials

    running = _lost_trial(study)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.3):
            study._storage.record_heartbeat(running._trial_id)

    beating = threading.Thread(target=beat)
    beating.start()
    try:
        assert wait_out_silent_trials(study) == []
    finally:
        stop.set()
        beating.join()
    assert study._storage.get_trial(running._trial_id).state == States.RUNNING


def test_the_last_worker_out_fails_a_trial_whose_remote_worker_died(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remote worker dies with its trial RUNNING; a live worker meets the budget within the grace period, so the
    sweep at a trial's start never sees it stale. Leaving, the live worker waits out the grace period, fails the
    trial and queues it again; ``status`` says why."""
    from rich.console import Console

    from search.cli._status import print_status
    from search.replay import load_recording, run_simulated_worker, simulated_settings
    from search.replay._simulated_worker import first_folds

    monkeypatch.setenv("DFU_SEARCH_OUTAGE_LIMIT", "0.5")  # grace 3 s must exceed the outage limit + 2 heartbeats
    heartbeat = HeartbeatSettings(interval=1, grace_period=3, on_stale=StaleTrialRetry())
    url = f"sqlite:///{tmp_path / 'last.db'}"
    study = optuna.create_study(study_name="last", storage=open_storage(url, heartbeat), direction="maximize")
    recording = first_folds(load_recording(CURVES), 1)
    simulated_settings(recording, 2, "none").save(study)
    lost = _lost_trial(study)  # its worker beat once, then died on another machine

    assert run_simulated_worker("last", url, recording, 0.0, 0, heartbeat) == 2  # within the grace period
    assert study._storage.get_trial(lost._trial_id).state == States.FAIL
    (copy,) = _copies(study, lost.number)
    assert copy.state == States.WAITING and "failed by the last worker out" in copy.user_attrs["retried_because"]
    console = Console(record=True, width=200)
    print_status(study, console)
    assert f"trial {lost.number} went silent" in console.export_text()
