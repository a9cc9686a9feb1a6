"""The bulk trial read (storage/_trial_reads.py) gives the trials Optuna's own ORM read gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import TrialState

from storage import _trial_reads as trial_reads
from storage import open_storage, rdb_backend, read_trials


def _every_kind_of_trial(storage) -> optuna.Study:
    """A study with a trial in every state, every kind of parameter, infinite and NaN values, nested attributes."""
    study = optuna.create_study(study_name="reads", storage=storage, direction="maximize")
    study.set_user_attr("settings", {"trials": 9})

    def sampled(trial: optuna.Trial) -> None:
        trial.suggest_float("lr", 1e-6, 1e-2, log=True)
        trial.suggest_float("weight", 0.1, 0.9, step=0.1)
        trial.suggest_int("width", 8, 64, log=True)
        trial.suggest_categorical("alpha_cap", [None, 2.0, "balanced"])

    complete = study.ask()
    sampled(complete)
    for step, value in enumerate([0.1, math.nan, math.inf, -math.inf, 0.4]):
        complete.report(value, step)
    complete.set_user_attr("curve", [[0, 0, "pretrain", 1, 0.1, None], [1, 0, "stage1", 1, 0.2, True]])
    complete.set_user_attr("folds", [{"qwk": 0.41}])
    complete.storage.set_trial_system_attr(complete._trial_id, "dfu_search:rule", "none")
    study.tell(complete, 0.45)

    pruned = study.ask()
    sampled(pruned)
    pruned.report(0.0, 0)
    study.tell(pruned, state=TrialState.PRUNED)
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)
    best = study.ask()
    sampled(best)
    study.tell(best, math.inf)
    running = study.ask()
    sampled(running)
    running.report(0.3, 0)
    running.set_user_attr("worker", {"host": "h", "pid": 1, "gpu": None})
    study.enqueue_trial({"lr": 1e-4, "weight": 0.7}, user_attrs={"preset": "default"})
    return study


def _plain(trial: optuna.trial.FrozenTrial) -> tuple:
    """A trial as comparable data (NaN equal to NaN; attribute order not part of a trial)."""

    def nan_free(mapping: dict) -> list:
        return sorted((k, "nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in mapping.items())

    return (trial._trial_id, trial.number, trial.state, trial.values, trial.datetime_start, trial.datetime_complete,
            nan_free(trial.params), nan_free(trial.distributions), nan_free(trial.user_attrs),
            nan_free(trial.system_attrs), nan_free(trial.intermediate_values))  # fmt: skip


def _compare_filters(storage) -> None:
    backend = rdb_backend(storage)
    study = _every_kind_of_trial(storage)
    trials = {t.state: t._trial_id for t in study.get_trials(deepcopy=False)}
    unfinished = {trials[TrialState.RUNNING], trials[TrialState.WAITING]}
    filters = [  # (states, included trial ids, trial id greater than): what Optuna's cache and our pruner ask
        (None, set(), -1),
        ((TrialState.COMPLETE,), set(), -1),
        ((TrialState.COMPLETE, TrialState.PRUNED), set(), -1),
        (None, unfinished, trials[TrialState.FAIL]),
        (None, unfinished, max(unfinished)),
        ((TrialState.RUNNING,), unfinished, trials[TrialState.PRUNED]),
    ]
    for states, included, greater in filters:
        with _create_scoped_session(backend.scoped_session) as session:
            ours = read_trials(session, study._study_id, states, included, greater)
        optunas = optuna.storages.RDBStorage._get_trials(backend, study._study_id, states, included, greater)
        assert [_plain(t) for t in ours] == [_plain(t) for t in optunas], (states, included, greater)
        assert ours, (states, included, greater)
    with pytest.raises(KeyError):  # a study that is not there: Optuna's error
        with _create_scoped_session(backend.scoped_session) as session:
            read_trials(session, study._study_id + 99, None, set(), -1)


@pytest.mark.parametrize("many_ids", [False, True], ids=["bound-ids", "ids-filtered-in-python"])
def test_bulk_read_equals_optunas_orm_read_on_sqlite(tmp_path: Path, monkeypatch, many_ids: bool) -> None:
    if many_ids:  # the path for more unfinished trials than a statement should bind
        monkeypatch.setattr(trial_reads, "_MOST_BOUND_IDS", 1)
    _compare_filters(open_storage(f"sqlite:///{tmp_path / 'reads.db'}", None))


def test_bulk_read_equals_optunas_orm_read_on_postgres(postgres) -> None:
    storage = open_storage(postgres.create_database(), None)
    _compare_filters(storage)
    # and the study as workers see it, through Optuna's cache over the resilient storage
    study = optuna.load_study(study_name="reads", storage=storage)
    assert [t.state for t in study.get_trials()] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.FAIL,
        TrialState.COMPLETE,
        TrialState.RUNNING,
        TrialState.WAITING,
    ]
    assert study.best_value == math.inf
    storage.engine.dispose()


def test_the_pruners_first_snapshot_reuses_the_completed_trials_the_sampler_read(tmp_path: Path, monkeypatch) -> None:
    from search.pruners import CompletedTrials
    from storage import _light_reads as light_reads

    url = f"sqlite:///{tmp_path / 'reads.db'}"
    study = _every_kind_of_trial(open_storage(url, None))
    joined = optuna.load_study(study_name="reads", storage=open_storage(url, None))  # a worker that just joined
    joined.get_trials(deepcopy=False)  # what its sampler reads at its first ask
    read: list[set[int]] = []
    real = light_reads.read_trials

    def counted(session, study_id, states, included, greater):  # the snapshot's reads (caches read all states)
        if states == (TrialState.COMPLETE,):
            read.append(set(included))
        return real(session, study_id, states, included, greater)

    monkeypatch.setattr(light_reads, "read_trials", counted)
    completed = CompletedTrials()
    assert [t.value for t in completed.get(joined, (0, 0))] == [0.45, math.inf]
    assert read == []  # not read a second time
    newer = study.ask()
    study.tell(newer, 0.2)
    assert [t.value for t in completed.get(joined, (0, 1))] == [0.45, math.inf, 0.2]
    assert read == [{newer._trial_id}]  # only the trial completed since
    cold = optuna.load_study(study_name="reads", storage=open_storage(url, None))  # nothing cached: all read
    assert len(CompletedTrials().get(cold, (0, 0))) == 3 and len(read[-1]) == 3


def test_the_snapshot_of_pruned_trials_reads_each_pruned_trial_once(tmp_path: Path, monkeypatch) -> None:
    """``reference="reached"`` judges against pruned trials too: the snapshot keeps them, with the values they
    reported, and a refresh reads only the trials pruned since (a pruned trial never changes)."""
    from search.pruners import CompletedTrials
    from storage import _light_reads as light_reads

    url = f"sqlite:///{tmp_path / 'reads.db'}"
    study = _every_kind_of_trial(open_storage(url, None))
    read: list[set[int]] = []
    real = light_reads.read_trials

    def counted(session, study_id, states, included, greater):  # the snapshot's reads (caches read all states)
        if states == (TrialState.COMPLETE, TrialState.PRUNED):
            read.append(set(included))
        return real(session, study_id, states, included, greater)

    monkeypatch.setattr(light_reads, "read_trials", counted)
    snapshot = CompletedTrials(pruned=True)
    assert len(snapshot.get(study, (0, 0))) == 2
    assert [t.intermediate_values for t in snapshot.pruned] == [{0: 0.0}] and len(read) == 1
    later = study.ask()
    later.report(0.25, 3)
    study.tell(later, state=TrialState.PRUNED)
    snapshot.get(study, (0, 0))
    assert len(read) == 1  # the same key: no refresh
    snapshot.get(study, (0, 1))
    assert [t.intermediate_values for t in snapshot.pruned] == [{0: 0.0}, {3: 0.25}]
    assert read[-1] == {later._trial_id}
    assert CompletedTrials().pruned == []  # not asked for: never read


@pytest.mark.parametrize("most_bound_ids", [900, 0], ids=["ids-bound", "id-range"])
def test_a_trial_that_finishes_while_it_is_read_keeps_its_rows(
    tmp_path: Path, monkeypatch, most_bound_ids: int
) -> None:
    monkeypatch.setattr(trial_reads, "_MOST_BOUND_IDS", most_bound_ids)
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    study = _every_kind_of_trial(open_storage(url, None))
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))[0]
    other = optuna.load_study(study_name="reads", storage=open_storage(url, None))  # another worker

    class FinishedMeanwhile(trial_reads._Children):  # between the trials' query and their rows' queries
        def __init__(self, *args) -> None:
            other.tell(running.number, 0.3)
            super().__init__(*args)

    monkeypatch.setattr(trial_reads, "_Children", FinishedMeanwhile)
    backend = rdb_backend(study._storage)
    with _create_scoped_session(backend.scoped_session) as session:
        (read,) = read_trials(session, study._study_id, (TrialState.RUNNING,), set(), -1)
    assert read.state == TrialState.RUNNING  # as it was when read, with all of its rows
    assert read.params == running.params and read.intermediate_values == {0: 0.3}
    assert read.user_attrs["worker"]["host"] == "h"
