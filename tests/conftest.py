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


@pytest.fixture(autouse=True)
def isolated_tracer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the store at a temp folder, clear tracing variables, and stop the writers after."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path / "tracer-home"
    monkeypatch.setenv("TRACER_HOME", str(home))
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
