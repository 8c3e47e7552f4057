"""The `tracer` command as a user runs it: a real process, a real store under TRACER_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _tracer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracer.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_demo_prints_the_quickstart_and_records_its_runs(isolated_tracer: Path) -> None:
    demo = _tracer("demo", "--no-ui")
    assert demo.returncode == 0, demo.stderr
    assert "AIMessage(content=\"J'adore la programmation.\")" in demo.stdout
    assert "RunLogPatch({'op': 'replace',\n  'path': '/final_output'," in demo.stdout
    assert "Recorded 10 runs in project 'demo'" in demo.stdout
    assert (isolated_tracer / "traces.db").exists()
    assert demo.stderr == ""

    runs = _tracer("runs", "--project", "demo", "--limit", "3")
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.splitlines()
    assert lines[0].split() == ["time", "project", "name", "type", "status", "latency", "tokens"]
    assert len(lines) == 2 + 3
    assert all(line.split()[2:6] == ["demo", "FakeChatModel", "llm", "success"] for line in lines[2:])
    assert all(line.split()[-1].isdigit() for line in lines[2:])


def test_runs_before_anything_was_traced_says_so_without_creating_a_store(isolated_tracer: Path) -> None:
    result = _tracer("runs")
    assert result.returncode == 0
    assert "No runs yet" in result.stdout
    assert not isolated_tracer.exists()


def test_runs_filters_that_match_nothing(isolated_tracer: Path) -> None:
    assert _tracer("demo", "-q", "--no-ui").returncode == 0
    result = _tracer("runs", "--type", "tool")
    assert result.returncode == 0 and result.stdout.strip() == "No runs match."


def test_db_upgrade_and_current(isolated_tracer: Path) -> None:
    current = _tracer("db", "current")
    assert current.returncode == 0 and "has no schema yet" in current.stdout
    upgrade = _tracer("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert "is at revision 0003 (the newest)" in upgrade.stdout
    assert "(the newest)." in _tracer("db", "current").stdout


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", "database URL"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/nothing", ""),
    ],
)
def test_errors_are_one_sentence_not_a_traceback(isolated_tracer: Path, url: str, words: str) -> None:
    result = _tracer("db", "upgrade", env={"TRACER_DATABASE_URL": url})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert words in result.stderr
