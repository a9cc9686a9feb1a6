"""A study: its launch settings (kept in the study's attributes, so a worker joins by name alone), its
search space, creating and resuming it, retrying a trial whose worker died, the learning curve
and out-of-fold predictions each trial keeps, and whether the study is whole (nothing lost, duplicated or stuck)."""

from search._lazy import lazy_exports

_EXPORTS = {
    "CURVE_COLUMNS": "search.study.curves",
    "DEFAULT_KNOBS": "search.study.space",
    "DEFAULT_TRIALS": "search.study.create",
    "Integrity": "search.study.integrity",
    "Knob": "search.study.space",
    "MAX_RETRY": "search.study.retry",
    "OOF_STUDY_ATTR": "search.study.oof",
    "OOF_TRIAL_ATTR": "search.study.oof",
    "OutOfFold": "search.study.oof",
    "SETTINGS_ATTR": "search.study.settings",
    "SearchSpace": "search.study.space",
    "StaleTrialRetry": "search.study.retry",
    "StudyRequest": "search.study.create",
    "StudySettings": "search.study.settings",
    "StudyVisits": "search.study.oof",
    "best_epochs": "search.study.curves",
    "check_integrity": "search.study.integrity",
    "check_resume": "search.study.create",
    "create_or_resume": "search.study.create",
    "create_study": "search.study.create",
    "curve_frame": "search.study.curves",
    "curve_row": "search.study.curves",
    "decode_oof": "search.study.oof",
    "decode_visits": "search.study.oof",
    "encode_oof": "search.study.oof",
    "encode_visits": "search.study.oof",
    "enqueue_preset": "search.study.create",
    "fail_and_retry": "search.study.retry",
    "find_study": "search.study.create",
    "finished_trials": "search.study.settings",
    "load_space": "search.study.space",
    "load_study": "search.study.settings",
    "new_study_settings": "search.study.create",
    "preset_trial": "search.study.create",
    "report_from_row": "search.study.curves",
    "resume_study": "search.study.create",
    "retry_trial": "search.study.retry",
    "wait_out_silent_trials": "search.study.retry",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
