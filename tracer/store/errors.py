"""What the store raises: one sentence a user can act on, never a driver's traceback alone.

    StoreError        the database cannot be opened, upgraded, written or read
     └── NotFound     no run (or other record) with that id
"""

from __future__ import annotations

__all__ = ["StoreError", "NotFound"]


class StoreError(Exception):
    """The run store failed; the message says what to do about it."""


class NotFound(StoreError, LookupError):
    """The record asked for is not in the store."""
