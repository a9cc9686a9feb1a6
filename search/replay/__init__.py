"""What would each pruning strategy have saved? Recorded learning curves replayed through it — and through
simulated workers, the real worker around recorded curves, for the load benchmark."""

from search._lazy import lazy_exports

_EXPORTS = {
    "RecordedTrial": "search.replay.recording",
    "Recording": "search.replay.recording",
    "anytime_figure": "search.replay.figure",
    "load_recording": "search.replay.recording",
    "nearest_recorded": "search.replay.simulated_worker",
    "percentile_trial": "search.replay.simulate",
    "record_from_study": "search.replay.recording",
    "run_replay": "search.replay.simulate",
    "run_simulated_worker": "search.replay.simulated_worker",
    "simulated_settings": "search.replay.simulated_worker",
    "write_outputs": "search.replay.figure",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
