"""Reading many trials at once: the same :class:`FrozenTrial` objects as Optuna's ``RDBStorage._get_trials``, built
from plain rows instead of ORM objects.

Optuna loads a trial through the ORM with its five child collections (params, values, intermediate values, user and
system attributes), and builds an ORM object for every child row before it builds the trial. A trial of ours carries
a reported value for every epoch (30–60 of them) and half a dozen attributes, so a study of 5,000 finished trials is
~300,000 ORM objects: a worker joining it spent 11 s in its first ``ask`` (bench/README.md, "Cost as the study
grows"), and every warm read of the running trials paid the same per row. Here each table is one plain ``SELECT``
whose rows are tuples, grouped by trial id in Python; each distinct distribution's JSON is parsed once.

What comes back is equal to what Optuna builds (``tests/test_storage_reads.py`` compares them on SQLite and
PostgreSQL, every trial state, infinite and NaN values, the incremental filters its cache uses).
"""

from __future__ import annotations

import datetime
import functools
import json
from collections import defaultdict
from collections.abc import Container, Iterable

from optuna import distributions
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

#: Past this many ids the "or one of these unfinished trials" filter is applied in Python, not as bound parameters
#: (SQLite allows 32,766 of them; Optuna falls back the same way when the database refuses).
_MOST_BOUND_IDS = 900

_TRIALS = models.TrialModel.__table__
_PARAMS = models.TrialParamModel.__table__
_VALUES = models.TrialValueModel.__table__
_INTERMEDIATE = models.TrialIntermediateValueModel.__table__
_USER_ATTRS = models.TrialUserAttributeModel.__table__
_SYSTEM_ATTRS = models.TrialSystemAttributeModel.__table__


def read_trials(
    session: Session,
    study_id: int,
    states: Container[TrialState] | None,
    included_trial_ids: set[int],
    trial_id_greater_than: int,
) -> list[FrozenTrial]:
    """The study's trials in ``states`` (all if None) whose id is above ``trial_id_greater_than`` or, among those at
    or below it, in ``included_trial_ids``: the contract of ``RDBStorage._get_trials``, ordered by trial id."""
    models.StudyModel.find_or_raise_by_id(study_id, session)  # a missing study raises KeyError, as Optuna's does
    included = {i for i in included_trial_ids if i <= trial_id_greater_than}
    where = [_TRIALS.c.study_id == study_id]
    if states is not None:
        assert isinstance(states, Iterable)
        where.append(_TRIALS.c.state.in_(list(states)))
    in_python = trial_id_greater_than > -1 and len(included) > _MOST_BOUND_IDS
    if trial_id_greater_than > -1:
        if in_python:
            where.append(_TRIALS.c.trial_id >= min(included))  # the rest of the filter below, in Python
        elif included:
            where.append(or_(_TRIALS.c.trial_id.in_(included), _TRIALS.c.trial_id > trial_id_greater_than))
        else:
            where.append(_TRIALS.c.trial_id > trial_id_greater_than)
    chosen = and_(*where)
    columns = (_TRIALS.c.trial_id, _TRIALS.c.number, _TRIALS.c.state,
               _TRIALS.c.datetime_start, _TRIALS.c.datetime_complete)  # fmt: skip
    rows = session.execute(select(*columns).where(chosen).order_by(_TRIALS.c.trial_id)).all()
    if in_python:
        rows = [r for r in rows if r.trial_id in included or r.trial_id > trial_id_greater_than]
    if not rows:
        return []
    children = _Children(session, study_id, [row.trial_id for row in rows])
    return [
        FrozenTrial(
            number=row.number,
            state=row.state,
            value=None,
            values=children.values.get(row.trial_id),
            datetime_start=_local(row.datetime_start),
            datetime_complete=_local(row.datetime_complete),
            params=children.params[row.trial_id],
            distributions=children.distributions[row.trial_id],
            user_attrs=children.user_attrs[row.trial_id],
            system_attrs=children.system_attrs[row.trial_id],
            intermediate_values=children.intermediate[row.trial_id],
            trial_id=row.trial_id,
        )
        for row in rows
    ]


class _Children:
    """The child rows of the trials ``ids``, one query a table, grouped by trial id.

    The trials are named by id, not by the filter that chose them again: a trial whose state changed since it was
    read still gets its rows (Optuna's ``selectinload`` names them by id too). Past :data:`_MOST_BOUND_IDS` ids,
    the rows of every trial of the study in their id range are read and the others are never looked up."""

    def __init__(self, session: Session, study_id: int, ids: list[int]) -> None:
        if len(ids) <= _MOST_BOUND_IDS:
            wanted = ids
        else:
            wanted = select(_TRIALS.c.trial_id).where(
                _TRIALS.c.study_id == study_id, _TRIALS.c.trial_id.between(min(ids), max(ids))
            )

        def rows(table, *columns, order):
            query = select(table.c.trial_id, *columns).where(table.c.trial_id.in_(wanted)).order_by(order)
            return session.execute(query).all()

        self.params: dict[int, dict] = defaultdict(dict)
        self.distributions: dict[int, dict] = defaultdict(dict)
        for trial_id, name, value, json_text in rows(
            _PARAMS, _PARAMS.c.param_name, _PARAMS.c.param_value, _PARAMS.c.distribution_json, order=_PARAMS.c.param_id
        ):
            distribution = _distribution(json_text)
            self.params[trial_id][name] = distribution.to_external_repr(value)
            self.distributions[trial_id][name] = distribution

        stored: dict[int, dict[int, float]] = defaultdict(dict)
        for trial_id, objective, value, kind in rows(
            _VALUES, _VALUES.c.objective, _VALUES.c.value, _VALUES.c.value_type, order=_VALUES.c.trial_value_id
        ):
            stored[trial_id][objective] = models.TrialValueModel.stored_repr_to_value(value, kind)
        self.values: dict[int, list[float]] = {t: [v[o] for o in sorted(v)] for t, v in stored.items()}

        self.intermediate: dict[int, dict[int, float]] = defaultdict(dict)
        to_value = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value
        for trial_id, step, value, kind in rows(
            _INTERMEDIATE, _INTERMEDIATE.c.step, _INTERMEDIATE.c.intermediate_value,
            _INTERMEDIATE.c.intermediate_value_type, order=_INTERMEDIATE.c.trial_intermediate_value_id,
        ):  # fmt: skip
            self.intermediate[trial_id][step] = to_value(value, kind)

        self.user_attrs = self._attributes(rows, _USER_ATTRS, _USER_ATTRS.c.trial_user_attribute_id)
        self.system_attrs = self._attributes(rows, _SYSTEM_ATTRS, _SYSTEM_ATTRS.c.trial_system_attribute_id)

    @staticmethod
    def _attributes(rows, table, order) -> dict[int, dict]:
        attributes: dict[int, dict] = defaultdict(dict)
        for trial_id, key, value_json in rows(table, table.c.key, table.c.value_json, order=order):
            attributes[trial_id][key] = json.loads(value_json)
        return attributes


@functools.lru_cache(maxsize=1024)
def _distribution(json_text: str) -> distributions.BaseDistribution:
    """A distribution parsed once: every trial of a study repeats the same few (they are never mutated)."""
    return distributions.json_to_distribution(json_text)


def _local(stored: datetime.datetime | None) -> datetime.datetime | None:
    """A stored naive-UTC time as the naive local time Optuna's trial model gives."""
    if stored is None:
        return None
    return stored.replace(tzinfo=datetime.UTC).astimezone().replace(tzinfo=None)


def cached_trials(storage: object, study_id: int, state: TrialState) -> dict[int, FrozenTrial]:
    """The trials in a final ``state`` that Optuna's trial cache in front of ``storage`` already holds (trial id →
    trial), without a read; {} when ``storage`` is not cached or has not read the study yet.

    A worker's sampler fills that cache at its first ``ask``; the pruner's first snapshot of the completed trials
    can start from it instead of reading every finished trial a second time (a joining worker at 5,000 finished
    trials paid ~3 s for each). A finished trial never changes, so sharing it is safe. The cache's fields are
    Optuna's private ones: if they change, this returns {} and the snapshot reads everything, as before."""
    studies, lock = getattr(storage, "_studies", None), getattr(storage, "_lock", None)
    if not isinstance(studies, dict) or lock is None:
        return {}
    with lock:
        cached = getattr(studies.get(study_id), "trials", None)
        if not isinstance(cached, dict):
            return {}
        return {trial._trial_id: trial for trial in cached.values() if trial.state == state}
