"""Running trials: a worker joins a study by name and trains until the budget is met; the launcher
validates a launch, starts local workers on their devices and supervises them; a worker stops only at
an epoch boundary, its trial queued again."""

from search._lazy import lazy_exports

_EXPORTS = {
    "EXIT_FAILURES": "search.workers._worker",
    "EXIT_STOPPED": "search.workers._stopping",
    "Launcher": "search.workers._supervise",
    "Objective": "search.workers._objective",
    "StopRequest": "search.workers._stopping",
    "WorkerGaveUp": "search.workers._worker",
    "WorkerRequest": "search.workers._launch",
    "WorkerSlot": "search.workers._devices",
    "WorkerStopping": "search.workers._stopping",
    "join_study": "search.workers._worker",
    "plan_workers": "search.workers._devices",
    "prepare_launch": "search.workers._launch",
    "run_trials": "search.workers._worker",
    "run_worker": "search.workers._worker",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
