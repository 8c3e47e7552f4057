"""Small pieces the viewer's read modules share: ids, times, connections, error messages."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from .errors import NotFound, StoreError
from .tables import projects

if TYPE_CHECKING:
    from .store import Store

__all__ = ["utc", "canonical_id", "read", "failed", "project_id", "unindexed"]


def utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime, whatever the database returned (SQLite: naive UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def canonical_id(value: str | UUID, what: str = "run") -> str:
    """The canonical text of an id, or `NotFound` for what is not a UUID."""
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        raise NotFound(f"No {what} with id {value!r}: that is not a UUID.") from None


def read(store: Store) -> Any:
    """A reading connection (on SQLite, its queries see one snapshot)."""
    return store.engines.reader.connect()


def failed(exc: SQLAlchemyError) -> StoreError:
    return StoreError(f"Could not read the store: {getattr(exc, 'orig', None) or exc}")


def project_id(connection: Connection, name: str) -> str:
    """The id of the project named `name`, or `NotFound`."""
    found = connection.execute(select(projects.c.id).where(projects.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"No project named {name!r} in the store.")
    return str(found)


def unindexed(column: Any) -> Any:
    """`column` in a form no index serves (`coalesce(c, c)`), for a term that must not steer
    SQLite's planner: without statistics it takes "project_id = ?" for about ten rows, and
    would scan that project's index rather than read a few runs by their primary key."""
    return func.coalesce(column, column, type_=column.type)
