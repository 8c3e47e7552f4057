"""Writing run changes: one transaction per flush, two executemany calls, nothing per row in SQL.

The background writer hands over about a thousand `RunChange`s at a time and must sustain tens
of thousands of runs a second, so everything per row happens before the transaction starts
(the write lock is shared by every traced process): columns are derived from each document,
JSON is serialized with the Rust serializer, and rows are plain tuples in the column order of
statements compiled once by SQLAlchemy for the database's dialect. Then, under the lock, new
project names become ids, `runs` rows are upserted (`INSERT ... ON CONFLICT (id) DO UPDATE`,
the same SQL on SQLite and PostgreSQL) and one `run_log` row is appended per change.

On SQLite with the search tables (see `search.py`), each run's words go into `run_text` and
its FTS5 index too, in the same transaction and with a few set-wise statements; a run whose
words did not change is left alone, so a streamed run is re-indexed only when its outputs come.
The words are gathered before the transaction, from the document's own objects (~5 µs a run).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from .._ids import uuid7
from .._json import dumps
from .changes import RunChange
from .engine import describe
from .errors import StoreError
from .search import INDEX_STATEMENTS, has_fts, searchable_text
from .tables import projects, run_log, runs

__all__ = ["RunWriter", "ERROR_EXCERPT"]

#: Characters of a run's error kept in the `runs.error` column (the document has all of it).
ERROR_EXCERPT = 1000

_RUN_COLUMNS = tuple(column.name for column in runs.c)
_PROJECT_SLOT = _RUN_COLUMNS.index("project_id")
_ID_SLOT = _RUN_COLUMNS.index("id")
_DOC_SLOT = _RUN_COLUMNS.index("doc")
_LOG_COLUMNS = ("run_id", "seq", "ops", "written_at")
# Backoff before each retry of a batch that found the database locked: the busy timeout has
# already waited, so a few short retries are enough to ride out a checkpoint or a long reader.
_RETRY_DELAYS = (0.05, 0.2, 0.5)


def _insert(dialect_name: str) -> Callable[..., Any]:
    return sqlite.insert if dialect_name == "sqlite" else postgresql.insert


def _utc(value: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime (a time without offset is taken as UTC)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _sqlite_time(value: datetime) -> str:
    # Exactly SQLAlchemy's storage format for DateTime on SQLite, so Core reads parse it.
    return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_time_text(text: str, value: datetime) -> str:
    """`_sqlite_time(value)`, cut from `text` (the ISO string `value` was parsed from) when it is
    already UTC with microseconds, as the tracer writes every time: no formatting at all."""
    if len(text) == 32 and text.endswith("+00:00") and text[10] == "T" and text[19] == ".":
        return f"{text[:10]} {text[11:26]}"
    return _sqlite_time(value)


def _same_time_text(_text: str, value: datetime) -> datetime:
    return value


def _same_time(value: datetime) -> datetime:
    return value


def _ms(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() * 1000.0


class _Statement:
    """A statement compiled once for a dialect, and its rows in the driver's parameter form."""

    def __init__(self, statement: Any, engine: Engine, columns: Sequence[str]) -> None:
        compiled = statement.compile(dialect=engine.dialect, column_keys=list(columns))
        self.sql = compiled.string
        self._columns = tuple(columns)
        self._positional = bool(compiled.positional)
        order = tuple(compiled.positiontup or ()) if self._positional else self._columns
        # Rows are built in `columns` order; reorder only if the compiled statement differs.
        self._order = None if order == self._columns else [self._columns.index(name) for name in order]

    def params(self, rows: Iterable[Sequence[Any]]) -> list[Any]:
        if not self._positional:
            return [dict(zip(self._columns, row)) for row in rows]
        if self._order is None:
            return [tuple(row) for row in rows]
        order = self._order
        return [tuple(row[i] for i in order) for row in rows]


@dataclass(slots=True)
class _Batch:
    """Changes and their rows, ready for one transaction (see `RunWriter._prepare`)."""

    changes: Sequence[RunChange]
    run_rows: list[list[Any]]
    project_names: list[str]
    log_params: list[Any]
    text_rows: list[tuple[str, str]] | None
    seen_before: list[tuple[str, str]] | None


class RunWriter:
    """Persists batches of `RunChange`s for one store; caches project ids across batches."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        name = engine.dialect.name
        self._insert = _insert(name)
        self._time = _sqlite_time if name == "sqlite" else _same_time
        self._time_text = _sqlite_time_text if name == "sqlite" else _same_time_text
        upsert = self._insert(runs)
        upsert = upsert.on_conflict_do_update(
            index_elements=[runs.c.id],
            set_={column.name: upsert.excluded[column.name] for column in runs.c if column.name != "id"},
        )
        self._runs = _Statement(upsert, engine, _RUN_COLUMNS)
        # `pos` is numbered by the database; `inline` keeps PostgreSQL from returning it.
        self._log = _Statement(run_log.insert().inline(), engine, _LOG_COLUMNS)
        #: Project name -> id, only for projects known to be committed.
        self._project_ids: dict[str, str] = {}
        #: Whether to keep the full-text search tables (SQLite with FTS5, at 0002 or later).
        self._search = _has_search(engine)

    def write(self, changes: Sequence[RunChange]) -> None:
        """Store `changes` in one transaction: all of them, or none and a `StoreError`."""
        if not changes:
            return
        # Everything per row happens here, before the transaction takes the write lock.
        batch = self._batch(changes)
        self._run(lambda _connection: batch, conflicts=0)

    def update(self, plan: Callable[[Connection], Sequence[RunChange]], *, conflicts: int = 8) -> Sequence[RunChange]:
        """Read, then write, in one transaction: `plan` reads what it needs on the transaction's
        connection and returns the changes to store (their `seq` after the stored ones). When
        another writer took a `seq` first (a unique-key conflict), `plan` runs again on a new
        transaction, up to `conflicts` times. Returns the changes stored."""
        return self._run(lambda connection: self._batch(plan(connection)), conflicts=conflicts)

    def _batch(self, changes: Sequence[RunChange]) -> _Batch:
        if not changes:
            return _Batch(changes, [], [], [], None, None)
        run_rows, project_names, log_rows, text_rows, seen_before = self._prepare(changes)
        return _Batch(changes, run_rows, project_names, self._log.params(log_rows), text_rows, seen_before)

    def _run(self, make: Callable[[Connection], _Batch], *, conflicts: int) -> Sequence[RunChange]:
        """One transaction with `make`'s batch, retried while the database is locked, once after
        a cached project vanished, and `conflicts` times after other unique-key conflicts."""
        retried_projects = False
        attempt = 0
        batch: _Batch | None = None
        while True:
            try:
                with self._engine.begin() as connection:
                    batch = make(connection)
                    if not batch.changes:
                        return batch.changes
                    new = self._transaction(connection, batch)
                # Only now: a rolled-back transaction must not leave ids of projects that do not exist.
                self._project_ids.update(new)
                return batch.changes
            except OperationalError as exc:
                if not _is_locked(exc) or attempt >= len(_RETRY_DELAYS):
                    raise self._error(batch, exc) from exc
                time.sleep(_RETRY_DELAYS[attempt])
                attempt += 1
            except IntegrityError as exc:
                # A cached project may have been deleted since (by the viewer): look again, once.
                if self._project_ids and not retried_projects:
                    self._project_ids.clear()
                    retried_projects = True
                elif conflicts > 0:
                    conflicts -= 1
                else:
                    raise self._error(batch, exc) from exc
            except SQLAlchemyError as exc:
                raise self._error(batch, exc) from exc

    def _error(self, batch: _Batch | None, exc: BaseException) -> StoreError:
        cause = getattr(exc, "orig", None) or exc
        count = "" if batch is None else f"{len(batch.changes)} "
        return StoreError(f"Could not write {count}run changes to {describe(self._engine.url)}: {cause}")

    def _transaction(self, connection: Connection, batch: _Batch) -> dict[str, str]:
        """Write `batch`; returns the ids of projects it created (to cache after the commit)."""
        ids, new = self._resolve_projects(connection, set(batch.project_names))
        for row, project in zip(batch.run_rows, batch.project_names):
            row[_PROJECT_SLOT] = ids[project]
        connection.exec_driver_sql(self._runs.sql, self._runs.params(batch.run_rows))
        connection.exec_driver_sql(self._log.sql, batch.log_params)
        if batch.text_rows:
            _index(connection, batch.text_rows, batch.seen_before)
        return new

    def _resolve_projects(self, connection: Connection, names: set[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Ids for `names`, creating missing projects; second value: the ids not cached before."""
        cached = self._project_ids
        missing = [name for name in names if name not in cached]
        if not missing:
            return cached, {}
        now = datetime.now(timezone.utc)
        connection.execute(
            self._insert(projects).on_conflict_do_nothing(index_elements=[projects.c.name]),
            [{"id": str(uuid7()), "name": name, "created_at": now} for name in missing],
        )
        # Another process may have created some of them first: read back whichever id won.
        found = connection.execute(select(projects.c.name, projects.c.id).where(projects.c.name.in_(missing)))
        new = {name: project_id for name, project_id in found}
        return {**cached, **new}, new

    def _prepare(
        self, changes: Sequence[RunChange]
    ) -> tuple[
        list[list[Any]], list[str], list[tuple[Any, ...]], list[tuple[str, str]] | None, list[tuple[str, str]] | None
    ]:
        """`runs` rows (project names still to resolve), their project names, `run_log` rows;
        and `run_text` rows, all and those of runs that a previous batch may have indexed
        (both None without the search tables)."""
        # One `runs` row per run, from the latest document of that run in this batch: the
        # PostgreSQL upsert may not touch one row twice in a statement.
        latest: dict[str, RunChange] = {}
        for change in changes:
            previous = latest.get(change.run_id)
            if previous is None or change.seq >= previous.seq:
                latest[change.run_id] = change
        run_rows: list[list[Any]] = []
        project_names: list[str] = []
        for change in latest.values():
            row, project = self._run_row(change)
            run_rows.append(row)
            project_names.append(project)
        written_at = self._time(datetime.now(timezone.utc))
        doc_json = {row[_ID_SLOT]: row[_DOC_SLOT] for row in run_rows}
        log_rows = [(change.run_id, change.seq, self._ops_json(change, latest, doc_json), written_at) for change in changes]
        if not self._search:
            return run_rows, project_names, log_rows, None, None
        text_rows = [(change.run_id, searchable_text(change.doc)) for change in latest.values()]
        # A run whose latest change is its first (seq 0) cannot have been indexed before (a
        # second seq 0 of a run would break run_log's key and fail the batch).
        seen_before = [row for row, change in zip(text_rows, latest.values()) if change.seq > 0]
        return run_rows, project_names, log_rows, text_rows, seen_before

    @staticmethod
    def _ops_json(change: RunChange, latest: dict[str, RunChange], doc_json: dict[str, str]) -> str:
        """The change's ops as JSON; a lone `replace ""` of the document itself reuses the
        document's JSON, already made for the `runs` row."""
        ops = change.ops
        if len(ops) == 1 and ops[0].get("path") == "" and ops[0].get("value") is change.doc and latest.get(change.run_id) is change:
            return f'[{{"op":"replace","path":"","value":{doc_json[change.run_id]}}}]'
        return dumps(ops)

    def _run_row(self, change: RunChange) -> tuple[list[Any], str]:
        doc = change.doc
        try:
            start = _utc(doc["start_time"])
            end_text = doc.get("end_time")
            end = _utc(end_text) if end_text else None
            first_token_text = doc.get("first_token_time")
            first_token = _utc(first_token_text) if first_token_text else None
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(
                f"Run {change.run_id} has no valid start_time/end_time ({exc!r}); batch not written."
            ) from exc
        error = doc.get("error")
        status = doc.get("status") or ("error" if error else "success" if end else "running")
        to_time = self._time_text
        tags = doc.get("tags")
        row = [
            change.run_id,
            None,  # project_id, resolved in the transaction
            doc.get("trace_id") or change.run_id,
            doc.get("parent_run_id"),
            doc.get("dotted_order") or "",
            doc.get("name") or "",
            doc.get("run_type") or "chain",
            status,
            to_time(doc["start_time"], start),
            None if end is None else to_time(end_text, end),
            _ms(start, end),
            _ms(start, first_token),
            doc.get("prompt_tokens"),
            doc.get("completion_tokens"),
            doc.get("total_tokens"),
            doc.get("cost"),
            doc.get("model_name"),
            dumps(tags) if tags else "[]",
            None if error is None else str(error)[:ERROR_EXCERPT],
            doc.get("reference_example_id"),
            dumps(doc),
        ]
        return row, str(doc.get("project") or "default")


def _index(connection: Connection, text_rows: list[tuple[str, str]], seen_before: list[tuple[str, str]] | None) -> None:
    """Keep the search index: see `search.py` for the statements and why there are no triggers."""
    sql = INDEX_STATEMENTS
    if seen_before:
        connection.exec_driver_sql(sql.unindex_changed, seen_before)
        connection.exec_driver_sql(sql.delete_changed, seen_before)
    last_id = connection.exec_driver_sql(sql.last_id).scalar()
    connection.exec_driver_sql(sql.insert, text_rows)
    connection.exec_driver_sql(sql.index_new, (last_id,))


def _has_search(engine: Engine) -> bool:
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as connection:
        return has_fts(connection)


def _is_locked(exc: OperationalError) -> bool:
    """SQLite's lock waits that timed out; PostgreSQL's deadlocks and serialization failures."""
    message = str(exc.orig).lower()
    return any(word in message for word in ("locked", "busy", "deadlock detected", "could not serialize"))
