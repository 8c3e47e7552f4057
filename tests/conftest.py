"""Every test runs with a fresh, private tracer home and no tracing variables from outside."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
