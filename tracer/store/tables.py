"""The store's schema, in SQLAlchemy Core: the single source the migrations are checked against.

A run lives twice, on purpose. `run_log` holds, in order, the RFC 6902 ops that built the run's
JSON document (the history, replayable with `tracer.log`); `runs` holds the document as it is
now, plus the columns the viewer filters and sorts on, all derived from that document. Only
`runs` is read on the hot paths; `run_log` is appended to and read when a run is replayed.

Portability (SQLite now, PostgreSQL too, one migration for both):

- Ids are 36-character UUID strings. UUIDv7 strings sort by creation time, so new rows land at
  the right edge of every id index, and the same text compares the same on both databases.
- JSON is stored as text written by `tracer._json.dumps`, never as a database JSON type: the
  document read back is byte-for-byte what was written, on either database.
- Times are `DateTime(timezone=True)`: `timestamptz` on PostgreSQL, a fixed-width
  `YYYY-MM-DD HH:MM:SS.ffffff` UTC string on SQLite; both sort by time.
- Indexes are plain ascending column lists (both databases scan them backwards for
  "newest first"), matched to the viewer's queries; every extra index costs insert speed.

Full-text search is SQLite's alone and lives outside this metadata: `run_text` (each run's
searchable words, one row per run) and `run_text_fts` (an FTS5 index over it), created by
migration 0002 on SQLite only and kept by `writes.py` (see `search.py`). PostgreSQL searches
`runs.doc` with ILIKE instead. `migrations/env.py` leaves those tables out of comparisons.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = ["metadata", "projects", "runs", "run_log", "feedback", "feedback_keys", "datasets", "examples", "ID_LENGTH"]

#: Length of a UUID in its canonical text form.
ID_LENGTH = 36

# Named constraints, so a later migration can drop or alter them by name on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id(name: str = "id", *args: object, **kwargs: object) -> Column[str]:
    return Column(name, String(ID_LENGTH), *args, **kwargs)  # type: ignore[arg-type]


def _time(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


projects = Table(
    "projects",
    metadata,
    _id(primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("description", Text),
    _time("created_at"),
    Column("metadata", Text),
)

runs = Table(
    "runs",
    metadata,
    _id(primary_key=True),
    _id("project_id", ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    _id("trace_id", nullable=False),
    _id("parent_run_id"),
    Column("dotted_order", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("run_type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    _time("start_time"),
    _time("end_time", nullable=True),
    Column("latency_ms", Float),
    # Milliseconds from the start of the run to its first streamed token.
    Column("first_token_ms", Float),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("total_tokens", Integer),
    Column("cost", Float),
    Column("model_name", Text),
    # JSON array of strings.
    Column("tags", Text, nullable=False),
    # The first characters of the error, for lists; the whole text is in `doc`.
    Column("error", Text),
    _id("reference_example_id"),
    # The whole run document, as JSON: what readers return.
    Column("doc", Text, nullable=False),
    # Latest runs of a project, optionally of one type or model: equality columns
    # first, then the sort column, so "newest 50" is an index range read backwards. The first
    # also carries the usage figures, so a project's (or a time bucket's) token and cost sums
    # are read from the index alone, never from the kilobyte-sized rows.
    Index("ix_runs_project_time_usage", "project_id", "start_time", "total_tokens", "prompt_tokens", "completion_tokens", "cost"),
    Index(None, "project_id", "run_type", "start_time"),
    # Failed runs of a project, newest first. Partial: errors are few, and the other statuses
    # are common enough (success) or recent enough (running) to be found by any newest-first
    # scan; root runs' status is also in `ix_runs_roots`.
    Index(
        "ix_runs_errors",
        "project_id",
        "start_time",
        sqlite_where=text("status = 'error'"),
        postgresql_where=text("status = 'error'"),
    ),
    Index(
        "ix_runs_project_model_time",
        "project_id",
        "model_name",
        "start_time",
        sqlite_where=text("model_name IS NOT NULL"),
        postgresql_where=text("model_name IS NOT NULL"),
    ),
    # The viewer's default list, a project's traces newest first: only root runs, a partial
    # index (both databases have them). It carries status and latency for the figures of
    # traces (counts, error rate) and the time series, read from the index alone; and
    # `parent_run_id` (always NULL here), without which SQLite would not count the index as
    # covering a query that names that column in its WHERE.
    Index(
        "ix_runs_roots",
        "project_id",
        "start_time",
        "status",
        "latency_ms",
        "parent_run_id",
        sqlite_where=text("parent_run_id IS NULL"),
        postgresql_where=text("parent_run_id IS NULL"),
    ),
    # Sorting a project's runs by latency, tokens or cost, keyset-paginated on (value, id).
    # Latencies rarely tie, so that index does without the id; it carries `parent_run_id` so
    # percentiles of root runs are read from the index alone. Tokens and cost are partial: only
    # model calls have them (the runs without are listed after the others, newest first, from
    # the usage index above).
    Index("ix_runs_project_latency", "project_id", "latency_ms", "parent_run_id"),
    Index(
        "ix_runs_project_tokens",
        "project_id",
        "total_tokens",
        "id",
        sqlite_where=text("total_tokens IS NOT NULL"),
        postgresql_where=text("total_tokens IS NOT NULL"),
    ),
    Index(
        "ix_runs_project_cost",
        "project_id",
        "cost",
        "id",
        sqlite_where=text("cost IS NOT NULL"),
        postgresql_where=text("cost IS NOT NULL"),
    ),
    # Newest runs of every project at once.
    Index(None, "start_time"),
    # A trace as a tree, in dotted order (parents before children, siblings by start).
    Index(None, "trace_id", "dotted_order"),
    Index(None, "parent_run_id"),
)

# An ordinary rowid table, not SQLite's WITHOUT ROWID: ops rows are about a kilobyte, more than
# fits in a WITHOUT ROWID b-tree cell, and the overflow pages halved the write rate here.
# `pos` numbers the rows in the order they were written, across runs: the cursor of the viewer's
# live updates ("every change after pos N"). On SQLite it is the rowid itself (INTEGER PRIMARY
# KEY AUTOINCREMENT: no extra index, and never reused, even after the newest rows are deleted);
# on PostgreSQL a BIGSERIAL. Rows are looked up per run through the (run_id, seq) key.
run_log = Table(
    "run_log",
    metadata,
    Column("pos", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    _id("run_id", ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    # JSON array of the RFC 6902 ops written in this change, in order.
    Column("ops", Text, nullable=False),
    _time("written_at"),
    UniqueConstraint("run_id", "seq"),
    sqlite_autoincrement=True,
)

# No foreign key to `runs`: feedback may arrive before the background writer stores its run.
feedback = Table(
    "feedback",
    metadata,
    _id(primary_key=True),
    _id("run_id", nullable=False),
    _id("trace_id"),
    Column("key", Text, nullable=False),
    Column("score", Float),
    Column("value", Text),
    Column("comment", Text),
    Column("correction", Text),
    Column("source", Text),
    _time("created_at"),
    _time("modified_at"),
    Index(None, "run_id"),
    # The runs filter "feedback key K with a score between a and b" starts from here.
    Index(None, "key", "score"),
)

# The feedback keys people label runs with, and the control the viewer shows for each
# (`tracer.feedback_keys`): `kind` is thumbs, stars, score, categories or text; `min_score` and
# `max_score` bound a score; `categories` is a JSON list of {"label", "value"}; `position` orders
# the controls. Few rows, read whole: no index besides the key.
feedback_keys = Table(
    "feedback_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("description", Text),
    Column("min_score", Float),
    Column("max_score", Float),
    Column("categories", Text),
    Column("position", Integer, nullable=False),
    _time("created_at"),
    _time("modified_at"),
)

datasets = Table(
    "datasets",
    metadata,
    _id(primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("description", Text),
    Column("metadata", Text),
    _time("created_at"),
    _time("modified_at"),
)

examples = Table(
    "examples",
    metadata,
    _id(primary_key=True),
    _id("dataset_id", ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("inputs", Text, nullable=False),
    Column("outputs", Text),
    Column("metadata", Text),
    _id("source_run_id"),
    Column("split", Text),
    _time("created_at"),
    _time("modified_at"),
    Index(None, "dataset_id", "created_at"),
)
