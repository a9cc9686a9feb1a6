"""Running ``dfu-search`` as a user would: a real process."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "search"]
#: The smallest study trial: pre-training and fusion, no stage 2 (each stage's fit costs ~2 s of graph
#: tracing on CPU, more than its epochs here). test_training runs all three stages.
# fmt: off
TINY = ["--set", "image_size=16", "--set", "epochs_pretrain=3", "--set", "epochs_stage1=2", "--set", "epochs_stage2=0",
        "--set", "rf_trees=30", "--set", "patience_pretrain=3", "--set", "patience_stage1=2",
        "--set", "batch_size=8"]
# fmt: on


def launch_args(study: str, storage: str, data: Path, tmp_path: Path, cache: Path, *extra) -> list:
    """``launch`` of a small study: 2 folds of the quick preset at TINY size, logs under ``tmp_path``."""
    return ["launch", "--study", study, "--storage", storage, "--data", data, "--folds", "2", "--preset", "quick",
            *TINY, "--cache-dir", cache, "--log-dir", tmp_path / "logs", *extra]  # fmt: skip


def run_cli(*args, cwd: Path | None = None, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


class Background:
    """A ``dfu-search`` process in the background; its output goes to a file, so it can never block on a full pipe."""

    def __init__(self, *args, cwd: Path, env: dict | None = None) -> None:
        self.output_path = Path(cwd) / f"background-{os.getpid()}-{id(self)}.out"
        with open(self.output_path, "w") as out:
            self.process = subprocess.Popen(
                [*CLI, *map(str, args)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**os.environ, **(env or {})},
            )

    def wait(self, timeout: float) -> tuple[int, str]:
        """Wait for the exit; returns (exit code, everything it printed)."""
        code = self.process.wait(timeout=timeout)
        return code, self.output_path.read_text()

    def poll(self) -> int | None:
        return self.process.poll()

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@functools.cache
def _storage(url: str):
    from storage import open_storage

    return open_storage(url, heartbeat=None)  # one per URL: each holds a connection pool


def load(url: str, name: str):
    """The study, read through a storage without heartbeats (the tests only watch)."""
    import optuna

    return optuna.load_study(study_name=name, storage=_storage(url))


def trials_now(url: str, name: str, *states) -> list:
    """Trials in these states (all if none given); none while the launcher has not created the study yet."""
    try:
        return load(url, name).get_trials(states=states or None)
    except KeyError:
        return []


def wait_for(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def artifact_file(study, trial, filename: str, store: Path) -> Path:
    """Where ``filename``, uploaded for ``trial``, lies in the file-system artifact store ``store``."""
    import optuna

    metas = {m.filename: m for m in optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)}
    return store / metas[filename].artifact_id
