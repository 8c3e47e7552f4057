"""The op log as a feed: the changes written after a position, for the viewer's live updates.

Every `run_log` row has a `pos`, increasing in the order rows were written, across runs (see
`tables.run_log`). A live page remembers the last `pos` it saw and asks for the rows after it:
new runs (a change with seq 0), tokens appended to a running run, the end of a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from .browse_common import canonical_id, failed, project_id, read, unindexed, utc
from .tables import projects, run_log, runs

if TYPE_CHECKING:
    from .store import Store

__all__ = ["LogRow", "log_since", "log_position"]

_MAX_LOG_ROWS = 5_000


@dataclass(frozen=True, slots=True)
class LogRow:
    """One change of a run, as logged: its position in the whole log, its JSON-patch ops."""

    pos: int
    run_id: str
    seq: int
    #: The JSON text of the change's RFC 6902 ops, as stored.
    ops: str
    project: str
    written_at: datetime


def log_position(store: Store) -> int:
    """The position of the newest log row (0 for an empty log): live updates start after it."""
    try:
        with read(store) as connection:
            return int(connection.execute(select(func.coalesce(func.max(run_log.c.pos), 0))).scalar() or 0)
    except SQLAlchemyError as exc:
        raise failed(exc) from exc


def log_since(
    store: Store, after: int | None, project: str | None = None, run_id: str | UUID | None = None, limit: int = 500
) -> list[LogRow]:
    """The log rows written after position `after` (None: from the start), oldest first, of
    one project and/or one run; at most `limit`. Ask again from the last row's `pos`.

    On SQLite, writes are serialized, so positions become visible in order and a reader never
    skips one. On PostgreSQL a transaction may commit after a later-numbered one: a reader that
    must not miss rows should re-read from a little before its last position.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LOG_ROWS:
        raise ValueError(f"limit must be a whole number from 1 to {_MAX_LOG_ROWS}, not {limit!r}.")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int)):
        raise ValueError(f"after must be a log position (a whole number), not {after!r}.")
    statement = (
        select(run_log.c.pos, run_log.c.run_id, run_log.c.seq, run_log.c.ops, projects.c.name, run_log.c.written_at)
        .join(runs, runs.c.id == run_log.c.run_id)
        .join(projects, projects.c.id == runs.c.project_id)
        .where(run_log.c.pos > (after or 0))
        .order_by(run_log.c.pos)
        .limit(limit)
    )
    if run_id is not None:
        statement = statement.where(run_log.c.run_id == canonical_id(run_id))
    try:
        with read(store) as connection:
            if project is not None:
                # Unindexed: read the log in order from `after`, each row's run by its key.
                statement = statement.where(unindexed(runs.c.project_id) == project_id(connection, project))
            rows = connection.execute(statement).all()
    except SQLAlchemyError as exc:
        raise failed(exc) from exc
    return [LogRow(pos, rid, seq, ops, name, utc(at)) for pos, rid, seq, ops, name, at in rows]  # type: ignore[arg-type]
