"""Supervising local workers: start each on its device, restart the dead, stop them all in order.

Each worker is a separate process (``dfu-search worker``) in its own session, pinned to one GPU
(``CUDA_VISIBLE_DEVICES``) or to its share of the CPU cores. A worker that dies has its trial
failed and re-queued at once and is restarted; one that exits 0 has seen the budget met.

Stopping (Ctrl-C, SIGTERM): every worker gets SIGTERM and ends its trial at the next epoch
boundary, failed and queued again (see :mod:`search.workers._stopping`); a second Ctrl-C kills them at once
and sweeps their RUNNING trials. If the launcher itself dies — SIGKILL included — each worker
notices that its parent changed and stops within seconds: no orphans.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from rich.console import Console
from rich.live import Live

from search.study import MAX_RETRY, StudySettings, fail_and_retry
from search.workers._devices import WorkerSlot
from search.workers._live import render
from search.workers._stopping import LAUNCHER_PID_ENV
from storage import ENV_VAR, StorageError

log = logging.getLogger(__name__)

MAX_RESTARTS = 5  # per worker; a worker that keeps dying points at a real problem
_POLL_SECONDS = 1.0
_STOP_GRACE_SECONDS = 20  # a worker forces its own stop after 8 s; this is the margin before we kill it


@dataclass
class WorkerProcess:
    slot: WorkerSlot
    process: subprocess.Popen | None = None
    restarts: int = 0
    state: str = "starting"


class Launcher:
    def __init__(
        self,
        study: optuna.Study,
        settings: StudySettings,
        storage_url: str,
        slots: list[WorkerSlot],
        console: Console,
        cache_dir: Path | None = None,
        max_retry: int = MAX_RETRY,
        reuse_pretraining: bool = True,
    ) -> None:
        self.reuse_pretraining = reuse_pretraining
        self.study, self.settings, self.storage_url = study, settings, storage_url
        self.workers = [WorkerProcess(slot) for slot in slots]
        self.console, self.cache_dir, self.max_retry = console, cache_dir, max_retry
        self.layout = settings.config.layout
        self.host = socket.gethostname()
        self.errors: list[str] = []

    def run(self) -> int:
        """Supervise until every worker is done; returns the launcher's exit code."""
        # Our own handlers: a process started in the background inherits SIGINT *ignored*, and
        # SIGTERM (kill, docker stop) deserves the same orderly stop as Ctrl-C.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupt)
        try:
            for worker in self.workers:
                self._start(worker)
            with Live(self._render(), console=self.console, refresh_per_second=2, transient=False) as live:
                while any(w.state in ("running", "starting") for w in self.workers):
                    time.sleep(_POLL_SECONDS)
                    for worker in self.workers:
                        self._check(worker)
                    live.update(self._render())
            self.console.line()
        except KeyboardInterrupt:
            self.console.print("stopping workers at their next epoch (Ctrl-C again: at once) …")
            self.stop()
            return 130
        for message in self.errors:
            self.console.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
        return 0 if not self.errors else 1

    def stop(self) -> None:
        """SIGTERM every worker (each fails and re-queues its trial); a second interrupt kills them at once."""
        alive = [w for w in self.workers if w.process and w.process.poll() is None]
        for worker in alive:
            worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        try:
            for worker in alive:
                try:
                    worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    worker.process.kill()
                    worker.process.wait()
                worker.state = "stopped"
        except KeyboardInterrupt:
            for worker in alive:
                if worker.process.poll() is None:
                    worker.process.kill()
                    worker.process.wait()
                worker.state = "killed"
        pids = {w.process.pid for w in self.workers if w.process}
        try:  # what a killed worker could not do itself
            fail_and_retry(self.study, self.host, pids, self.max_retry)
        except StorageError as exc:
            self.console.print(f"could not check for RUNNING trials: {exc}", markup=False)

    def _start(self, worker: WorkerProcess) -> None:
        slot = worker.slot
        command = [
            sys.executable,
            "-m",
            "search",
            "worker",
            "--study",
            self.study.study_name,
            "--index",
            str(slot.index),
        ]
        if self.cache_dir is not None:
            command += ["--cache-dir", str(self.cache_dir)]
        if not self.reuse_pretraining:
            command.append("--no-pretrain-cache")
        # the URL through the environment, not the command line: `ps` shows every user the arguments
        env = slot.environment({**os.environ, LAUNCHER_PID_ENV: str(os.getpid()), ENV_VAR: self.storage_url})
        if slot.gpu is not None:
            command += ["--gpu", slot.gpu]
        cores = slot.cores
        slot.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(slot.log_path, "a") as log_file:
            worker.process = subprocess.Popen(
                command,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
                start_new_session=True,  # Ctrl-C reaches the launcher only; it stops the workers in order
            )
        worker.state = "running"

    def _check(self, worker: WorkerProcess) -> None:
        if worker.state != "running" or worker.process.poll() is None:
            return
        code = worker.process.returncode
        if code == 0:
            worker.state = "done"
            return
        try:
            failed = fail_and_retry(self.study, self.host, {worker.process.pid}, self.max_retry)
        except StorageError:
            failed = []  # the database is down; heartbeats fail the trial once it is back
        last_line = _last_error_line(worker.slot.log_path)
        if code == 2:  # a user error (bad data, unreachable storage): restarting cannot help
            worker.state = "error"
            self.errors.append(f"worker {worker.slot.index}: {last_line}")
            return
        if worker.restarts >= MAX_RESTARTS:
            worker.state = "error"
            self.errors.append(
                f"worker {worker.slot.index} died {worker.restarts + 1} times (exit {code}); last: {last_line}"
            )
            return
        worker.restarts += 1
        log.warning(
            "worker %d exited with %d (trials %s failed and re-queued); restarting", worker.slot.index, code, failed
        )
        self._start(worker)

    def _render(self):
        return render(self.study, self.settings.trials, self.storage_url, self.layout, self.workers)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _last_error_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(empty log)"])[-1]
