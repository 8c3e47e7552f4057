"""The viewer's indexes, a position on every op-log row, and full-text search on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

- `runs`: indexes for the viewer's lists and figures (see `tracer/store/tables.py` for what each
  serves). `ix_runs_project_id_start_time` becomes `ix_runs_project_time_usage`, the same
  leading columns plus the usage figures; `ix_runs_project_id_status_start_time` becomes
  `ix_runs_errors`, partial (only failed runs need an index to be found fast).
- `feedback`: an index on (key, score), for the runs filter on feedback.
- `run_log.pos`: the rows' order of writing, across runs, for live updates. SQLite cannot add a
  primary key to a table, so the table is rebuilt with `pos` as its INTEGER PRIMARY KEY
  AUTOINCREMENT, numbered from the old rowids (the order the rows were written in). PostgreSQL
  adds a BIGSERIAL column (existing rows numbered in the table's physical order).
- SQLite with FTS5 only: `run_text` and its FTS5 index `run_text_fts`, kept by the writer (see
  `tracer/store/search.py`), filled here from every stored run's document.

Written by hand and frozen, like 0001: the DDL is spelled out here. The backfill uses
`tracer.store.search.searchable_text`, so stored runs get the same words as the writer gives
new ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROOTS = "parent_run_id IS NULL"
_INDEXES: list[tuple[str, list[str], str | None]] = [
    ("ix_runs_project_time_usage", ["project_id", "start_time", "total_tokens", "prompt_tokens", "completion_tokens", "cost"], None),
    ("ix_runs_project_model_time", ["project_id", "model_name", "start_time"], "model_name IS NOT NULL"),
    ("ix_runs_roots", ["project_id", "start_time", "status", "latency_ms", "parent_run_id"], _ROOTS),
    ("ix_runs_errors", ["project_id", "start_time"], "status = 'error'"),
    ("ix_runs_project_latency", ["project_id", "latency_ms", "parent_run_id"], None),
    ("ix_runs_project_tokens", ["project_id", "total_tokens", "id"], "total_tokens IS NOT NULL"),
    ("ix_runs_project_cost", ["project_id", "cost", "id"], "cost IS NOT NULL"),
    ("ix_runs_start_time", ["start_time"], None),
]

_FTS_DDL = [
    """CREATE TABLE run_text (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id VARCHAR(36) NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
        body TEXT NOT NULL
    )""",
    """CREATE VIRTUAL TABLE run_text_fts USING fts5(
        body, content='run_text', content_rowid='id', columnsize=0,
        tokenize='unicode61 remove_diacritics 2'
    )""",
]
_BACKFILL_BATCH = 2_000


def _time(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def upgrade() -> None:
    op.drop_index("ix_runs_project_id_start_time", table_name="runs")
    op.drop_index("ix_runs_project_id_status_start_time", table_name="runs")
    for name, columns, where in _INDEXES:
        condition = {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)} if where else {}
        op.create_index(name, "runs", columns, **condition)
    op.create_index("ix_feedback_key_score", "feedback", ["key", "score"])
    if _sqlite():
        _sqlite_log_pos()
        _sqlite_search()
    else:
        op.drop_constraint("pk_run_log", "run_log", type_="primary")
        op.execute("ALTER TABLE run_log ADD COLUMN pos BIGSERIAL NOT NULL")
        op.create_primary_key("pk_run_log", "run_log", ["pos"])
        op.create_unique_constraint("uq_run_log_run_id_seq", "run_log", ["run_id", "seq"])


def _sqlite_log_pos() -> None:
    op.create_table(
        "run_log_new",
        sa.Column("pos", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ops", sa.Text(), nullable=False),
        _time("written_at"),
        sa.UniqueConstraint("run_id", "seq", name="uq_run_log_run_id_seq"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_log_run_id_runs", ondelete="CASCADE"),
        sqlite_autoincrement=True,
    )
    op.execute(
        "INSERT INTO run_log_new (pos, run_id, seq, ops, written_at) "
        "SELECT rowid, run_id, seq, ops, written_at FROM run_log ORDER BY rowid"
    )
    op.drop_table("run_log")
    op.rename_table("run_log_new", "run_log")


def _fts5_available(connection: sa.Connection) -> bool:
    try:
        connection.exec_driver_sql("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
    except sa.exc.OperationalError:
        return False
    connection.exec_driver_sql("DROP TABLE temp.fts5_probe")
    return True


def _sqlite_search() -> None:
    connection = op.get_bind()
    if not op.get_context().as_sql and not _fts5_available(connection):
        return  # This SQLite has no FTS5: search falls back to ILIKE over runs.doc.
    for statement in _FTS_DDL:
        op.execute(statement)
    if not op.get_context().as_sql:
        _backfill(connection)
        # Index every backfilled row at once, from the content table.
        op.execute("INSERT INTO run_text_fts (run_text_fts) VALUES ('rebuild')")
    # Merge segments 8 at a time rather than 4: less merging per write, for a little more
    # reading per search.
    op.execute("INSERT INTO run_text_fts (run_text_fts, rank) VALUES ('automerge', 8)")


def _backfill(connection: sa.Connection) -> None:
    from tracer._json import loads
    from tracer.store.search import searchable_text

    last = ""
    while True:
        rows = connection.exec_driver_sql(
            "SELECT id, doc FROM runs WHERE id > ? ORDER BY id LIMIT ?", (last, _BACKFILL_BATCH)
        ).fetchall()
        if not rows:
            return
        connection.exec_driver_sql(
            "INSERT INTO run_text (run_id, body) VALUES (?, ?)",
            [(run_id, searchable_text(loads(doc))) for run_id, doc in rows],
        )
        last = rows[-1][0]


def downgrade() -> None:
    if _sqlite():
        op.execute("DROP TABLE IF EXISTS run_text_fts")
        op.execute("DROP TABLE IF EXISTS run_text")
        op.create_table(
            "run_log_old",
            sa.Column("run_id", sa.String(36), nullable=False),
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("ops", sa.Text(), nullable=False),
            _time("written_at"),
            sa.PrimaryKeyConstraint("run_id", "seq", name="pk_run_log"),
            sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_log_run_id_runs", ondelete="CASCADE"),
        )
        op.execute(
            "INSERT INTO run_log_old (rowid, run_id, seq, ops, written_at) "
            "SELECT pos, run_id, seq, ops, written_at FROM run_log ORDER BY pos"
        )
        op.drop_table("run_log")
        op.rename_table("run_log_old", "run_log")
    else:
        op.drop_constraint("uq_run_log_run_id_seq", "run_log", type_="unique")
        op.drop_constraint("pk_run_log", "run_log", type_="primary")
        op.drop_column("run_log", "pos")
        op.create_primary_key("pk_run_log", "run_log", ["run_id", "seq"])
    op.drop_index("ix_feedback_key_score", table_name="feedback")
    for name, _columns, _where in reversed(_INDEXES):
        op.drop_index(name, table_name="runs")
    op.create_index("ix_runs_project_id_start_time", "runs", ["project_id", "start_time"])
    op.create_index("ix_runs_project_id_status_start_time", "runs", ["project_id", "status", "start_time"])
