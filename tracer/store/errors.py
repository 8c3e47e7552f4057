"""What the store raises: one sentence a user can act on, never a driver's traceback alone.

    StoreError        the database cannot be opened, upgraded, written or read
     └── NotFound     no run (or other record) with that id
"""

from __future__ import annotations

__all__ = ["StoreError", "NotFound", "reason"]


class StoreError(Exception):
    """The run store failed; the message says what to do about it."""


class NotFound(StoreError, LookupError):
    """The record asked for is not in the store."""


def reason(exc: BaseException) -> str:
    """What the database said, as one line: the driver's own message (SQLAlchemy wraps it with
    the statement and a link; PostgreSQL's drivers add hint lines)."""
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    return lines[0].strip() if lines else type(inner).__name__
