"""Storage problems a user can fix: a bad URL, an unreachable database."""

from __future__ import annotations

from trainer.errors import UserError


class StorageError(UserError):
    """The storage URL is malformed or unsupported, or the database cannot be reached."""
