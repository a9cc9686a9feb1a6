"""Storage problems a user can fix: a bad URL, a missing storage file, an unreachable database.

Its own base class, so that ``storage`` depends on nothing else in dfu-search; the CLI reports it,
like the trainer's :class:`trainer.errors.UserError`, as one ``error:`` line with exit code 2.
"""

from __future__ import annotations


class StorageError(Exception):
    """The storage URL is malformed or unsupported, the storage is missing, or the database cannot be reached."""
