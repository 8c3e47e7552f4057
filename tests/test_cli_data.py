"""`tracer export dataset|runs` and `tracer import dataset`, run as a user runs them (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tracer
from tracer.chat_models import FakeChatModel


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracer.cli", *args], capture_output=True, text=True, env=dict(os.environ), timeout=120)


@pytest.fixture
def filled() -> None:
    with tracer.tracing_enabled(project_name="cli"):
        model = FakeChatModel(responses=["one", "two", "three"])
        for question in ("1?", "2?", "3?"):
            model.invoke(question)
    assert tracer.flush(timeout=30)
    with tracer.Client() as client:
        runs = client.list_runs(project_name="cli")
        client.create_feedback(runs[0].id, "fix", correction={"output": "THREE"})
        client.create_dataset("cli-ds")
        client.create_examples_from_runs("cli-ds", [r.id for r in reversed(runs)])


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "openai", "langsmith"])
def test_export_then_import_a_dataset(filled: None, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"ds.{fmt}"
    done = _cli("export", "dataset", "cli-ds", "--format", fmt, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"Wrote 3 examples of dataset 'cli-ds' to {out}" in done.stdout
    assert out.exists() and out.stat().st_size > 0
    done = _cli("import", "dataset", str(out), "--name", f"back-{fmt}")
    assert done.returncode == 0, done.stderr
    assert f"Imported 3 examples into dataset 'back-{fmt}'" in done.stdout
    with tracer.Client() as client:
        back = client.list_examples(dataset_name=f"back-{fmt}")
        original = client.list_examples(dataset_name="cli-ds")
    if fmt == "openai":
        assert back[2].outputs == {"output": {"content": "THREE", "type": "ai"}}
    else:
        assert [(e.inputs, e.outputs, e.metadata) for e in back] == [(e.inputs, e.outputs, e.metadata) for e in original]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_runs(filled: None, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"runs.{fmt}"
    done = _cli("export", "runs", "--project", "cli", "--format", fmt, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "Wrote 3 runs of project 'cli'" in done.stdout
    if fmt == "jsonl":
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [line["feedback"] for line in lines][2][0]["key"] == "fix"
    filtered = tmp_path / f"filtered.{fmt}"
    done = _cli("export", "runs", "--project", "cli", "--filter", 'eq(feedback_key, "fix")', "--format", fmt, "-o", str(filtered))
    assert done.returncode == 0, done.stderr
    assert "Wrote 1 runs of project 'cli'" in done.stdout


def test_user_errors_are_one_sentence(filled: None, tmp_path: Path) -> None:
    done = _cli("export", "dataset", "missing", "-o", str(tmp_path / "x.jsonl"))
    assert done.returncode == 1 and "No dataset named 'missing'" in done.stderr and "Traceback" not in done.stderr
    done = _cli("export", "runs", "--project", "nope", "-o", str(tmp_path / "y.jsonl"))
    assert done.returncode == 1 and "No project named 'nope'" in done.stderr
    done = _cli("export", "runs", "--project", "cli", "--filter", "eq(name", "-o", str(tmp_path / "f.jsonl"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    done = _cli("export", "dataset", "cli-ds", "--format", "xml", "-o", str(tmp_path / "z"))
    assert done.returncode == 2
    (tmp_path / "bad.jsonl").write_text("{nope\n")
    done = _cli("import", "dataset", str(tmp_path / "bad.jsonl"))
    assert done.returncode == 1 and "line 1" in done.stderr and "Traceback" not in done.stderr
    done = _cli("import", "dataset", str(tmp_path / "ds.jsonl"), "--name", "cli-ds")
    assert done.returncode == 2  # no such file: click says so
