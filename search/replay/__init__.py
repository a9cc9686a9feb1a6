"""What would each pruning strategy have saved? Recorded learning curves replayed through it."""

from search import lazy_exports

_EXPORTS = {
    "RecordedTrial": "search.replay.recording",
    "Recording": "search.replay.recording",
    "anytime_figure": "search.replay.figure",
    "load_recording": "search.replay.recording",
    "record_from_study": "search.replay.recording",
    "run_replay": "search.replay.simulate",
    "write_outputs": "search.replay.figure",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
