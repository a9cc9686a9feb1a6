"""An RDB storage that rides out a database restart instead of failing the trial in progress.

Every storage call that loses its database connection (refused, reset, server shutting down) is
retried with exponential backoff; ``pool_pre_ping`` then replaces the dead pooled
connections. If the database stays unreachable longer than ``outage_limit`` seconds the call raises
:class:`StorageUnavailable`, a one-line user error, so a worker exits instead of hanging.
"""

from __future__ import annotations

import functools
import logging
import time

import optuna
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from storage.errors import StorageError
from storage.urls import redact

log = logging.getLogger(__name__)

_FIRST_DELAY, _MAX_DELAY = 0.5, 5.0


class StorageUnavailable(StorageError):
    """The database could not be reached (at once, or within the outage limit)."""

    def __init__(self, shown_url: str, waited: float, reason: str) -> None:
        if waited > 0:
            message = f"the study storage {shown_url} has been unreachable for {waited:.0f} s ({reason})"
        else:
            message = f"cannot reach the study storage {shown_url} ({reason})"
        super().__init__(message)


class ResilientRDBStorage(optuna.storages.RDBStorage):
    """:class:`optuna.storages.RDBStorage` whose calls retry through a database outage."""

    def __init__(self, url: str, *args, outage_limit: float = 120.0, shown_url: str | None = None, **kwargs) -> None:
        self.outage_limit = outage_limit
        self.shown_url = shown_url or redact(url)
        _with_retry(optuna.storages.RDBStorage.__init__)(self, url, *args, **kwargs)


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


def _with_retry(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        deadline = time.monotonic() + self.outage_limit
        delay = _FIRST_DELAY
        while True:
            try:
                return method(self, *args, **kwargs)
            except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as raised:
                exc = _connection_error(raised)
                if exc is None:
                    raise
                if time.monotonic() + delay > deadline:
                    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
                    raise StorageUnavailable(self.shown_url, self.outage_limit, redact(reason)) from None
                log.warning("storage unreachable (%s); retrying in %.1f s", type(exc.orig).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)

    return call


# Every operation of the storage and heartbeat interfaces, so the trial loop, the heartbeat thread
# and the launcher's bookkeeping all ride out an outage the same way.
# The private ones are what Optuna's own caching layer calls on its backend.
for _name in (
    "_create_new_trial",
    "_get_best_trial_id",
    "_get_trials",
    "_set_trial_param",
    "_get_stale_trial_ids",
    "check_trial_is_updatable",
    "create_new_study",
    "create_new_trial",
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
    "record_heartbeat",
    "set_study_system_attr",
    "set_study_user_attr",
    "set_trial_intermediate_value",
    "set_trial_param",
    "set_trial_state_values",
    "set_trial_system_attr",
    "set_trial_user_attr",
):
    setattr(ResilientRDBStorage, _name, _with_retry(getattr(optuna.storages.RDBStorage, _name)))
