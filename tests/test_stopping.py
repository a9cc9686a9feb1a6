"""The worker's stop path, with its threads' interleaving forced (no training, no timing luck)."""

from __future__ import annotations

import threading

from search.workers import EXIT_STOPPED, StopRequest


def test_a_forced_exit_waits_for_the_requeue_under_way() -> None:
    """The main thread is re-queueing its failed trial when the watchdog's deadline passes: the
    watchdog must let the re-queue finish before it exits the process (it used to exit mid-way,
    leaving the trial failed and never queued again)."""
    events: list[str] = []
    requeue_started, let_requeue_end = threading.Event(), threading.Event()

    def requeue() -> None:
        requeue_started.set()
        let_requeue_end.wait(10)
        events.append("requeued")

    stop = StopRequest(force=requeue, exit=lambda code: events.append(f"exit {code}"))
    main = threading.Thread(target=stop.finish)  # the worker's main thread, after WorkerStopping
    main.start()
    assert requeue_started.wait(10)
    watchdog = threading.Thread(target=stop._exit_now)  # the deadline passes now, mid-re-queue
    watchdog.start()
    watchdog.join(0.5)
    assert watchdog.is_alive() and events == []  # waiting, not exiting
    let_requeue_end.set()
    main.join(10)
    watchdog.join(10)
    assert events == ["requeued", f"exit {EXIT_STOPPED}"]


def test_the_requeue_runs_once_whoever_comes_first() -> None:
    calls: list[str] = []
    stop = StopRequest(force=lambda: calls.append("requeue"), exit=lambda code: calls.append("exit"))
    stop._exit_now()  # the watchdog first: it re-queues, then exits
    assert stop.finish() is False  # the main thread, later, has nothing left to do
    assert calls == ["requeue", "exit"]


def test_a_requeue_that_hangs_does_not_keep_the_process_alive() -> None:
    """A storage outage can block the re-queue; the forced exit waits a bounded time, then exits."""
    release = threading.Event()
    stop = StopRequest(force=lambda: release.wait(10), exit=lambda code: None)
    main = threading.Thread(target=stop.finish)
    main.start()
    assert stop.finish(wait=0.2) is False
    release.set()
    main.join(10)
