"""PostgreSQL for real: a study across a server restart, an outage past the limit, connections per worker."""

from __future__ import annotations

import re
import time
from pathlib import Path

import optuna
from _cli import Background, launch_args, load, trials_now, wait_for

from storage.open import MAX_OVERFLOW, POOL_SIZE

States = optuna.trial.TrialState


def _finished(url: str, name: str) -> int:
    return len(trials_now(url, name, States.COMPLETE, States.PRUNED))


def test_a_study_survives_a_postgres_restart_within_its_connection_budget(
    postgres, demo_folder: Path, shared_cache: Path, tmp_path: Path
) -> None:
    url = postgres.create_database()
    database = url.rsplit("/", 1)[1]
    args = launch_args("pg", url, demo_folder, tmp_path, shared_cache, "--workers", "2", "--trials", "3")
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
    trials = load(url, "pg").trials
    assert [t.number for t in trials] == list(range(len(trials)))  # no gaps
    assert all(t.state in (States.COMPLETE, States.PRUNED) for t in trials), [t.state.name for t in trials]
    assert len(trials) >= 3
    assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)  # no duplicates
    assert len(peak) >= 3  # the launcher and two workers
    assert max(peak.values()) <= POOL_SIZE + MAX_OVERFLOW
    retried = sum(len(re.findall(r"storage unreachable", p.read_text())) for p in (tmp_path / "logs").glob("*.log"))
    print(f"restart took {downtime:.1f} s; {len(trials)} trials, all finished once; {retried} retried storage calls; "
          f"peak connections per process: {sorted(peak.values(), reverse=True)}")  # fmt: skip


def test_workers_exit_with_one_clear_line_when_the_database_stays_down(
    postgres, demo_folder: Path, shared_cache: Path, tmp_path: Path
) -> None:
    url = postgres.create_database()
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
        assert last.startswith("error: the study storage postgresql://postgres:***@") and "unreachable for 6 s" in last
        assert "s3cret" not in log and "Traceback" not in log
    assert "worker 0: error: the study storage" in output and "worker 1: error:" in output
