"""The table behind at-most-once trial creation: which trial each creating write made.

Creating a trial through a lost connection must not make two (:mod:`storage._resilient`): each insert carries
a random token, and after a lost acknowledgement the token says whether the insert landed. The token lives in a
table of its own, written in the trial's transaction, not among the trial's system attributes, where every
Optuna client (the dashboard, ``trials_dataframe``, ``copy_study``, Optuna's storage conformance suite) would
see it. Its primary key also makes a second insert with the same token fail instead of making a second trial.

The table sits beside Optuna's in the same database; Optuna's schema migrations leave tables they do not know
alone. Rows of deleted studies stay behind (a few bytes a trial; a token is only ever looked up by itself).
"""

from __future__ import annotations

import sqlalchemy
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.exc import SQLAlchemyError

_schema = MetaData()
WRITE_TOKENS = Table(
    "dfu_search_write_tokens",
    _schema,
    Column("token", String(32), primary_key=True),
    Column("trial_id", Integer, nullable=False),
)


def create_write_token_table(engine: sqlalchemy.engine.Engine) -> None:
    """Create the table if it is missing. Many workers starting at once may race to create it: losing that
    race (the table appeared meanwhile) is fine, any other failure is raised."""
    try:
        _schema.create_all(engine, checkfirst=True)
    except SQLAlchemyError:
        if not sqlalchemy.inspect(engine).has_table(WRITE_TOKENS.name):
            raise


def record_write_token(session, token: str, trial_id: int) -> None:
    """Note that ``token``'s write made ``trial_id`` (in the session that inserts the trial)."""
    session.execute(WRITE_TOKENS.insert().values(token=token, trial_id=trial_id))


def trial_made_by_write(session, token: str) -> int | None:
    """The id of the trial that ``token``'s write made, or None if it never landed."""
    return session.execute(
        sqlalchemy.select(WRITE_TOKENS.c.trial_id).where(WRITE_TOKENS.c.token == token)
    ).scalar_one_or_none()
