"""PostgreSQL for real: a study across a server restart, an outage past the limit, connections per worker."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import optuna
import pytest
from _cli import Background, launch_args, load, run_cli, trials_now, wait_for

from storage import MAX_OVERFLOW, POOL_SIZE

States = optuna.trial.TrialState


def _finished(url: str, name: str) -> int:
    return len(trials_now(url, name, States.COMPLETE, States.PRUNED))


def test_a_study_survives_a_postgres_restart_within_its_connection_budget(
    postgres, demo_folder: Path, shared_cache: Path, tmp_path: Path
) -> None:
    url = postgres.create_database()
    database = url.rsplit("/", 1)[1]
    args = launch_args("pg", url, demo_folder, tmp_path, shared_cache, "--workers", "2", "--trials", "2")
    launcher = Background(*args, "--pruner", "none", cwd=tmp_path)
    peak: dict[str, int] = {}

    def watch_connections() -> None:
        rows = postgres.query(
            f"SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = '{database}' "
            "AND application_name LIKE 'dfu-search:%' GROUP BY application_name"
        )
        for name, count in rows:
            peak[name] = max(peak.get(name, 0), count)

    try:
        wait_for(lambda: watch_connections() or _finished(url, "pg") >= 1, 300, "a finished trial")
        started = time.monotonic()
        postgres.restart_server()
        downtime = time.monotonic() - started
        while launcher.poll() is None:
            try:
                watch_connections()
            except Exception:  # noqa: BLE001 (the server is coming back)
                pass
            time.sleep(0.2)
        code, output = launcher.wait(timeout=600)
    finally:
        launcher.kill()
    assert code == 0, output[-3000:]
    study = load(url, "pg")
    status = run_cli("status", "--study", "pg", "--storage", url)
    study_attrs = [study.user_attrs, study._storage.get_study_system_attrs(study._study_id)]
    shown = [output, status.stdout + status.stderr, json.dumps(study_attrs, default=str)]
    shown += [json.dumps([t.user_attrs, t.system_attrs], default=str) for t in study.trials]
    shown += [p.read_text() for p in (tmp_path / "logs").glob("*.log")]
    assert status.returncode == 0 and not [text for text in shown if "s3cret" in text]  # the password nowhere
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))  # no gaps
    assert all(t.state in (States.COMPLETE, States.PRUNED) for t in trials), [t.state.name for t in trials]
    assert len(trials) >= 2
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)  # no duplicates
    assert len(peak) >= 3  # the launcher and two workers
    assert max(peak.values()) <= POOL_SIZE + MAX_OVERFLOW
    retried = sum(len(re.findall(r"storage unreachable", p.read_text())) for p in (tmp_path / "logs").glob("*.log"))
    print(f"restart took {downtime:.1f} s; {len(trials)} trials, all finished once; {retried} retried storage calls; "
          f"peak connections per process: {sorted(peak.values(), reverse=True)}")  # fmt: skip


def test_workers_exit_with_one_clear_line_when_the_database_stays_down(
    postgres, demo_folder: Path, shared_cache: Path, tmp_path: Path
) -> None:
    # the password as a query parameter this time: it must be hidden in that form too
    url = postgres.create_database().replace("postgres:s3cret-pw@", "postgres@") + "?password=s3cret-pw"
    args = launch_args("down", url, demo_folder, tmp_path, shared_cache, "--workers", "2", "--trials", "50")
    launcher = Background(*args, cwd=tmp_path, env={"DFU_SEARCH_OUTAGE_LIMIT": "6"})
    try:
        wait_for(lambda: trials_now(url, "down", States.RUNNING), 300, "running trials")
        postgres.stop_server()
        try:
            code, output = launcher.wait(timeout=180)
        finally:
            postgres.start_server()
    finally:
        launcher.kill()
    assert code == 1, output[-3000:]
    for i in (0, 1):
        log = (tmp_path / "logs" / f"worker-{i}.log").read_text()
        last = [line for line in log.splitlines() if line.strip()][-1]
        assert last.startswith("error: the study storage postgresql://postgres@") and "unreachable for 6 s" in last
        assert "?password=***" in last
        assert "s3cret" not in log and "Traceback" not in log
    assert "worker 0: error: the study storage" in output and "worker 1: error:" in output
    assert "s3cret" not in output


class _CutAfterCommit:
    """Fault injection at the worst moment: the server commits, then the connection dies before the client
    hears (the server backend is really terminated). Wraps Optuna's session helper, which turns the lost
    COMMIT into a ``StorageInternalError`` from an ``OperationalError``, as a real broken connection does."""

    def __init__(self, server, database: str, real) -> None:
        self.server, self.database, self.real, self.armed = server, database, real, 0

    @contextlib.contextmanager
    def __call__(self, scoped_session, ignore_integrity_error: bool = False):
        import sqlalchemy
        from optuna.storages._rdb.models import TrialModel
        from sqlalchemy.exc import OperationalError

        with self.real(scoped_session, ignore_integrity_error) as session:
            backend = session.execute(sqlalchemy.text("select pg_backend_pid()")).scalar()
            yield session
            writes_a_trial = any(isinstance(row, TrialModel) for row in session.dirty)  # not a read
        if self.armed and writes_a_trial:  # committed: now lose the acknowledgement
            self.armed -= 1
            self.server.query(f"select pg_terminate_backend({backend})", self.database)
            lost = OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
            raise optuna.exceptions.StorageInternalError("the connection broke during the commit") from lost


@pytest.mark.parametrize("resilient", [True, False], ids=["ours", "plain-optuna"])
def test_a_lost_commit_acknowledgement_neither_duplicates_nor_orphans_a_trial(
    resilient: bool, postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna.storages._rdb.storage as rdb

    import storage._resilient
    from storage import open_storage

    url = postgres.create_database()
    database = url.rsplit("/", 1)[1]
    cut = _CutAfterCommit(postgres, database, rdb._create_scoped_session)
    monkeypatch.setattr(rdb, "_create_scoped_session", cut)
    monkeypatch.setattr(storage._resilient, "_create_scoped_session", cut)
    if resilient:
        backend = open_storage(url, heartbeat=None, outage_limit=30, wait_at_start=True)
    else:
        backend = optuna.storages.RDBStorage(
            url.replace("postgresql://", "postgresql+psycopg://"), engine_kwargs={"pool_pre_ping": True}
        )
    study = optuna.create_study(study_name="cut", storage=backend, direction="maximize")

    cut.armed = 1  # study.ask() creates a trial; the acknowledgement of its INSERT is lost
    trial = study.ask()
    study.tell(trial, 0.5)
    created = [(t.number, t.state) for t in study.get_trials()]
    assert cut.armed == 0
    if not resilient:  # Optuna's own retry inserts again: a second trial, and the first one RUNNING for ever
        assert created == [(0, States.RUNNING), (1, States.COMPLETE)]
        return
    assert created == [(0, States.COMPLETE)]  # one trial, not two

    study.enqueue_trial({"x": 1.0})
    cut.armed = 1  # study.ask() takes the WAITING trial; the acknowledgement of WAITING → RUNNING is lost
    taken = study.ask()
    taken.suggest_float("x", 0, 2)
    study.tell(taken, 0.7)
    states = [t.state for t in study.get_trials()]
    assert taken.number == 1 and taken.params == {"x": 1.0}  # the enqueued trial, taken once, by us
    assert states == [States.COMPLETE, States.COMPLETE]  # nothing RUNNING or WAITING left behind
    assert cut.armed == 0  # both cuts happened


def test_heartbeats_ride_out_an_outage_and_outlast_it(postgres, caplog: pytest.LogCaptureFixture) -> None:
    """A heartbeat that cannot reach the database is logged, not fatal (Optuna's heartbeat thread dies at its
    first exception); and the grace period outlasts the outage limit, so no other worker fails a live trial."""
    from storage import HeartbeatSettings, StorageError, open_storage

    url = postgres.create_database()
    backend = open_storage(url, HeartbeatSettings(interval=1), outage_limit=6, wait_at_start=True)
    assert backend.grace_period == 6 + 3 * 1
    with pytest.raises(StorageError, match="must exceed the outage limit"):
        open_storage(url, HeartbeatSettings(interval=30, grace_period=120), outage_limit=120)
    study = optuna.create_study(study_name="hb", storage=backend, direction="maximize")
    trial = study.ask()
    postgres.stop_server()
    try:
        backend.record_heartbeat(trial._trial_id)  # the database is down: no exception
    finally:
        postgres.start_server()
    assert "heartbeat of trial" in caplog.text and "not recorded" in caplog.text
    backend.record_heartbeat(trial._trial_id)  # and the next one lands
    study.tell(trial, 0.5)
    assert study.trials[0].state == States.COMPLETE
