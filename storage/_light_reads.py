"""Reads that every worker makes often, kept light: counts and new trials only, not every running trial again.

A mixin of :class:`storage._resilient.ResilientRDBStorage` (which retries each of these through an outage). Optuna's
own reads rebuild every running trial each time; with W workers a trial loop that asks "is the budget met?" pays
W running trials W times a round.
"""

from __future__ import annotations

import datetime
from collections.abc import Container

import sqlalchemy
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState

from storage._trial_reads import read_trials


class LightReads:
    """Light reads for an ``RDBStorage`` subclass (they use its ``scoped_session``)."""

    def count_trials(self, study_id: int, states: tuple[TrialState, ...]) -> int:
        """How many trials of the study are in ``states``: one ``count(*)``.

        Optuna counts by reading every trial (its cache re-reads every unfinished one each time), which
        a trial loop asking "is the budget met?" pays once per trial in every worker: with W workers, W
        running trials read W times per round."""
        with _create_scoped_session(self.scoped_session) as session:
            return (
                session.query(models.TrialModel)
                .filter(models.TrialModel.study_id == study_id, models.TrialModel.state.in_(states))
                .count()
            )

    def trials_in_state(
        self, study_id: int, states: tuple[TrialState, ...], known: dict[int, FrozenTrial]
    ) -> list[FrozenTrial]:
        """The study's trials in final ``states``, reading only those not in ``known`` (trial id → trial).

        A finished trial never changes, so a caller that keeps what it read needs the new ones only: one
        query for the ids, one for the new trials (instead of every trial and every running one again)."""
        with _create_scoped_session(self.scoped_session) as session:
            rows = session.query(models.TrialModel.trial_id).filter(
                models.TrialModel.study_id == study_id, models.TrialModel.state.in_(states)
            )
            ids = {trial_id for (trial_id,) in rows}
            new = ids - known.keys()
            if new:
                for trial in read_trials(session, study_id, states, new, max(new)):
                    known[trial._trial_id] = trial
        return sorted((known[i] for i in ids), key=lambda t: t.number)

    def _get_trials(
        self,
        study_id: int,
        states: Container[TrialState] | None,
        included_trial_ids: set[int],
        trial_id_greater_than: int,
    ) -> list[FrozenTrial]:
        """Optuna's bulk read (its trial cache's every refresh), from plain rows: :mod:`storage._trial_reads`."""
        with _create_scoped_session(self.scoped_session) as session:
            return read_trials(session, study_id, states, included_trial_ids, trial_id_greater_than)

    def heartbeats(self, study_id: int) -> tuple[datetime.datetime, dict[int, datetime.datetime]]:
        """The database's clock now and the last heartbeat of each RUNNING trial of the study (trial id → time), as
        Optuna's stale-trial sweep reads them (a trial without a heartbeat is left out)."""
        with _create_scoped_session(self.scoped_session) as session:
            now = session.execute(sqlalchemy.func.now()).scalar().replace(tzinfo=None)
            rows = (
                session.query(models.TrialHeartbeatModel.trial_id, models.TrialHeartbeatModel.heartbeat)
                .join(models.TrialModel, models.TrialModel.trial_id == models.TrialHeartbeatModel.trial_id)
                .filter(models.TrialModel.study_id == study_id, models.TrialModel.state == TrialState.RUNNING)
                .all()
            )
        return now, {trial_id: beat.replace(tzinfo=None) for trial_id, beat in rows}
