"""The Alembic migrations build exactly the schema of `tracer.store.tables`, and stores upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from tracer.store import StoreError, current_revision, migrate, open_store, tables, upgrade

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
            diff = compare_metadata(MigrationContext.configure(connection), tables.metadata)
            inspector = inspect(connection)
            names = set(inspector.get_table_names())
            run_columns = [column["name"] for column in inspector.get_columns("runs")]
            run_indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes("runs")}
            log_key = inspector.get_pk_constraint("run_log")["constrained_columns"]
            run_fks = inspector.get_foreign_keys("runs")
    finally:
        engine.dispose()

    assert diff == []
    assert names == {"alembic_version", "projects", "runs", "run_log", "feedback", "datasets", "examples"}
    assert run_columns == RUN_COLUMNS
    assert run_indexes == {
        "ix_runs_project_id_start_time": ["project_id", "start_time"],
        "ix_runs_project_id_run_type_start_time": ["project_id", "run_type", "start_time"],
        "ix_runs_project_id_status_start_time": ["project_id", "status", "start_time"],
        "ix_runs_trace_id_dotted_order": ["trace_id", "dotted_order"],
        "ix_runs_parent_run_id": ["parent_run_id"],
    }
    assert log_key == ["run_id", "seq"]
    assert [(fk["referred_table"], fk["options"].get("ondelete")) for fk in run_fks] == [("projects", "CASCADE")]


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = _url(tmp_path / "twice.db")
    assert current_revision(url) is None
    first = upgrade(url)
    second = upgrade(url)
    assert first == second == current_revision(url) == "0001"


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


def test_downgrade_to_base_removes_every_table(tmp_path: Path) -> None:
    url = _url(tmp_path / "down.db")
    upgrade(url)
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


def test_script_location_is_the_package_with_env_py() -> None:
    folder = migrate.script_location()
    assert (folder / "env.py").is_file()
    assert (folder / "versions" / "0001_initial.py").is_file()
    assert migrate.head_revision() == "0001"
