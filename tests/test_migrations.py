"""The Alembic migrations build exactly the schema of `tracer.store.tables`, and stores upgrade."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from tracer.store import StoreError, current_revision, migrate, open_store, tables, upgrade
from tracer.store.search import include_name

RUN_COLUMNS = [
    "id",
    "project_id",
    "trace_id",
    "parent_run_id",
    "dotted_order",
    "name",
    "run_type",
    "status",
    "start_time",
    "end_time",
    "latency_ms",
    "first_token_ms",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "model_name",
    "tags",
    "error",
    "reference_example_id",
    "doc",
]


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_upgraded_blank_database_matches_tables(tmp_path: Path) -> None:
    url = _url(tmp_path / "blank.db")
    assert upgrade(url) == migrate.head_revision()

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": include_name})
            diff = compare_metadata(context, tables.metadata)
            inspector = inspect(connection)
            names = set(inspector.get_table_names())
            run_columns = [column["name"] for column in inspector.get_columns("runs")]
            run_indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes("runs")}
            log_key = inspector.get_pk_constraint("run_log")["constrained_columns"]
            log_unique = [u["column_names"] for u in inspector.get_unique_constraints("run_log")]
            run_fks = inspector.get_foreign_keys("runs")
    finally:
        engine.dispose()

    assert diff == []
    managed = {"alembic_version", "projects", "runs", "run_log", "feedback", "feedback_keys", "datasets", "examples"}
    search = {"run_text", "run_text_fts"}  # SQLite only, outside tables.metadata (+ FTS5 shadow tables)
    assert managed | search <= names
    assert all(name.startswith("run_text_fts_") or name == "sqlite_sequence" for name in names - managed - search)
    assert run_columns == RUN_COLUMNS
    assert run_indexes == {
        "ix_runs_project_time_usage": ["project_id", "start_time", "total_tokens", "prompt_tokens", "completion_tokens", "cost"],
        "ix_runs_project_id_run_type_start_time": ["project_id", "run_type", "start_time"],
        "ix_runs_errors": ["project_id", "start_time"],
        "ix_runs_project_model_time": ["project_id", "model_name", "start_time"],
        "ix_runs_roots": ["project_id", "start_time", "status", "latency_ms", "parent_run_id"],
        "ix_runs_project_latency": ["project_id", "latency_ms", "parent_run_id"],
        "ix_runs_project_tokens": ["project_id", "total_tokens", "id"],
        "ix_runs_project_cost": ["project_id", "cost", "id"],
        "ix_runs_start_time": ["start_time"],
        "ix_runs_trace_id_dotted_order": ["trace_id", "dotted_order"],
        "ix_runs_parent_run_id": ["parent_run_id"],
    }
    assert log_key == ["pos"]
    assert log_unique == [["run_id", "seq"]]
    assert [(fk["referred_table"], fk["options"].get("ondelete")) for fk in run_fks] == [("projects", "CASCADE")]


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = _url(tmp_path / "twice.db")
    assert current_revision(url) is None
    first = upgrade(url)
    second = upgrade(url)
    assert first == second == current_revision(url) == "0003"


def test_current_revision_does_not_create_a_file(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "traces.db"
    assert current_revision(_url(path)) is None
    assert not path.exists()


def test_open_store_creates_folder_and_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "traces.db"
    with open_store(_url(path)) as store:
        assert store.count_runs() == 0
    assert path.is_file()
    assert current_revision(_url(path)) == migrate.head_revision()
    journal = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_open_store_without_auto_upgrade_asks_for_tracer_db_upgrade(tmp_path: Path) -> None:
    url = _url(tmp_path / "managed.db")
    with pytest.raises(StoreError, match=r"not initialized.*run `tracer db upgrade`\.$"):
        open_store(url, auto_upgrade=False)
    assert current_revision(url) is None  # Refusing did not upgrade behind our back.

    upgrade(url)
    with open_store(url, auto_upgrade=False) as store:
        assert store.list_projects() == []


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    upgrade(_url(path))
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")
    with pytest.raises(StoreError, match="newer chat-tracer"):
        open_store(_url(path))
    with pytest.raises(StoreError, match="newer chat-tracer"):
        upgrade(_url(path))


def _assert_downgrades_to_base(url: str) -> None:
    """Alembic's downgrade to base leaves only its own version table, and no revision."""
    config = Config()
    config.set_main_option("script_location", str(migrate.script_location()))
    config.set_main_option("sqlalchemy.url", url)
    command.downgrade(config, "base")
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    assert current_revision(url) is None


def test_downgrade_to_base_removes_every_table(tmp_path: Path) -> None:
    url = _url(tmp_path / "down.db")
    upgrade(url)
    _assert_downgrades_to_base(url)


def test_scripts_render_postgresql_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    # Offline mode: the same migration as PostgreSQL SQL, without a server.
    config = Config()
    config.set_main_option("script_location", str(migrate.script_location()))
    config.set_main_option("sqlalchemy.url", "postgresql://")
    command.upgrade(config, "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE runs" in sql
    assert "start_time TIMESTAMP WITH TIME ZONE NOT NULL" in sql
    assert "CREATE INDEX ix_runs_project_id_start_time ON runs (project_id, start_time)" in sql
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in sql
    # 0002: the viewer's indexes (a partial one for root runs), run_log.pos; no FTS5 there.
    assert "CREATE INDEX ix_runs_roots ON runs (project_id, start_time, status, latency_ms, parent_run_id) WHERE parent_run_id IS NULL" in sql
    assert "ALTER TABLE run_log ADD COLUMN pos BIGSERIAL NOT NULL" in sql
    assert "ALTER TABLE run_log ADD CONSTRAINT pk_run_log PRIMARY KEY (pos)" in sql
    assert "fts5" not in sql
    assert "UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001'" in sql


def test_script_location_is_the_package_with_env_py() -> None:
    folder = migrate.script_location()
    assert (folder / "env.py").is_file()
    assert (folder / "versions" / "0001_initial.py").is_file()
    assert (folder / "versions" / "0002_viewer.py").is_file()
    assert migrate.head_revision() == "0003"


def test_upgrading_a_0001_store_with_runs_numbers_its_log_and_indexes_its_words(tmp_path: Path) -> None:
    from tracer.store import browse

    path = tmp_path / "old.db"
    config = Config()
    config.set_main_option("script_location", str(migrate.script_location()))
    config.set_main_option("sqlalchemy.url", _url(path))
    command.upgrade(config, "0001")
    # Rows as chat-tracer 0001 wrote them: runs, and their op logs in the order written.
    docs = []
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO projects VALUES ('p1', 'legacy', NULL, '2025-01-01 00:00:00.000000', NULL)")
        for i, word in enumerate(["aardvark", "badger", "capybara"]):
            run_id = f"00000000-0000-7000-8000-00000000000{i}"
            doc = (
                f'{{"id":"{run_id}","name":"ChatOpenAI","run_type":"llm","project":"legacy",'
                f'"inputs":{{"messages":[[{{"type":"human","content":"tell me about the {word}"}}]]}},'
                f'"outputs":{{"generations":[[{{"text":"The {word} is an animal."}}]]}},"error":null}}'
            )
            start = f"2025-01-0{i + 1} 00:00:00.000000"
            connection.execute(
                "INSERT INTO runs (id, project_id, trace_id, dotted_order, name, run_type, status, start_time, "
                "latency_ms, tags, doc) VALUES (?, 'p1', ?, ?, 'ChatOpenAI', 'llm', 'success', ?, 5.0, '[]', ?)",
                (run_id, run_id, f"2025010{i + 1}T000000000000Z{run_id}", start, doc),
            )
            docs.append(run_id)
        # Written out of id order, to see that positions follow the writing order.
        for run_id, seq in [(docs[2], 0), (docs[0], 0), (docs[1], 0), (docs[0], 1)]:
            connection.execute("INSERT INTO run_log VALUES (?, ?, '[]', '2025-01-05 00:00:00.000000')", (run_id, seq))

    assert upgrade(_url(path)) == migrate.head_revision()
    with sqlite3.connect(path) as connection:
        logged = connection.execute("SELECT pos, run_id, seq FROM run_log ORDER BY pos").fetchall()
    assert logged == [(1, docs[2], 0), (2, docs[0], 0), (3, docs[1], 0), (4, docs[0], 1)]
    with open_store(_url(path)) as store:
        found = browse.list_run_rows(store, browse.RunFilter(project="legacy", search="badger"))
        assert [row.id for row in found.rows] == [docs[1]]
        assert [row.id for row in browse.list_run_rows(store, browse.RunFilter(project="legacy", search="animal")).rows] == docs[::-1]
        assert browse.list_run_rows(store, browse.RunFilter(project="legacy", search="generations")).rows == []
        assert [row.pos for row in browse.log_since(store, 2)] == [3, 4]
        # New writes continue the numbering, and are searchable too.
        from tracer.store import RunChange

        new_id = "00000000-0000-7000-8000-000000000009"
        doc = {"id": new_id, "name": "x", "run_type": "chain", "project": "legacy", "start_time": "2025-01-09T00:00:00+00:00", "inputs": {"q": "dormouse"}}
        store.write([RunChange(new_id, doc, [{"op": "replace", "path": "", "value": doc}], 0)])
        assert [(row.pos, row.run_id) for row in browse.log_since(store, 4)] == [(5, new_id)]
        assert [row.id for row in browse.list_run_rows(store, browse.RunFilter(project="legacy", search="dormouse")).rows] == [new_id]

    command.downgrade(config, "0001")  # and back: the log keeps its rows and order
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT run_id, seq FROM run_log ORDER BY rowid").fetchall() == [(r, s) for _, r, s in logged] + [(new_id, 0)]
        assert "run_text" not in {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}


def test_the_known_head_is_alembics_head() -> None:
    from tracer.store.migrate import HEAD_REVISION, head_revision

    assert HEAD_REVISION == head_revision()


# -- PostgreSQL (the server of conftest.py; skipped only when it cannot be reached) -------------


def _tracer(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracer.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TRACER_DATABASE_URL": url},
        timeout=120,
    )


def test_postgresql_tracer_db_upgrade_then_current_report_the_head(pg_databases: Callable[[], str]) -> None:
    url = pg_databases()
    shown = make_url(url).render_as_string(hide_password=True)
    before = _tracer("db", "current", url=url)
    assert before.returncode == 0, before.stderr
    assert "has no schema yet" in before.stdout
    with pytest.raises(StoreError, match="tracer db upgrade"):
        open_store(url)  # A shared database is upgraded on purpose, never when opened.

    for _ in range(2):  # Again: nothing to do.
        upgraded = _tracer("db", "upgrade", url=url)
        assert upgraded.returncode == 0, upgraded.stderr
        assert upgraded.stdout.strip() == f"The store at {shown} is at revision 0003 (the newest)."
    current = _tracer("db", "current", url=url)
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == f"The store at {shown} is at revision 0003 (the newest)."
    assert current_revision(url) == migrate.head_revision() == "0003"
    with open_store(url) as store:
        assert store.count_runs() == 0


def test_postgresql_upgraded_database_matches_tables_and_downgrades(pg_databases: Callable[[], str]) -> None:
    url = pg_databases()
    assert upgrade(url) == migrate.head_revision()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": include_name})
            diff = compare_metadata(context, tables.metadata)
            inspector = inspect(connection)
            names = set(inspector.get_table_names())
            log_key = inspector.get_pk_constraint("run_log")["constrained_columns"]
            run_columns = [column["name"] for column in inspector.get_columns("runs")]
    finally:
        engine.dispose()
    assert diff == []
    assert names == {"alembic_version", "projects", "runs", "run_log", "feedback", "feedback_keys", "datasets", "examples"}
    assert log_key == ["pos"] and run_columns == RUN_COLUMNS

    _assert_downgrades_to_base(url)
    assert upgrade(url) == "0003"  # And up again.
