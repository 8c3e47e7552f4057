"""SQLAlchemy engines for the store, with SQLite set up for many processes writing at once.

Every traced process writes to the same SQLite file from its background writer, while the viewer
reads it. So, on SQLite:

- WAL journal: readers never block the writer and the writer never blocks readers.
- `synchronous=NORMAL`: in WAL mode a crash can lose the last transactions, never corrupt.
- A busy timeout: a writer waits for another process's transaction instead of failing.
- Writes start with `BEGIN IMMEDIATE`. pysqlite's own deferred `BEGIN` takes the write lock
  only at the first INSERT; two processes that both read first then deadlock on the upgrade,
  and SQLite fails one of them at once, without waiting. SQLAlchemy's documented recipe
  (`isolation_level = None` on the DBAPI connection, our own BEGIN in the "begin" event) fixes
  that, on a writer engine. Reads use a second engine with a plain `BEGIN` (a snapshot) and
  `query_only`, so they never take the write lock.
- Checkpoints (copying the WAL into the database file) happen on a thread of their own, see
  `checkpoint.py`; the writer's automatic checkpoint is only a safety valve.
- Foreign keys on (SQLite leaves them off by default), except on the migration engine:
  rebuilding a table in a batch migration with them on would cascade-delete its children.

Other databases (PostgreSQL) get one ordinary engine for both roles.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, pool
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .checkpoint import WRITER_AUTOCHECKPOINT_PAGES
from .errors import StoreError

__all__ = ["Engines", "parse_url", "is_sqlite", "is_memory", "create_engines", "migration_engine", "describe"]

#: Dialects the store's SQL (upserts with ON CONFLICT) is written for.
_SUPPORTED = {"sqlite", "postgresql"}


@dataclass(frozen=True)
class Engines:
    """The writer and the reader of one store (the same engine unless the store is SQLite)."""

    url: URL
    writer: Engine
    reader: Engine

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def parse_url(url: str | URL) -> URL:
    """`url` as a SQLAlchemy URL, with `~` expanded in a SQLite path; a `StoreError` if invalid."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"{url!r} is not a database URL ({exc}); set TRACER_DATABASE_URL to a SQLAlchemy URL."
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in _SUPPORTED:
        raise StoreError(f"The store supports SQLite and PostgreSQL, not {backend!r} ({describe(parsed)}).")
    if backend == "sqlite" and parsed.database and parsed.database.startswith("~"):
        parsed = parsed.set(database=str(Path(parsed.database).expanduser()))
    return parsed


def describe(url: URL) -> str:
    """The URL for messages: never with its password."""
    return url.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def is_memory(url: URL) -> bool:
    """An in-process SQLite database, gone when its last connection closes."""
    database = url.database or ""
    return is_sqlite(url) and (database in ("", ":memory:") or url.query.get("mode") == "memory")


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (None for an in-memory one, and for any other database)."""
    if not is_sqlite(url) or is_memory(url):
        return None
    database = url.database or ""
    if database.startswith("file:"):
        database = database[len("file:") :]
    return Path(database)


def _ensure_wal(cursor: Any, timeout: float) -> None:
    """Switch the file to WAL (a property of the file, so usually already done).

    The switch needs an exclusive lock, and SQLite does not run the busy handler for it: a
    process opening a new file while another creates its schema gets "database is locked" at
    once. So wait here, re-checking, until the busy timeout has passed.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            if cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError("database is locked (could not switch it to WAL mode)")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _sqlite_engine(
    url: URL,
    *,
    begin: str,
    busy_timeout: float,
    foreign_keys: bool = True,
    query_only: bool = False,
    autocheckpoint: int | None = None,
    **kwargs: Any,
) -> Engine:
    memory = is_memory(url)
    if memory:
        # One connection for every thread: the only way several users see the same database.
        kwargs.setdefault("poolclass", pool.StaticPool)
    connect_args = {"timeout": busy_timeout, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    pragmas = [f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}"]
    if not memory:
        pragmas.append("PRAGMA synchronous = NORMAL")
    pragmas.append(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    if query_only:
        pragmas.append("PRAGMA query_only = ON")
    if autocheckpoint is not None and not memory:
        pragmas.append(f"PRAGMA wal_autocheckpoint = {autocheckpoint}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite: it would emit a deferred BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
            if not memory:
                _ensure_wal(cursor, busy_timeout)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


def create_engines(url: URL, *, busy_timeout: float = 30.0) -> Engines:
    """The engines of the store at `url` (already parsed); creates a SQLite file's folder."""
    if not is_sqlite(url):
        engine = create_engine(url, pool_pre_ping=True)
        return Engines(url, engine, engine)
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the folder of the store {path}: {exc}.") from exc
    writer = _sqlite_engine(
        url, begin="BEGIN IMMEDIATE", busy_timeout=busy_timeout, autocheckpoint=WRITER_AUTOCHECKPOINT_PAGES
    )
    if path is None:
        return Engines(url, writer, writer)
    reader = _sqlite_engine(url, begin="BEGIN", busy_timeout=busy_timeout, query_only=True)
    return Engines(url, writer, reader)


def migration_engine(url: URL, *, busy_timeout: float = 30.0) -> Engine:
    """A one-connection engine for Alembic: write-locking and, on SQLite, without foreign keys."""
    if not is_sqlite(url):
        return create_engine(url, poolclass=pool.NullPool)
    return _sqlite_engine(
        url, begin="BEGIN IMMEDIATE", busy_timeout=busy_timeout, foreign_keys=False, poolclass=pool.NullPool
    )
