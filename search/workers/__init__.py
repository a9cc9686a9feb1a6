"""Running trials: a worker joins a study by name and trains until the budget is met; the launcher
validates a launch, starts local workers on their devices and supervises them; a worker stops only at
an epoch boundary, its trial queued again."""

from search.workers.devices import WorkerSlot, plan_workers
from search.workers.launch import WorkerRequest, prepare_launch
from search.workers.stopping import EXIT_STOPPED, StopRequest, WorkerStopping
from search.workers.worker import EXIT_FAILURES, WorkerGaveUp, run_worker

__all__ = [
    "EXIT_FAILURES", "EXIT_STOPPED", "StopRequest", "WorkerGaveUp", "WorkerRequest", "WorkerSlot", "WorkerStopping",
    "plan_workers", "prepare_launch", "run_worker",
]  # fmt: skip
