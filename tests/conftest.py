"""Every test runs with a fresh, private tracer home and no tracing variables from outside.

`store` here is the tracer's own store, opened after a flush; modules that test a store of
their own (a temp file) define their own `store` fixture, which takes precedence."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tracer
from tracer import config
from tracer._writer import close_all

_PREFIXES = ("LANGCHAIN_", "LANGSMITH_", "TRACER_")


#: `TRACER_TEST_STORE=postgresql pytest ...` runs the tests that use the tracer's own store
#: (the SDK, the client, the viewer) on the PostgreSQL server below, emptied before each test.
_TEST_STORE = os.environ.get("TRACER_TEST_STORE", "sqlite")


@pytest.fixture(autouse=True)
def isolated_tracer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Path]:
    """Point the store at a temp folder, clear tracing variables, and stop the writers after."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path / "tracer-home"
    monkeypatch.setenv("TRACER_HOME", str(home))
    if _TEST_STORE == "postgresql":
        monkeypatch.setenv("TRACER_DATABASE_URL", request.getfixturevalue("pg_store_url"))
    config.configure()
    yield home
    close_all(timeout=30)


@pytest.fixture
def tracing(monkeypatch: pytest.MonkeyPatch, isolated_tracer: Path) -> config.Settings:
    """Tracing on, through the environment as a user would switch it on."""
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    monkeypatch.setenv("LANGCHAIN_PROJECT", "tests")
    return config.configure()


@pytest.fixture
def store(isolated_tracer: Path) -> Iterator[Callable[[], Any]]:
    """The tracer's store as a call: `store()` flushes the writer, then opens it (once).

    Call it after the traced calls and before asserting: until the flush the writer thread may
    be importing the store's migrations, and CPython 3.11 can fail with "SystemError: AST
    constructor recursion depth mismatch" when pytest parses a failing test's source meanwhile."""
    from tracer.store import open_store

    opened: list[Any] = []

    def get() -> Any:
        assert tracer.flush(timeout=10)
        if not opened:
            opened.append(open_store(config.get_settings().store_url))
        return opened[0]

    yield get
    for s in opened:
        s.close()


# -- PostgreSQL -------------------------------------------------------------------------------
# The store's tests run on SQLite and on the PostgreSQL server at 127.0.0.1:5432 (trust auth),
# which CI's machine runs. Each session gets a database of its own, uniquely named, upgraded
# to head and dropped at the end; `pg_store_url` empties it before each test. Override the
# server with TRACER_TEST_POSTGRES_URL (a URL of an existing database to connect to as admin).

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_PG_TABLES = "feedback_keys, examples, datasets, feedback, run_log, runs, projects"


# Read at import: `isolated_tracer` clears every TRACER_ variable before each test.
_PG_ADMIN = os.environ.get("TRACER_TEST_POSTGRES_URL", PG_ADMIN_URL)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the PostgreSQL server; skips the test if it cannot be reached."""
    admin = _PG_ADMIN
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[test]'): PostgreSQL tests skipped")
    from sqlalchemy import create_engine, pool, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(admin, poolclass=pool.NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL server at {admin} ({str(exc.orig).strip().splitlines()[0]}): PostgreSQL tests skipped")
    finally:
        engine.dispose()
    return admin


@pytest.fixture(scope="session")
def pg_databases(pg_server: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty, uniquely named databases on the server, all dropped at the end."""
    import uuid

    from sqlalchemy import create_engine, pool, text
    from sqlalchemy.engine import make_url

    admin = create_engine(pg_server, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def create() -> str:
        name = f"tracer_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(pg_server).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url(pg_databases: Callable[[], str]) -> str:
    """This session's PostgreSQL database, upgraded to head (`tracer db upgrade`)."""
    from tracer.store import upgrade

    url = pg_databases()
    upgrade(url)
    return url


@pytest.fixture
def pg_store_url(pg_url: str) -> str:
    """`pg_url`, emptied of every row first: each test starts with an empty store."""
    from sqlalchemy import create_engine, pool, text

    engine = create_engine(pg_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {_PG_TABLES} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return pg_url
