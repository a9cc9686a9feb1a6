"""How a worker stops: at an epoch boundary, with its trial failed and queued again, never left RUNNING.

A signal handler that raises wherever the code happens to be can interrupt a storage write halfway
(between ``study.ask()`` and the trial's first attribute, say) and orphan a RUNNING trial. So
SIGTERM (Kubernetes eviction, ``docker stop``), Ctrl-C and the death of the launcher only *request*
a stop; the trial checks the request after each epoch and ends there. The trial is failed and
queued again with the same parameters, exactly as if the worker had been killed, so the study
loses nothing. If no epoch boundary comes in time (a long first epoch, preprocessing), a watchdog
does the same from its own thread and exits the process; a second signal does it at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds between a stop request and the forced stop (``docker stop`` kills after 10 s).
SIGNAL_DEADLINE_SECONDS = 8.0
#: Seconds a worker whose launcher died keeps training before the forced stop.
ORPHAN_DEADLINE_SECONDS = 2.0
#: Seconds a forced exit waits for a re-queue already under way (the storage may be retrying an outage).
REQUEUE_WAIT_SECONDS = 60.0
#: Env var through which the launcher tells its workers its pid: a worker whose parent changes stops.
LAUNCHER_PID_ENV = "DFU_SEARCH_LAUNCHER_PID"
EXIT_STOPPED = 128 + signal.SIGTERM


class WorkerStopping(Exception):
    """Raised at an epoch boundary once a stop was requested; the worker re-queues its trial and exits."""


class StopRequest:
    """A stop asked for by a signal or by the launcher's death, honoured at the next :meth:`check`.

    ``force`` (fail and re-queue the running trial) runs once: from the main thread when it reaches
    a check, or from the watchdog when the deadline passes first. Whichever comes second waits for
    the first to finish: an exit in the middle of a re-queue would leave the trial failed and never
    queued again.
    """

    def __init__(self, force: Callable[[], None], exit: Callable[[int], None] = os._exit) -> None:
        self.reason: str | None = None
        self._force = force
        self._exit = exit  # os._exit: the main thread may be blocked anywhere, even in a storage call
        self._forcing = threading.Lock()  # held for the whole re-queue
        self._done = False

    def install(self) -> None:
        """Handle SIGTERM and SIGINT (also when started in the background, SIGINT ignored) and watch the launcher."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        launcher = os.environ.get(LAUNCHER_PID_ENV)
        if launcher and launcher.isdigit():
            threading.Thread(
                target=self._watch_parent, args=(int(launcher),), daemon=True, name="watch-launcher"
            ).start()

    def request(self, reason: str, deadline: float = SIGNAL_DEADLINE_SECONDS) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        log.warning("%s: stopping at the next epoch boundary (at the latest in %.0f s)", reason, deadline)
        threading.Thread(target=self._watchdog, args=(deadline,), daemon=True, name="stop-watchdog").start()

    def check(self) -> None:
        """Raise :class:`WorkerStopping` if a stop was requested (call where stopping is clean)."""
        if self.reason is not None:
            raise WorkerStopping(self.reason)

    def finish(self, wait: float = -1) -> bool:
        """Fail and re-queue the running trial, once; False if that was already done (or is still under
        way after ``wait`` seconds; -1: as long as it takes)."""
        if not self._forcing.acquire(timeout=wait):
            log.error("the running trial's re-queue did not finish within %.0f s; stopping anyway", wait)
            return False
        try:
            if self._done:
                return False
            self._done = True
            try:
                self._force()
            except Exception as exc:  # the storage is down: heartbeats or the launcher fail the trial later
                log.error("could not re-queue the running trial: %r", exc)
            return True
        finally:
            self._forcing.release()

    def _on_signal(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.reason is None:
            self.request(name)
            return
        log.warning("second %s: stopping now", name)
        # not from the handler itself: it may have interrupted this thread inside a storage session
        threading.Thread(target=self._exit_now, name="stop-now").start()

    def _watchdog(self, deadline: float) -> None:
        time.sleep(deadline)
        log.warning("no epoch boundary within %.0f s; stopping now", deadline)
        self._exit_now()

    def _exit_now(self) -> None:
        self.finish(wait=REQUEUE_WAIT_SECONDS)  # re-queues, or waits for the main thread's re-queue to end
        logging.shutdown()
        self._exit(EXIT_STOPPED)

    def _watch_parent(self, launcher: int) -> None:
        while os.getppid() == launcher:
            time.sleep(0.25)
        self.request(f"launcher {launcher} is gone", deadline=ORPHAN_DEADLINE_SECONDS)
