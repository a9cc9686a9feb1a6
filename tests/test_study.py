"""Studies end to end with real worker processes, on SQLite and the journal file (PostgreSQL: test_postgres.py)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from _cli import Background, launch_args, load, run_cli, trials_now, wait_for

from search.study import StudySettings
from trainer.config import TrainConfig

States = optuna.trial.TrialState


def test_launch_meets_the_budget_and_relaunch_adds_trials(
    demo_folder: Path, shared_cache: Path, tmp_path: Path
) -> None:
    # SQLite here; PostgreSQL runs a 2-worker study in test_postgres (through a server restart) and the
    # query tests, the journal file in the worker-stopping test below
    storage_url = f"sqlite:///{tmp_path / 'studies.db'}"
    args = launch_args("s", storage_url, demo_folder, tmp_path, shared_cache, "--pruner", "none")
    result = run_cli(*args, "--workers", "2", "--trials", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    study = load(storage_url, "s")
    finished = [t for t in study.trials if t.state in (States.COMPLETE, States.PRUNED)]
    assert 2 <= len(finished) <= 2 + 1  # overshoot only by a trial already running on the other worker
    assert not [t for t in study.trials if t.state == States.RUNNING]
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == len(params)  # workers sample distinct parameters
    assert len({t.user_attrs["worker"]["pid"] for t in study.trials}) == 2

    # the same step means the same fold/stage/epoch in every trial
    config = TrainConfig(**{**StudySettings.load(study).base_config, "modalities": ()})
    for trial in finished:
        for step, fold, stage, epoch, *_ in trial.user_attrs["curve"]:
            assert step == config.global_step(fold, stage, epoch)
        assert set(trial.intermediate_values) == {row[0] for row in trial.user_attrs["curve"]}
        assert trial.user_attrs["config"]["image_size"] == 16

    again = run_cli(*args, "--workers", "1", "--trials", "1", cwd=tmp_path)  # resumes: only --trials counts
    assert again.returncode == 0, again.stdout[-3000:]
    study = load(storage_url, "s")
    assert len([t for t in study.trials if t.state in (States.COMPLETE, States.PRUNED)]) >= len(finished) + 1
    assert not [t for t in study.trials if t.state == States.RUNNING]


def test_enqueued_degenerate_is_stopped_and_default_completes(preset_study) -> None:
    url = preset_study.url
    study = load(url, "presets")
    by_preset = {t.user_attrs.get("enqueued"): t for t in study.trials}
    degenerate, default = by_preset["degenerate"], by_preset["default"]
    assert default.state == States.COMPLETE and default.value > 0
    config = degenerate.user_attrs["config"]
    assert (config["lr_stage1"], config["cnn_blocks"], config["fusion"]) == (1e-6, 4, "fixed")  # the preset, pinned
    # its oversized image branch predicts one class; the rules end that pre-training, and at the second epoch of its
    # fused stage 1 — whose LR of 1e-6 moves no weight, whatever BatchNorm's statistics do to its predictions — no
    # better than the RandomForest alone, a degeneracy rule ends the trial: a few epochs, as make demo shows it.
    # (Enqueued first, as in make demo: no completed trial yet, so near-best cannot be what ends it.)
    curve = degenerate.user_attrs["curve"]
    assert degenerate.state == States.PRUNED
    reason = degenerate.user_attrs["prune_reason"]
    pretraining = [row for row in curve if row[1] == reason["fold"] and row[2] == "pretrain"]
    histogram = pretraining[-1][7]  # the preset's signature (README): one class for at least 90 % of the visits
    assert pretraining[0][3] == 1 and max(histogram) >= 0.9 * sum(histogram)
    assert reason["stage"] == "stage1"
    assert reason["rule"] in {"images_add_nothing", "collapsed", "kappa_nonpositive"}, reason
    assert degenerate.user_attrs["epochs_trained"] <= 8, curve
    stage1 = [row for row in curve if row[1] == reason["fold"] and row[2] == "stage1"]
    assert stage1[-1][14] is not None and stage1[-1][14] < 1e-3  # training moved no weight (weight_change)
    status = run_cli("status", "--study", "presets", "--storage", url)
    assert status.returncode == 0 and reason["rule"] in status.stdout and "pruned trials" in status.stdout
    narrow = run_cli("status", "--study", "presets", "--storage", url, env={"COLUMNS": "80"}).stdout
    enqueued = narrow.split("enqueued presets", 1)[1].split("trials per worker", 1)[0]
    assert "…" not in enqueued and "partial" in enqueued  # rules wrap, never cut; a pruned value is marked partial


def test_a_stopped_or_killed_worker_is_restarted_and_its_trial_rerun(
    demo_folder: Path, shared_cache: Path, tmp_path: Path
) -> None:
    """SIGTERM (an eviction, ``docker stop``): the worker ends its trial at the next epoch, failed and queued
    again, and exits; then SIGKILL of the restarted worker mid-rerun: the launcher fails and re-queues the
    trial itself. On a journal file, where no heartbeats exist: only the launcher notices."""
    storage_url = f"journal:///{tmp_path / 'j.log'}"
    args = launch_args("k", storage_url, demo_folder, tmp_path, shared_cache, "--pruner", "none", "--no-rules")
    launcher = Background(*args, "--workers", "1", "--trials", "1", cwd=tmp_path)

    def training(number: int | None = None):
        trials = trials_now(storage_url, "k", States.RUNNING)
        return next((t for t in trials if t.user_attrs.get("worker") and t.intermediate_values
                     and (number is None or t.user_attrs.get("retry_of") == number)), None)  # fmt: skip

    try:
        victim = wait_for(training, 240, "a running trial")
        os.kill(victim.user_attrs["worker"]["pid"], signal.SIGTERM)
        rerun = wait_for(lambda: training(victim.number), 240, "the rerun training")
        os.kill(rerun.user_attrs["worker"]["pid"], signal.SIGKILL)
        killed_at = time.time()
        code, output = launcher.wait(timeout=600)
    finally:
        launcher.kill()
    assert code == 0, output[-3000:]
    study = load(storage_url, "k")
    stopped, killed = study.trials[victim.number], study.trials[rerun.number]
    assert stopped.state == States.FAIL and "SIGTERM" in stopped.user_attrs.get("error", "")
    assert killed.state == States.FAIL and killed.params == victim.params
    final = next(t for t in study.trials if t.user_attrs.get("retries") == 2)
    assert final.user_attrs["retry_of"] == victim.number and final.params == victim.params
    assert final.state == States.COMPLETE and len(study.trials) == 3  # the budget of 1, met by the rerun
    assert not [t for t in study.trials if t.state == States.RUNNING]
    assert "SIGTERM: stopping at the next epoch boundary" in (tmp_path / "logs" / "worker-0.log").read_text()
    seconds = final.datetime_start.timestamp() - killed_at
    print(f"kill → retry started: {seconds:.1f} s")
    assert seconds < 60


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _cmdline(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return f"{pid} {stat} " + Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return f"{pid} (gone)"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's wait is missing


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_stopping_the_launcher_stops_its_workers_and_loses_no_trial(
    how: str, demo_folder: Path, shared_cache: Path, tmp_path: Path
) -> None:
    """Ctrl-C: the workers end their trials at an epoch boundary, failed and queued again; exit 130.
    SIGKILL (no chance to clean up): the workers notice their parent is gone and do the same themselves."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    args = launch_args("c", url, demo_folder, tmp_path, shared_cache, "--workers", "2", "--trials", "50")
    launcher = Background(*args, cwd=tmp_path)
    try:
        wait_for(lambda: len([t for t in trials_now(url, "c", States.RUNNING) if t.intermediate_values]) == 2,
                 240, "two trials training")  # fmt: skip
        workers = _children(launcher.process.pid)
        logs = {p.name: p.read_text()[-1500:] for p in (tmp_path / "logs").glob("*.log")}
        assert len(workers) == 2, ([_cmdline(pid) for pid in workers], launcher.output_path.read_text()[-2000:], logs)
        if how == "ctrl-c":
            launcher.send_signal(signal.SIGINT)
            code, _ = launcher.wait(timeout=120)
            assert code == 130
        else:
            launcher.process.kill()
            launcher.process.wait()
            killed = time.monotonic()
            wait_for(lambda: not any(_alive(pid) for pid in workers), 10, "the orphaned workers to stop")
            print(f"workers gone {time.monotonic() - killed:.1f} s after the launcher's SIGKILL")
    finally:
        launcher.kill()
    study = load(url, "c")
    assert not [t for t in study.trials if t.state == States.RUNNING]
    interrupted = [t for t in study.trials if t.state == States.FAIL]
    assert len(interrupted) == 2
    for trial in interrupted:  # each queued again with the same parameters, to run on the next launch
        retry = next(t for t in study.trials if t.user_attrs.get("retry_of") == trial.number)
        assert retry.state == States.WAITING and retry.system_attrs["fixed_params"] == trial.params


def test_worker_with_different_data_refuses_to_join(demo_folder: Path, demo_copy: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    created = run_cli(
        "launch", "--study", "fp", "--storage", url, "--data", demo_folder, "--workers", "0", cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    assert "join it from any machine" in created.stdout
    (demo_copy / "bounding_box_depth.csv").write_text((demo_copy / "bounding_box_depth.csv").read_text() + "\n")
    joined = run_cli("worker", "--study", "fp", "--storage", url, "--data", demo_copy)
    assert joined.returncode == 2
    last = joined.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "refusing to join" in last and "bounding_box_depth.csv" in last
    assert not load(url, "fp").trials


def test_a_study_through_the_grpc_proxy(demo_folder: Path, shared_cache: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    database = f"sqlite:///{tmp_path / 'behind-proxy.db'}"
    proxy = Background("proxy", "--storage", database, "--port", port, cwd=tmp_path)
    try:
        wait_for(lambda: "proxy for" in proxy.output_path.read_text(), 60, "the proxy")
        args = launch_args("p", f"grpc://127.0.0.1:{port}", demo_folder, tmp_path, shared_cache)
        result = run_cli(*args, "--workers", "1", "--trials", "1", cwd=tmp_path)
    finally:
        proxy.kill()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    study = load(database, "p")  # the trials landed in the database behind the proxy
    assert len([t for t in study.trials if t.state in (States.COMPLETE, States.PRUNED)]) >= 1
