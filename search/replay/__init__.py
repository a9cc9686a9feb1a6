"""What would each pruning strategy have saved? Recorded learning curves replayed through it — and through
simulated workers, the real worker around recorded curves, for the load benchmark."""

from search._lazy import lazy_exports

_EXPORTS = {
    "RecordedTrial": "search.replay._recording",
    "Recording": "search.replay._recording",
    "anytime_figure": "search.replay._figure",
    "first_folds": "search.replay._simulated_worker",
    "load_recording": "search.replay._recording",
    "nearest_recorded": "search.replay._simulated_worker",
    "percentile_trial": "search.replay._simulate",
    "record_from_study": "search.replay._recording",
    "run_replay": "search.replay._simulate",
    "run_simulated_worker": "search.replay._simulated_worker",
    "simulated_settings": "search.replay._simulated_worker",
    "write_outputs": "search.replay._figure",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
