"""Read-only questions about a study, for notebooks and scripts: ``from search import open_study``.

    >>> from search import open_study
    >>> v = open_study("dfu", storage="postgresql://dfu@db/dfu")
    >>> v.trials_frame().sort_values("value", ascending=False).head()
    >>> v.best_config().to_toml()
    >>> v.prune_summary()
    >>> v.epochs_saved(), v.epochs_from_store()

``value`` is final only for a complete trial (its mean fold QWK). A pruned trial's number is Optuna's last
reported value — one fold's QWK at one epoch, often above the best complete trial's mean — so it is kept apart
as ``partial_value`` and never sorts among the results; ``value_is_final`` says which is which.

Nothing here writes to the storage, and each call reads one snapshot of the trials, so it is safe
to run while workers are writing. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna

from search.study import CURVE_COLUMNS, StudySettings, best_epochs, load_study
from storage import StorageError
from trainer.config import STAGES, TrainConfig, apply

if TYPE_CHECKING:
    import pandas as pd

    from search.query._selection import SelectionEstimate


def open_study(name: str, storage: str | None = None) -> StudyView:
    """A read-only view of study ``name`` on ``storage`` (URL; default ``$DFU_SEARCH_STORAGE`` or ./dfu-search.db)."""
    from storage import open_storage, resolve_url

    url = resolve_url(storage)
    return StudyView(load_study(name, open_storage(url, heartbeat=None, create=False)), url)


@dataclass(frozen=True)
class StudyView:
    study: optuna.Study
    storage_url: str

    @property
    def name(self) -> str:
        return self.study.study_name

    @property
    def settings(self) -> StudySettings:
        return StudySettings.load(self.study)

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def trials_frame(self, trials: list[optuna.trial.FrozenTrial] | None = None) -> pd.DataFrame:
        """One row per trial: number, state, value (complete trials only), partial value (pruned trials: the
        last value reported, at ``prune_fold``/``prune_stage``/``prune_epoch``), whether the value is final, each
        parameter, prune rule/fold/stage/epoch, best epoch per stage (mean over the folds that ran it), epochs
        trained and loaded from the store, duration, worker.
        ``trials``: a snapshot already read with :meth:`trials` (default: read one now)."""
        import pandas as pd

        params = list(self.settings.search_space.names)
        rows = [_trial_row(t, params) for t in (self.trials() if trials is None else trials)]
        columns = ["number", "state", "value", "partial_value", "value_is_final", *params, *_DIAGNOSTIC_COLUMNS]
        return pd.DataFrame(rows, columns=columns)

    def best_trial(self) -> optuna.trial.FrozenTrial:
        try:
            return self.study.best_trial
        except ValueError:  # Optuna's "no trials are completed yet"
            raise StorageError(f"study {self.name!r} has no complete trial yet") from None

    def best_config(self) -> TrainConfig:
        """The trainer config the best trial trained with (base settings, pinned values and sampled knobs)."""
        best = self.best_trial()
        return apply(TrainConfig(), best.user_attrs["config"], f"trial {best.number}")

    def selection_estimate(
        self, trials: list[optuna.trial.FrozenTrial] | None = None, bootstraps: int = 1000, seed: int = 0
    ) -> SelectionEstimate | None:
        """The best trial's QWK corrected for having been chosen: BBC-CV over the complete trials' out-of-fold
        predictions, with a 95 % interval and each trial's share of the bootstrap's choices
        (:mod:`search.query._selection`). None when no complete trial kept out-of-fold predictions.
        ``trials``: a snapshot already read with :meth:`trials` (default: read one now)."""
        from search.query._selection import selection_estimate
        from search.study import OOF_STUDY_ATTR, OOF_TRIAL_ATTR, decode_oof, decode_visits

        visits = self.study.user_attrs.get(OOF_STUDY_ATTR)
        kept = [
            t
            for t in (self.trials() if trials is None else trials)
            if t.state == optuna.trial.TrialState.COMPLETE and OOF_TRIAL_ATTR in t.user_attrs
        ]
        if visits is None or not kept:
            return None
        return selection_estimate(
            [t.number for t in kept],
            [float(t.value) for t in kept],
            [decode_oof(t.user_attrs[OOF_TRIAL_ATTR]) for t in kept],
            decode_visits(visits),
            bootstraps=bootstraps,
            seed=seed,
        )

    def prune_summary(self) -> pd.DataFrame:
        """Pruned trials counted by rule (rows) and stage (columns), with totals."""
        import pandas as pd

        reasons = [t.user_attrs.get("prune_reason") or {} for t in self.trials() if t.state.name == "PRUNED"]
        frame = pd.DataFrame(
            [(r.get("rule", "unknown"), r.get("stage", "unknown")) for r in reasons], columns=["rule", "stage"]
        )
        table = pd.crosstab(frame["rule"], frame["stage"], margins=True, margins_name="total")
        stages = [s for s in STAGES if s in table.columns]
        other = [c for c in table.columns if c not in stages and c != "total"]
        return table[[*stages, *other, "total"]] if len(frame) else table

    def epochs_saved(self, trials: list[optuna.trial.FrozenTrial] | None = None) -> int:
        """Epochs pruning avoided: for each pruned trial, its configured maximum (folds × all stages' epochs)
        minus the epochs it reached — trained, or loaded from the pre-training store (those are the store's
        savings, :meth:`epochs_from_store`, not pruning's). An upper bound: early stopping might have ended some
        trials sooner. ``trials``: a snapshot already read with :meth:`trials` (default: read one now)."""
        saved = 0
        for trial in self.trials() if trials is None else trials:
            if trial.state == optuna.trial.TrialState.PRUNED and "config" in trial.user_attrs:
                reached = int(trial.user_attrs.get("epochs_trained", 0)) + _cached_epochs(trial)
                saved += max(0, max_epochs(trial) - reached)
        return saved

    def epochs_from_store(self, trials: list[optuna.trial.FrozenTrial] | None = None) -> int:
        """Epochs the pre-training store saved: pre-training epochs loaded instead of trained, over every trial
        (``trials``: as for :meth:`epochs_saved`)."""
        return sum(_cached_epochs(trial) for trial in (self.trials() if trials is None else trials))


def _cached_epochs(trial: optuna.trial.FrozenTrial) -> int:
    """Epochs of the trial's curve reported again from the pre-training store (its ``cached`` column)."""
    at = CURVE_COLUMNS.index("cached")
    return sum(1 for row in trial.user_attrs.get("curve", []) if len(row) > at and row[at])


def max_epochs(trial: optuna.trial.FrozenTrial) -> int:
    """The most epochs the trial's config allows: folds × (pretrain + stage 1 + stage 2 epochs)."""
    config = apply(TrainConfig(), trial.user_attrs["config"], f"trial {trial.number}")
    return config.folds * config.steps_per_fold


_DIAGNOSTIC_COLUMNS = (
    "prune_rule",
    "prune_test",
    "prune_fold",
    "prune_stage",
    "prune_epoch",
    *(f"best_epoch_{stage}" for stage in STAGES),
    "epochs_trained",
    "epochs_from_store",
    "max_epochs",
    "duration_s",
    "worker",
    "enqueued",
    "metadata_qwk",
)


def _trial_row(trial: optuna.trial.FrozenTrial, params: list[str]) -> dict:
    attrs = trial.user_attrs
    reason = attrs.get("prune_reason") or {}
    worker = attrs.get("worker") or {}
    row = {
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None,
        "partial_value": trial.value if trial.state == optuna.trial.TrialState.PRUNED else None,
        "value_is_final": trial.state == optuna.trial.TrialState.COMPLETE,
        **{name: trial.params.get(name, (attrs.get("overrides") or {}).get(name)) for name in params},
        "prune_rule": reason.get("rule"),
        "prune_test": reason.get("test"),
        "prune_fold": reason.get("fold"),
        "prune_stage": reason.get("stage"),
        "prune_epoch": reason.get("epoch"),
        "epochs_trained": attrs.get("epochs_trained"),
        "epochs_from_store": _cached_epochs(trial),
        "max_epochs": max_epochs(trial) if "config" in attrs else None,
        "duration_s": trial.duration.total_seconds() if trial.duration else None,
        "worker": worker_label(worker) if worker else None,
        "enqueued": attrs.get("enqueued"),
        "metadata_qwk": attrs.get("metadata_qwk"),
    }
    restored = best_epochs(attrs.get("curve", []))
    for stage in STAGES:
        epochs = [epoch for (_, s), epoch in restored.items() if s == stage]
        row[f"best_epoch_{stage}"] = sum(epochs) / len(epochs) if epochs else None
    return row


def worker_label(worker: dict) -> str:
    """``host:pid (gpu)`` of a trial's ``worker`` attribute."""
    return f"{worker['host']}:{worker['pid']} ({worker.get('gpu', 'cpu')})"
