"""Running trials: a worker joins a study by name and trains until the budget is met; the launcher
validates a launch, starts local workers on their devices and supervises them; a worker stops only at
an epoch boundary, its trial queued again."""

from search._lazy import lazy_exports

_EXPORTS = {
    "EXIT_FAILURES": "search.workers.worker",
    "EXIT_STOPPED": "search.workers.stopping",
    "Launcher": "search.workers.supervise",
    "Objective": "search.workers.objective",
    "StopRequest": "search.workers.stopping",
    "WorkerGaveUp": "search.workers.worker",
    "WorkerRequest": "search.workers.launch",
    "WorkerSlot": "search.workers.devices",
    "WorkerStopping": "search.workers.stopping",
    "join_study": "search.workers.worker",
    "plan_workers": "search.workers.devices",
    "prepare_launch": "search.workers.launch",
    "run_trials": "search.workers.worker",
    "run_worker": "search.workers.worker",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
