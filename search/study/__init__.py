"""A study: its launch settings (kept in the study's attributes, so a worker joins by name alone), its
search space, creating and resuming it, retrying a trial whose worker died, the learning curve
and out-of-fold predictions each trial keeps, and whether the study is whole (nothing lost, duplicated or stuck)."""

from search._lazy import lazy_exports

_EXPORTS = {
    "CURVE_COLUMNS": "search.study._curves",
    "DEFAULT_KNOBS": "search.study._space",
    "DEFAULT_TRIALS": "search.study._create",
    "Integrity": "search.study._integrity",
    "Knob": "search.study._space",
    "MAX_RETRY": "search.study._retry",
    "OOF_STUDY_ATTR": "search.study._oof",
    "OOF_TRIAL_ATTR": "search.study._oof",
    "OutOfFold": "search.study._oof",
    "SETTINGS_ATTR": "search.study._settings",
    "SearchSpace": "search.study._space",
    "StaleTrialRetry": "search.study._retry",
    "StudyRequest": "search.study._create",
    "StudySettings": "search.study._settings",
    "StudyVisits": "search.study._oof",
    "best_epochs": "search.study._curves",
    "check_integrity": "search.study._integrity",
    "check_resume": "search.study._create",
    "create_or_resume": "search.study._create",
    "create_study": "search.study._create",
    "curve_frame": "search.study._curves",
    "curve_row": "search.study._curves",
    "decode_oof": "search.study._oof",
    "decode_visits": "search.study._oof",
    "encode_oof": "search.study._oof",
    "encode_visits": "search.study._oof",
    "enqueue_preset": "search.study._create",
    "fail_and_retry": "search.study._retry",
    "find_study": "search.study._create",
    "finished_trials": "search.study._settings",
    "load_space": "search.study._space",
    "load_study": "search.study._settings",
    "new_study_settings": "search.study._create",
    "preset_trial": "search.study._create",
    "report_from_row": "search.study._curves",
    "resume_study": "search.study._create",
    "retry_trial": "search.study._retry",
    "wait_out_silent_trials": "search.study._retry",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
