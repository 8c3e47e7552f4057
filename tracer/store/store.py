"""`Store`: the one object the background writer, the client and the viewer hold.

A small façade over an engine pair: `write` for the background writer, the reads of
`queries.py` for everything else. `open_store` makes sure the schema is current first (see
`migrate.py`), so a `Store` in hand always matches the tables it writes.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any
from uuid import UUID

from sqlalchemy import Connection
from sqlalchemy.engine import URL

from ..schemas import Project, Run
from . import queries
from .changes import RunChange
from .checkpoint import Checkpointer
from .engine import Engines, create_engines, describe, is_memory, is_sqlite, migration_engine, parse_url
from .migrate import ensure_at_head
from .writes import RunWriter

__all__ = ["Store", "open_store"]


class Store:
    """The run store at one database URL. Thread-safe; `close()` when done."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines
        self._writer = RunWriter(engines.writer)
        wal = is_sqlite(engines.url) and not is_memory(engines.url)
        self._checkpointer = Checkpointer(engines.writer) if wal else None
        if hasattr(os, "register_at_fork"):
            # A forked child must not use the parent's pooled connections: it opens its own.
            this = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _forget_connections(this))

    @property
    def url(self) -> str:
        """The database URL, without its password."""
        return describe(self.engines.url)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- writing --------------------------------------------------------------------------------

    def write(self, changes: Sequence[RunChange]) -> None:
        """Store a flush's changes in one transaction: all, or none and a `StoreError`."""
        self._writer.write(changes)
        self._written()

    def update(self, plan: Callable[[Connection], Sequence[RunChange]]) -> Sequence[RunChange]:
        """Read, then write, in one transaction: `plan` reads the stored runs it changes on the
        transaction's connection and returns the changes (see `RunWriter.update`)."""
        changes = self._writer.update(plan)
        self._written()
        return changes

    def _written(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.poke()

    # -- reading --------------------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return queries.list_projects(self.engines.reader)

    def list_runs(
        self,
        project_name: str | None = None,
        run_type: str | None = None,
        status: str | None = None,
        trace_id: str | UUID | None = None,
        parent_run_id: str | UUID | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]:
        return queries.list_runs(
            self.engines.reader,
            project_name=project_name,
            run_type=run_type,
            status=status,
            trace_id=trace_id,
            parent_run_id=parent_run_id,
            limit=limit,
            offset=offset,
        )

    def count_runs(self, project_name: str | None = None) -> int:
        return queries.count_runs(self.engines.reader, project_name)

    def read_run(self, run_id: str | UUID) -> Run:
        return queries.read_run(self.engines.reader, run_id)

    def replay_run(self, run_id: str | UUID) -> dict[str, Any]:
        return queries.replay_run(self.engines.reader, run_id)

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every pooled connection (an in-memory database is gone after this)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.engines.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()


def _forget_connections(store: weakref.ref[Store]) -> None:
    alive = store()
    if alive is not None:
        alive.engines.writer.dispose(close=False)
        alive.engines.reader.dispose(close=False)


def open_store(url: str | URL, *, auto_upgrade: bool | None = None, busy_timeout: float = 30.0) -> Store:
    """Open the store at `url`, with its schema at the newest revision.

    `auto_upgrade` (default: True for SQLite, False for any other database) upgrades an older
    schema; without it, an older schema raises `StoreError` asking to run `tracer db upgrade`.
    `busy_timeout` is how many seconds a SQLite writer waits for another process's transaction.
    """
    parsed = parse_url(url)
    engines = create_engines(parsed, busy_timeout=busy_timeout)
    upgrade_now = is_sqlite(parsed) if auto_upgrade is None else auto_upgrade
    # An in-memory database exists only through the store's own (single) connection.
    upgrader = engines.writer if is_memory(parsed) else migration_engine(parsed, busy_timeout=busy_timeout)
    try:
        ensure_at_head(engines.reader, upgrader, parsed, auto_upgrade=upgrade_now)
    except BaseException:
        engines.dispose()
        raise
    finally:
        if upgrader is not engines.writer:
            upgrader.dispose()
    return Store(engines)
