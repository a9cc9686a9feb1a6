"""``dfu-search launch``: create or resume a study, then run and supervise N local workers.

Each worker is a separate process pinned to one GPU (``CUDA_VISIBLE_DEVICES`` round-robin), or on
a CPU to its share of the cores. The launcher watches them: a worker that dies has its trial
failed and re-queued at once and is restarted; a worker that exits 0 has seen the budget met.
Ctrl-C stops every worker (each fails its running trial) and leaves no trial RUNNING.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from search.settings import StudySettings
from search.study import fail_and_retry
from storage import StorageError, redact

log = logging.getLogger(__name__)

MAX_RESTARTS = 5  # per worker; a worker that keeps dying points at a real problem
_POLL_SECONDS = 1.0
_STOP_GRACE_SECONDS = 30


@dataclass
class WorkerProcess:
    index: int
    gpu: str | None
    cores: list[int]
    log_path: Path
    process: subprocess.Popen | None = None
    restarts: int = 0
    state: str = "starting"
    exit_codes: list[int] = field(default_factory=list)


def detect_gpus() -> list[str]:
    """GPU indices from ``nvidia-smi``, or none on a machine without NVIDIA GPUs."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]


def plan_workers(n: int, gpus: list[str], log_dir: Path) -> list[WorkerProcess]:
    """GPUs round-robin; without GPUs, the CPU cores split evenly (a worker gets at least one)."""
    cores = sorted(os.sched_getaffinity(0))
    share = max(1, len(cores) // max(n, 1))
    workers = []
    for i in range(n):
        gpu = gpus[i % len(gpus)] if gpus else None
        mine = [] if gpus else [cores[(i * share + k) % len(cores)] for k in range(share)]
        workers.append(WorkerProcess(i, gpu, mine, log_dir / f"worker-{i}.log"))
    return workers


class Launcher:
    def __init__(
        self,
        study: optuna.Study,
        settings: StudySettings,
        storage_url: str,
        workers: list[WorkerProcess],
        console: Console,
        cache_dir: Path | None = None,
        max_retry: int = 3,
    ) -> None:
        self.study, self.settings, self.storage_url = study, settings, storage_url
        self.workers, self.console, self.cache_dir, self.max_retry = workers, console, cache_dir, max_retry
        self.host = socket.gethostname()
        self.errors: list[str] = []

    def run(self) -> int:
        """Supervise until every worker is done; returns the launcher's exit code."""
        # Our own handlers: a process started in the background inherits SIGINT *ignored*, and
        # SIGTERM (kill, docker stop) deserves the same orderly stop as Ctrl-C.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _interrupt)
        for worker in self.workers:
            worker.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._start(worker)
        try:
            with Live(self._render(), console=self.console, refresh_per_second=2, transient=False) as live:
                while any(w.state in ("running", "starting") for w in self.workers):
                    time.sleep(_POLL_SECONDS)
                    for worker in self.workers:
                        self._check(worker)
                    live.update(self._render())
            self.console.line()
        except KeyboardInterrupt:
            self.console.print("stopping workers …")
            self.stop()
            return 130
        for message in self.errors:
            self.console.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
        return 0 if not self.errors else 1

    def stop(self) -> None:
        """SIGTERM every worker (each fails its running trial), then make sure nothing is left RUNNING."""
        alive = [w for w in self.workers if w.process and w.process.poll() is None]
        for worker in alive:
            worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for worker in alive:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.state = "stopped"
        pids = {w.process.pid for w in self.workers if w.process}
        try:
            fail_and_retry(self.study, self.host, pids, max_retry=0)  # nothing re-queued on a deliberate stop
        except StorageError as exc:
            self.console.print(f"could not check for RUNNING trials: {exc}", markup=False)

    def _start(self, worker: WorkerProcess) -> None:
        command = [
            sys.executable,
            "-m",
            "search",
            "worker",
            "--study",
            self.study.study_name,
            "--storage",
            self.storage_url,
            "--index",
            str(worker.index),
        ]
        if self.cache_dir is not None:
            command += ["--cache-dir", str(self.cache_dir)]
        env = dict(os.environ)
        if worker.gpu is not None:
            command += ["--gpu", worker.gpu]
            env["CUDA_VISIBLE_DEVICES"] = worker.gpu
        else:
            threads = str(len(worker.cores))
            env.update(
                CUDA_VISIBLE_DEVICES="",
                OMP_NUM_THREADS=threads,
                TF_NUM_INTRAOP_THREADS=threads,
                TF_NUM_INTEROP_THREADS="1",
            )
        cores = worker.cores
        with open(worker.log_path, "a") as log_file:
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
        worker.exit_codes.append(code)
        if code == 0:
            worker.state = "done"
            return
        try:
            failed = fail_and_retry(self.study, self.host, {worker.process.pid}, self.max_retry)
        except StorageError:
            failed = []  # the database is down; heartbeats fail the trial once it is back
        last_line = _last_error_line(worker.log_path)
        if code == 2:  # a user error (bad data, unreachable storage): restarting cannot help
            worker.state = "error"
            self.errors.append(f"worker {worker.index}: {last_line}")
            return
        if worker.restarts >= MAX_RESTARTS:
            worker.state = "error"
            self.errors.append(
                f"worker {worker.index} died {worker.restarts + 1} times (exit {code}); last: {last_line}"
            )
            return
        worker.restarts += 1
        log.warning("worker %d exited with %d (trials %s failed and re-queued); restarting", worker.index, code, failed)
        self._start(worker)

    def _render(self) -> Group:
        states = optuna.trial.TrialState
        try:
            trials = self.study.get_trials(deepcopy=False)
        except StorageError as exc:  # the database is down: keep supervising, show why
            return Group(f"[yellow]{exc}[/yellow]", self._workers_table({}))
        count = {s: sum(1 for t in trials if t.state == s) for s in states}
        finished = count[states.COMPLETE] + count[states.PRUNED]
        best = max((t.value for t in trials if t.state == states.COMPLETE and t.value is not None), default=None)
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"[bold]{self.study.study_name}[/bold] on {redact(self.storage_url)}",
            f"finished {finished}/{self.settings.trials}",
            f"complete {count[states.COMPLETE]}",
            f"pruned {count[states.PRUNED]}",
            f"running {count[states.RUNNING]}",
            f"failed {count[states.FAIL]}",
            f"best QWK {best:.4f}" if best is not None else "best QWK –",
        )
        running = {}
        for t in trials:
            if t.state == states.RUNNING and t.user_attrs.get("worker"):
                running[t.user_attrs["worker"].get("pid")] = t.number
        return Group(head, self._workers_table(running))

    def _workers_table(self, running: dict[int, int]) -> Table:
        table = Table("worker", "device", "pid", "state", "trial", "restarts", box=None)
        for w in self.workers:
            pid = w.process.pid if w.process else None
            device = f"GPU {w.gpu}" if w.gpu is not None else f"CPU {','.join(map(str, w.cores))}"
            table.add_row(str(w.index), device, str(pid or "–"), w.state, str(running.get(pid, "–")), str(w.restarts))
        return table


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _last_error_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(empty log)"])[-1]
