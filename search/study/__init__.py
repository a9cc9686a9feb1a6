"""A study: its launch settings (kept in the study's attributes, so a worker joins by name alone), its
search space, creating and resuming it, retrying a trial whose worker died, and the learning curve
each trial keeps."""

from search.study.create import DEFAULT_TRIALS, StudyRequest, create_or_resume, enqueue_preset, preset_trial
from search.study.curves import CURVE_COLUMNS, best_epochs, curve_frame, curve_row
from search.study.retry import fail_and_retry, retry_trial
from search.study.settings import StudySettings, finished_trials, load_study
from search.study.space import DEFAULT_KNOBS, Knob, SearchSpace, load_space

__all__ = [
    "CURVE_COLUMNS", "DEFAULT_KNOBS", "DEFAULT_TRIALS", "Knob", "SearchSpace", "StudyRequest", "StudySettings",
    "best_epochs", "create_or_resume", "curve_frame", "curve_row", "enqueue_preset", "fail_and_retry",
    "finished_trials", "load_space", "load_study", "preset_trial", "retry_trial",
]  # fmt: skip
