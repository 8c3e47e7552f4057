"""Schema versions with Alembic, driven from code: no alembic.ini, no checkout needed.

The migration scripts ship inside the wheel as `tracer.migrations` (the top-level `migrations/`
folder of a checkout, mapped by pyproject.toml), so they are found by importing that package.

An embedded SQLite store upgrades itself when opened. The whole upgrade runs in one
`BEGIN IMMEDIATE` transaction that first re-reads the version: when several processes open a
brand-new file at once, one creates the schema and the others wait on the lock, then find the
database at head and do nothing. A store already at head costs one small read (the
`alembic_version` row against the scripts' head, which is computed once per process). Any other
database is shared and upgraded on purpose, with `tracer db upgrade`.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from .engine import describe, is_memory, migration_engine, parse_url, sqlite_path
from .errors import StoreError, reason

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported where scripts run, never at import: it costs a quarter of a second, which
# every traced program would pay (the tracer imports the store) to open a store that is current.

__all__ = ["head_revision", "current_revision", "upgrade", "ensure_at_head", "script_location"]

# Any constant: PostgreSQL serializes `tracer db upgrade`s run at the same moment on it.
_PG_LOCK_KEY = 0x7472616365


def script_location() -> Path:
    """The folder of `env.py` and `versions/`, found as a package, wherever it is installed."""
    # An installed wheel (or editable install) has `tracer.migrations`; a bare source checkout
    # run from its root has the same folder as the top-level package `migrations`.
    for name in ("tracer.migrations", "migrations"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        folder = Path(module.__file__ or "").parent
        if (folder / "env.py").is_file():
            return folder
    raise StoreError("The store's migration scripts (package tracer.migrations) are missing; reinstall chat-tracer.")


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(script_location()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The revision the installed scripts upgrade to."""
    head = _scripts().get_current_head()
    assert head is not None, "the migrations have no head"
    return head


def _read_revision(connection: Connection) -> str | None:
    """The `alembic_version` row (what Alembic's migration context reads), None without one."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _check_known(revision: str | None, url: URL) -> None:
    """Refuse a database written by a newer chat-tracer: these scripts cannot go from there."""
    if revision is None:
        return
    from alembic.util import CommandError

    try:
        known = _scripts().get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise StoreError(
            f"The store at {describe(url)} is at schema revision {revision!r}, which this version of "
            "chat-tracer does not know: it was written by a newer chat-tracer. Upgrade chat-tracer."
        )


def _upgrade_in(connection: Connection, url: URL) -> str:
    """Upgrade to head inside the caller's (locked) transaction; returns the head."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    head = head_revision()
    current = _read_revision(connection)
    if current == head:
        return head
    _check_known(current, url)
    from alembic import command

    command.upgrade(_config(connection), "head")
    if connection.dialect.name == "sqlite":
        # Foreign keys are off while migrating (see engine.py): check nothing was left dangling.
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise StoreError(f"Upgrading {describe(url)} broke foreign keys ({broken[:3]}); nothing was changed.")
    return head


def upgrade_engine(engine: Engine, url: URL) -> str:
    """Upgrade through `engine` (which must lock on begin) in one transaction; returns the head."""
    from alembic.util import CommandError

    try:
        with engine.begin() as connection:
            return _upgrade_in(connection, url)
    except StoreError:
        raise
    except (SQLAlchemyError, CommandError, OSError) as exc:
        raise StoreError(f"Could not upgrade the store at {describe(url)}: {reason(exc)}") from exc


def upgrade(url: str | URL, *, busy_timeout: float = 30.0) -> str:
    """Bring the database at `url` to the newest schema (`tracer db upgrade`); returns its revision.

    Safe to run again, and at the same time from several processes.
    """
    parsed = parse_url(url)
    if is_memory(parsed):
        raise StoreError("An in-memory SQLite database is upgraded when the store opens it; nothing to do here.")
    path = sqlite_path(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = migration_engine(parsed, busy_timeout=busy_timeout)
    try:
        return upgrade_engine(engine, parsed)
    finally:
        engine.dispose()


def current_revision(url: str | URL) -> str | None:
    """The schema revision of the database at `url` (None when it has none, or no file yet)."""
    parsed = parse_url(url)
    path = sqlite_path(parsed)
    if is_memory(parsed) or (path is not None and not path.exists()):
        return None  # Looking must not create an empty file.
    engine = migration_engine(parsed)
    try:
        with engine.connect() as connection:
            return _read_revision(connection)
    except SQLAlchemyError as exc:
        raise StoreError(f"Could not read the schema revision of {describe(parsed)}: {reason(exc)}") from exc
    finally:
        engine.dispose()


#: The newest revision of `migrations/versions`, known without loading the scripts: opening a
#: store that is already current (nearly every open) then compiles no migration module, which
#: also keeps the background writer from compiling code while the program's own thread might
#: (CPython 3.11 can crash when two threads build ASTs at once). A test checks it against Alembic.
HEAD_REVISION = "0003"


def ensure_at_head(reader: Engine, upgrader: Engine, url: URL, *, auto_upgrade: bool) -> None:
    """Make sure the store's schema is current, upgrading it if `auto_upgrade`, else raising."""
    try:
        with reader.connect() as connection:
            current = _read_revision(connection)
    except SQLAlchemyError as exc:
        raise StoreError(f"Could not open the store at {describe(url)}: {reason(exc)}") from exc
    if current == HEAD_REVISION:
        return
    head = head_revision()
    if current == head:
        return
    _check_known(current, url)
    if auto_upgrade:
        upgrade_engine(upgrader, url)
        return
    found = f"at schema revision {current!r}" if current else "not initialized"
    raise StoreError(
        f"The store at {describe(url)} is {found}, and this chat-tracer needs revision {head!r}: "
        "run `tracer db upgrade`."
    )
