"""An RDB storage that rides out a database restart without losing, duplicating or orphaning a trial.

A call that loses its database connection (refused, reset, server shutting down) is tried again
with exponential backoff; ``pool_pre_ping`` then replaces the dead pooled connections. If the
database stays unreachable longer than ``outage_limit`` seconds the call raises
:class:`StorageUnavailable`, a one-line user error, so a worker exits instead of hanging.

Trying again is only safe for reads and idempotent writes. A connection can also break *after*
the server committed, before the client heard: trying a non-idempotent write again would then do
it twice. So those writes first find out what the lost attempt did:

- creating a trial (``study.ask()``, ``enqueue_trial``) records a random token with the new row (in a table
  of its own, :mod:`storage._write_tokens`, where no Optuna client sees it) and looks for that token before
  inserting again, so a lost acknowledgement cannot make two trials;
- taking a WAITING trial (``study.ask()`` on an enqueued trial) stamps ``datetime_start`` with a
  value of its own; a RUNNING trial with that stamp is ours, so it is neither taken twice nor
  left RUNNING with nobody running it;
- finishing a trial, or creating a study, accepts "already done" after a lost acknowledgement.

A trial becomes RUNNING together with its first heartbeat (one transaction), so a worker that dies before its
heartbeat thread has beaten once still leaves a trial that the heartbeat sweep can take for stale.

Two reads that every worker makes every trial are light here (``count_trials``, ``trials_in_state``, from
:mod:`storage._light_reads`): Optuna's own read every running trial again each time. And
reading many trials (Optuna's cache, TPE's history) builds them from plain rows, not ORM objects
(:mod:`storage._trial_reads`).

Heartbeats never raise: a missed heartbeat is logged, and the thread beats again next interval
(Optuna's heartbeat thread dies at its first exception, and its trial would be failed as stale).
"""

from __future__ import annotations

import copy
import functools
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import optuna
from optuna.storages._rdb import models  # the ORM models: needed to write a trial in one transaction
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from storage._errors import StorageError
from storage._light_reads import LightReads
from storage._urls import redact
from storage._write_tokens import create_write_token_table, record_write_token, trial_made_by_write

log = logging.getLogger(__name__)
T = TypeVar("T")

_FIRST_DELAY, _MAX_DELAY = 0.5, 5.0
#: The system attribute that marks a failed trial as queued again (its value: the number of the copy).
RETRY_CLAIM_ATTR = "dfu_search:retried"


class StorageUnavailable(StorageError):
    """The database could not be reached (at once, or within the outage limit)."""

    def __init__(self, shown_url: str, waited: float, reason: str) -> None:
        if waited > 0:
            message = f"the study storage {shown_url} has been unreachable for {waited:.0f} s ({reason})"
        else:
            message = f"cannot reach the study storage {shown_url} ({reason})"
        super().__init__(message)


class ResilientRDBStorage(LightReads, optuna.storages.RDBStorage):
    """:class:`optuna.storages.RDBStorage` whose calls ride out a database outage, each write at most once."""

    def __init__(self, url: str, *args, outage_limit: float = 120.0, shown_url: str | None = None, **kwargs) -> None:
        self.outage_limit = outage_limit
        self.shown_url = shown_url or redact(url)
        _with_retry(optuna.storages.RDBStorage.__init__)(self, url, *args, **kwargs)
        _through_outage(self, lambda: create_write_token_table(self.engine))

    # -- creating a trial: at most once -------------------------------------------------------------

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        return self._insert_once(study_id, template_trial)

    def enqueue_retry(self, study_id: int, failed_trial_id: int, template: FrozenTrial) -> FrozenTrial | None:
        """Queue ``template`` as *the* retry of a failed trial, or return None if one was queued already.

        Claiming the retry (a system attribute on the failed trial, its row locked) and inserting the copy
        are one transaction, so two processes that both saw the trial go stale — or one that lost the
        acknowledgement of its own FAIL during an outage and cannot tell it from another's — queue it once."""
        return self._insert_once(study_id, template, retry_of=failed_trial_id)

    def _insert_once(
        self, study_id: int, template: FrozenTrial | None, retry_of: int | None = None
    ) -> FrozenTrial | None:
        """Insert a trial at most once through lost connections: the insert records a random token, and
        after a lost acknowledgement the token says whether the insert landed."""
        token = uuid.uuid4().hex
        # no template: what study.ask() creates when nothing is queued, a RUNNING trial started now
        template = template if template is not None else optuna.trial.create_trial(state=TrialState.RUNNING)

        def landed() -> FrozenTrial | object:  # after a lost connection (or a deadlock): did the insert land?
            trial = self._trial_with_token(token)
            if trial is None:
                return _AGAIN  # not landed: try again (a retry's claim may have been taken since)
            log.warning("trial %d was created before the connection broke; not creating it again", trial.number)
            return trial

        return _through_outage(self, lambda: self._insert_trial(study_id, template, token, retry_of), after_loss=landed)

    def _insert_trial(
        self, study_id: int, template: FrozenTrial, token: str, retry_of: int | None = None
    ) -> FrozenTrial | None:
        """Optuna's trial insert with its write token, without Optuna's own retry loop (which could insert twice).
        ``retry_of``: first claim the retry of that failed trial, in the same transaction; None if it was
        claimed already."""
        with _create_scoped_session(self.scoped_session) as session:
            models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)  # numbers trials in turn
            if retry_of is not None and self._retry_claimed(retry_of, session):
                return None
            row = self._get_prepared_new_trial(study_id, template, session)
            record_write_token(session, token, row.trial_id)
            if retry_of is not None:
                session.add(models.TrialSystemAttributeModel(trial_id=retry_of, key=RETRY_CLAIM_ATTR,
                                                             value_json=str(row.number)))  # fmt: skip
            if template.state == TrialState.RUNNING and self.heartbeat_interval is not None:
                # its first heartbeat with it: Optuna's sweep only takes a trial *with* a heartbeat for stale, and
                # a worker killed before its heartbeat thread beat once left the trial RUNNING for ever
                session.add(models.TrialHeartbeatModel(trial_id=row.trial_id))
            frozen = copy.deepcopy(template)
            frozen.number, frozen._trial_id, frozen.datetime_start = row.number, row.trial_id, row.datetime_start
        return frozen

    @staticmethod
    def _retry_claimed(failed_trial_id: int, session) -> bool:
        """Whether the failed trial was queued again already; its row stays locked until the transaction ends."""
        models.TrialModel.find_or_raise_by_id(failed_trial_id, session, for_update=True)
        claim = (
            session.query(models.TrialSystemAttributeModel)
            .filter(models.TrialSystemAttributeModel.trial_id == failed_trial_id)
            .filter(models.TrialSystemAttributeModel.key == RETRY_CLAIM_ATTR)
            .one_or_none()
        )
        return claim is not None

    def _trial_with_token(self, token: str) -> FrozenTrial | None:
        with _create_scoped_session(self.scoped_session) as session:
            trial_id = trial_made_by_write(session, token)
        return None if trial_id is None else optuna.storages.RDBStorage.get_trial(self, trial_id)

    # -- taking a WAITING trial, finishing a trial: at most once ------------------------------------

    def set_trial_state_values(self, trial_id: int, state: TrialState, values=None) -> bool:
        if state == TrialState.RUNNING and values is None:
            return self._claim(trial_id)

        def finished(refused: Exception, outage_seen: bool) -> bool:
            if outage_seen and self._state_and_start(trial_id)[0] == state:
                return True  # the attempt whose acknowledgement was lost had finished it
            raise refused

        return _through_outage(
            self,
            lambda: optuna.storages.RDBStorage.set_trial_state_values(self, trial_id, state, values),
            refused=optuna.exceptions.UpdateFinishedTrialError,
            on_refused=finished,
        )

    def _claim(self, trial_id: int) -> bool:
        """WAITING → RUNNING, stamped so that after a lost acknowledgement we can tell whether it is ours."""
        stamp = datetime.now()

        def claim() -> bool:
            with _create_scoped_session(self.scoped_session) as session:
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
                self.check_trial_is_updatable(trial_id, trial.state)
                if trial.state != TrialState.WAITING:
                    return False
                trial.state, trial.datetime_start = TrialState.RUNNING, stamp
                if self.heartbeat_interval is not None:  # its first heartbeat with it, as in _insert_trial
                    session.add(models.TrialHeartbeatModel(trial_id=trial_id))
            return True

        def landed() -> bool | object:
            state, started = self._state_and_start(trial_id)
            if state == TrialState.RUNNING:
                return _same_instant(started, stamp)  # ours if it carries our stamp; another worker's otherwise
            return _AGAIN if state == TrialState.WAITING else False

        return _through_outage(self, claim, after_loss=landed)

    def _state_and_start(self, trial_id: int) -> tuple[TrialState, datetime | None]:
        with _create_scoped_session(self.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
            return trial.state, trial.datetime_start

    def create_new_study(self, directions, study_name: str | None = None) -> int:
        def made(refused: Exception, outage_seen: bool) -> int:
            if outage_seen and study_name is not None:  # the attempt whose acknowledgement was lost made it
                return _with_retry(optuna.storages.RDBStorage.get_study_id_from_name)(self, study_name)
            raise refused

        return _through_outage(
            self,
            lambda: optuna.storages.RDBStorage.create_new_study(self, directions, study_name),
            refused=optuna.exceptions.DuplicatedStudyError,
            on_refused=made,
        )

    # -- heartbeats: never fatal ---------------------------------------------------------------------

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            optuna.storages.RDBStorage.record_heartbeat(self, trial_id)
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as raised:
            if _connection_error(raised) is None:
                raise
            log.warning("heartbeat of trial %d not recorded (database unreachable); next one in %s s",
                        trial_id, self.heartbeat_interval)  # fmt: skip


class _Outage:
    """Backoff for one call through a connection outage; raises :class:`StorageUnavailable` past the limit."""

    def __init__(self, storage: ResilientRDBStorage) -> None:
        self.storage = storage
        self.deadline = time.monotonic() + storage.outage_limit
        self.delay = _FIRST_DELAY
        self.seen = False  # a connection broke during this call: an earlier attempt may have landed

    def wait_or_raise(self, raised: BaseException) -> None:
        exc = _connection_error(raised)
        if exc is None:
            raise raised
        if time.monotonic() + self.delay > self.deadline:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
            raise StorageUnavailable(self.storage.shown_url, self.storage.outage_limit, redact(reason)) from None
        log.warning("storage unreachable (%s); retrying in %.1f s", type(exc.orig).__name__, self.delay)
        self.seen = True
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, _MAX_DELAY)


def _connection_error(exc: BaseException) -> DBAPIError | None:
    """The lost-connection error behind ``exc``, if that is what it is.

    Optuna wraps SQLAlchemy errors raised inside a session in ``StorageInternalError`` (the
    original is its ``__cause__``); errors at connection checkout arrive unwrapped.
    """
    seen = exc
    while seen is not None:
        if isinstance(seen, OperationalError | InterfaceError) or (
            isinstance(seen, DBAPIError) and seen.connection_invalidated
        ):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


#: ``after_loss`` found that the lost attempt did nothing: try again.
_AGAIN = object()


def _through_outage(
    storage: ResilientRDBStorage,
    attempt: Callable[[], T],
    *,
    after_loss: Callable[[], T | object] | None = None,
    refused: type[Exception] | tuple[type[Exception], ...] = (),
    on_refused: Callable[[Exception, bool], T] | None = None,
) -> T:
    """``attempt()`` until it returns, waiting out lost connections up to the storage's outage limit.

    The one retry loop of this module. For a write that must happen at most once, ``after_loss``
    finds out what an attempt whose connection broke did (a result to return, or :data:`_AGAIN`),
    and ``on_refused`` (the error, whether a connection broke during this call) turns a ``refused``
    error that a landed attempt explains into its result, or raises it.
    """
    outage = _Outage(storage)
    while True:
        try:
            return attempt()
        except refused as exc:
            return on_refused(exc, outage.seen)
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as raised:
            outage.wait_or_raise(raised)
        if after_loss is not None:
            found = after_loss()
            if found is not _AGAIN:
                return found


def _with_retry(method):
    """``method`` retried through an outage: for reads and idempotent writes only."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        return _through_outage(self, lambda: method(self, *args, **kwargs))

    return call


def _same_instant(stored: datetime | None, stamp: datetime) -> bool:
    return stored is not None and stored.replace(tzinfo=None) == stamp


# Reads and idempotent writes (upserts of attributes, intermediate values and heartbeats), so the
# trial loop, the heartbeat thread and the launcher's bookkeeping all ride out an outage the same
# way. The private ones are what Optuna's own caching layer calls on its backend.
for _name in (
    "_state_and_start",  # ours: reads
    "_trial_with_token",
    "_get_trials",
    "heartbeats",
    "count_trials",
    "trials_in_state",
):
    setattr(ResilientRDBStorage, _name, _with_retry(getattr(ResilientRDBStorage, _name)))
for _name in (
    "_get_best_trial_id",
    "_set_trial_param",  # ignores the duplicate row of an attempt that landed
    "_get_stale_trial_ids",
    "check_trial_is_updatable",
    "delete_study",
    "get_all_studies",
    "get_all_trials",
    "get_best_trial",
    "get_n_trials",
    "get_study_directions",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_system_attrs",
    "get_study_user_attrs",
    "get_trial",
    "get_trial_id_from_study_id_trial_number",
    "get_trial_number_from_id",
    "get_trial_param",
    "get_trial_params",
    "get_trial_system_attrs",
    "get_trial_user_attrs",
    "set_study_system_attr",
    "set_study_user_attr",
    "set_trial_intermediate_value",
    "set_trial_system_attr",
    "set_trial_user_attr",
):
    setattr(ResilientRDBStorage, _name, _with_retry(getattr(optuna.storages.RDBStorage, _name)))


def rdb_backend(storage: optuna.storages.BaseStorage) -> ResilientRDBStorage | None:
    """The resilient RDB storage behind a study's storage (Optuna wraps it in a cache), or None."""
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, ResilientRDBStorage) else None
