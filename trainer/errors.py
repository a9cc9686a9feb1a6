"""Errors a user can fix: bad data, bad config.

The CLI turns these into one ``error: ...`` line and exit code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """Base class for problems in the user's input, reported without a traceback."""


class DataError(UserError):
    """A data file is missing, malformed or inconsistent. The message names the file/row/column."""


class ConfigError(UserError):
    """A configuration file, preset or ``--set`` override is invalid."""
