"""What would each pruning strategy have saved? Recorded learning curves replayed through it."""

from search.replay.figure import anytime_figure, write_outputs
from search.replay.recording import RecordedTrial, Recording, load_recording, record_from_study
from search.replay.simulate import STRATEGIES, run_replay

__all__ = [
    "STRATEGIES", "RecordedTrial", "Recording", "anytime_figure", "load_recording", "record_from_study", "run_replay",
    "write_outputs",
]  # fmt: skip
