"""Writing run changes to a real SQLite store and reading them back through the queries."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from sqlalchemy import text

from tracer._ids import uuid7
from tracer.config import Settings
from tracer.schemas import Run
from tracer.store import NotFound, RunChange, Store, StoreError, open_store
from tracer.store.queries import read_doc

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def _iso(offset_ms: float) -> str:
    return (T0 + timedelta(milliseconds=offset_ms)).isoformat()


class RunBuilder:
    """Builds a run's document and its ops the way the background writer does."""

    def __init__(
        self,
        *,
        project: str = "default",
        name: str = "ChatOpenAI",
        run_type: str = "llm",
        start_ms: float = 0,
        parent: RunBuilder | None = None,
        tags: list[str] | None = None,
    ) -> None:
        self.id = str(uuid7())
        start = _iso(start_ms)
        segment = (T0 + timedelta(milliseconds=start_ms)).strftime("%Y%m%dT%H%M%S%fZ") + self.id
        self.doc: dict[str, Any] = {
            "id": self.id,
            "trace_id": parent.doc["trace_id"] if parent else self.id,
            "parent_run_id": parent.id if parent else None,
            "dotted_order": f"{parent.doc['dotted_order']}.{segment}" if parent else segment,
            "name": name,
            "run_type": run_type,
            "project": project,
            "start_time": start,
            "end_time": None,
            "status": "running",
            "inputs": {"messages": [[{"type": "human", "content": "Traduce «I love programming» al francés."}]]},
            "outputs": None,
            "error": None,
            "extra": {
                "invocation_params": {"model": "gpt-4o-mini", "temperature": 0.2},
                "metadata": {"user": "ana"},
                "runtime": {"sdk": "tracer"},
            },
            "tags": tags or ["demo"],
            "events": [{"name": "start", "time": start}],
            "first_token_time": None,
            "model_name": "gpt-4o-mini",
            "prompt_tokens": None,
            "completion_tokens": None,
            "total_tokens": None,
            "cost": None,
            "reference_example_id": None,
        }
        self.ops: list[dict[str, Any]] = [{"op": "replace", "path": "", "value": copy.deepcopy(self.doc)}]
        self.seq = 0

    def _replace(self, key: str, value: Any) -> None:
        self.doc[key] = value
        self.ops.append({"op": "replace", "path": f"/{key}", "value": copy.deepcopy(value)})

    def _event(self, event: dict[str, Any]) -> None:
        self.doc["events"].append(event)
        self.ops.append({"op": "add", "path": "/events/-", "value": copy.deepcopy(event)})

    def token(self, at_ms: float, token: str) -> RunBuilder:
        self._event({"name": "new_token", "time": _iso(at_ms), "kwargs": {"token": token}})
        if self.doc["first_token_time"] is None:
            self._replace("first_token_time", _iso(at_ms))
        return self

    def end(
        self, at_ms: float, text: str = "J'adore la programmation.", tokens: tuple[int, int] = (12, 7)
    ) -> RunBuilder:
        self._replace("outputs", {"generations": [[{"text": text, "message": {"type": "ai", "content": text}}]]})
        self._replace("end_time", _iso(at_ms))
        self._replace("status", "success")
        self._event({"name": "end", "time": _iso(at_ms)})
        self._replace("prompt_tokens", tokens[0])
        self._replace("completion_tokens", tokens[1])
        self._replace("total_tokens", tokens[0] + tokens[1])
        return self

    def fail(self, at_ms: float, error: str) -> RunBuilder:
        self._replace("error", error)
        self._replace("end_time", _iso(at_ms))
        self._replace("status", "error")
        self._event({"name": "error", "time": _iso(at_ms)})
        return self

    def change(self) -> RunChange:
        """The ops added since the last change, as the next change of this run."""
        change = RunChange(self.id, copy.deepcopy(self.doc), self.ops, self.seq)
        self.ops = []
        self.seq += 1
        return change


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests on a SQLite file and on the PostgreSQL server (see conftest.py)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'traces.db'}"
    else:
        url = request.getfixturevalue("pg_store_url")
    with open_store(url) as opened:
        yield opened


def _columns(store: Store, run_id: str) -> dict[str, Any]:
    with store.engines.reader.connect() as connection:
        row = connection.execute(text("SELECT * FROM runs WHERE id = :id"), {"id": run_id}).mappings().one()
        return dict(row)


def _log_seqs(store: Store, run_id: str) -> list[int]:
    with store.engines.reader.connect() as connection:
        rows = connection.execute(text("SELECT seq FROM run_log WHERE run_id = :id ORDER BY seq"), {"id": run_id})
        return [seq for (seq,) in rows]


def test_created_and_ended_in_one_change(store: Store) -> None:
    run = RunBuilder(project="quickstart").token(150, "J'").token(180, "adore").end(420)
    store.write([run.change()])

    got = store.read_run(run.id)
    assert isinstance(got, Run)
    assert got.id == UUID(run.id) and got.trace_id == UUID(run.id) and got.parent_run_id is None
    assert got.project == "quickstart"
    assert got.status == "success"
    assert got.start_time == T0 and got.start_time.tzinfo is timezone.utc
    assert got.end_time == T0 + timedelta(milliseconds=420)
    assert got.first_token_time == T0 + timedelta(milliseconds=150)
    assert got.latency == pytest.approx(0.42)
    assert (got.prompt_tokens, got.completion_tokens, got.total_tokens) == (12, 7, 19)
    assert got.model_name == "gpt-4o-mini"
    assert got.metadata == {"user": "ana"}
    assert got.invocation_params == {"model": "gpt-4o-mini", "temperature": 0.2}
    assert got.outputs is not None and got.outputs["generations"][0][0]["text"] == "J'adore la programmation."
    assert [event["name"] for event in got.events] == ["start", "new_token", "new_token", "end"]
    assert got.inputs == run.doc["inputs"]

    assert store.replay_run(run.id) == run.doc == read_doc(store.engines.reader, run.id)
    columns = _columns(store, run.id)
    assert columns["latency_ms"] == pytest.approx(420.0)
    assert columns["first_token_ms"] == pytest.approx(150.0)
    assert columns["tags"] == '["demo"]'
    assert _log_seqs(store, run.id) == [0]


def test_created_then_ended_in_a_later_flush(store: Store) -> None:
    run = RunBuilder()
    store.write([run.change()])

    running = store.read_run(run.id)
    assert running.status == "running"
    assert running.end_time is None and running.latency is None and running.total_tokens is None
    before = _columns(store, run.id)
    assert (before["status"], before["latency_ms"], before["total_tokens"]) == ("running", None, None)
    assert store.replay_run(run.id) == run.doc

    run.token(90, "Bonjour")
    store.write([run.change()])
    run.end(1500, tokens=(30, 4))
    store.write([run.change()])

    after = _columns(store, run.id)
    assert (after["status"], after["latency_ms"], after["total_tokens"]) == ("success", pytest.approx(1500.0), 34)
    assert (after["prompt_tokens"], after["completion_tokens"], after["first_token_ms"]) == (30, 4, pytest.approx(90.0))
    assert store.read_run(run.id).latency == pytest.approx(1.5)
    assert store.replay_run(run.id) == run.doc == read_doc(store.engines.reader, run.id)
    assert _log_seqs(store, run.id) == [0, 1, 2]
    assert store.count_runs() == 1


def test_two_changes_of_one_run_in_one_batch(store: Store) -> None:
    run = RunBuilder()
    first = run.change()
    second = run.end(300).change()
    store.write([first, second])
    assert store.read_run(run.id).status == "success"
    assert store.replay_run(run.id) == run.doc
    assert _log_seqs(store, run.id) == [0, 1]


def test_error_runs(store: Store) -> None:
    ok = RunBuilder(start_ms=0).end(100)
    failed = RunBuilder(start_ms=10).fail(60, "RateLimitError: " + "slow down " * 500)
    store.write([ok.change(), failed.change()])

    got = store.read_run(failed.id)
    assert got.status == "error"
    assert got.error == failed.doc["error"]  # The document keeps all of it...
    assert len(_columns(store, failed.id)["error"]) == 1000  # ...the column an excerpt.
    assert got.outputs is None
    assert [run.id for run in store.list_runs(status="error")] == [UUID(failed.id)]
    assert store.replay_run(failed.id) == failed.doc


def test_projects_filters_and_order(store: Store) -> None:
    chain = RunBuilder(project="alpha", name="Pipeline", run_type="chain", start_ms=0)
    child = RunBuilder(project="alpha", start_ms=5, parent=chain).end(50)
    chain.end(60)
    tool = RunBuilder(project="alpha", name="search", run_type="tool", start_ms=70).end(80)
    beta = [RunBuilder(project="beta", start_ms=100 + i).end(200 + i) for i in range(3)]
    store.write([chain.change(), child.change(), tool.change()])
    store.write([run.change() for run in beta])

    projects = {project.name: project for project in store.list_projects()}
    assert set(projects) == {"alpha", "beta"}
    assert projects["alpha"].run_count == 3 and projects["beta"].run_count == 3
    assert projects["beta"].last_run_time == T0 + timedelta(milliseconds=102)
    assert projects["alpha"].created_at.tzinfo is timezone.utc
    assert [project.name for project in store.list_projects()] == ["beta", "alpha"]  # Most recently active first.

    assert store.count_runs() == 6
    assert store.count_runs("alpha") == 3
    assert store.count_runs("nobody") == 0
    alpha = store.list_runs(project_name="alpha")
    assert [run.name for run in alpha] == ["search", "ChatOpenAI", "Pipeline"]  # Newest first.
    assert [run.id for run in store.list_runs(project_name="alpha", run_type="llm")] == [UUID(child.id)]
    assert [run.id for run in store.list_runs(parent_run_id=chain.id)] == [UUID(child.id)]
    assert {run.id for run in store.list_runs(trace_id=chain.id)} == {UUID(chain.id), UUID(child.id)}
    assert store.read_run(child.id).trace_id == UUID(chain.id)
    assert [run.id for run in store.list_runs(project_name="beta", limit=2, offset=1)] == [
        UUID(beta[1].id),
        UUID(beta[0].id),
    ]
    assert store.list_runs(project_name="nobody") == []


def test_times_with_other_offsets_are_stored_in_utc(store: Store) -> None:
    run = RunBuilder()
    run.doc["start_time"] = "2025-03-01T14:00:00+02:00"  # 12:00 UTC
    run.ops[0]["value"]["start_time"] = run.doc["start_time"]
    run.end(250)  # Written in UTC.
    store.write([run.change()])
    got = store.read_run(run.id)
    assert got.start_time == T0 and got.start_time.utcoffset() == timedelta(0)
    assert got.latency == pytest.approx(0.25)
    stored = _columns(store, run.id)["start_time"]
    if store.engines.url.get_backend_name() == "sqlite":
        assert stored == "2025-03-01 12:00:00.000000"
    else:
        assert stored == T0 and stored.utcoffset() == timedelta(0)
    assert store.list_projects()[0].last_run_time == T0


def test_missing_runs_raise_not_found(store: Store) -> None:
    missing = str(uuid7())
    with pytest.raises(NotFound, match=f"No run with id {missing}"):
        store.read_run(missing)
    with pytest.raises(NotFound, match=missing):
        store.replay_run(missing)
    with pytest.raises(NotFound, match="not a UUID"):
        store.read_run("not-a-run")
    assert issubclass(NotFound, StoreError)


def test_a_bad_document_writes_nothing_of_its_batch(store: Store) -> None:
    good = RunBuilder().end(10)
    bad = RunBuilder().end(10)
    bad_change = bad.change()
    del bad_change.doc["start_time"]
    with pytest.raises(StoreError, match=bad.id):
        store.write([good.change(), bad_change])
    assert store.count_runs() == 0


def test_rolled_back_batch_does_not_cache_its_new_project(store: Store) -> None:
    first = RunBuilder(project="old").end(10)
    first_change = first.change()
    store.write([first_change])
    newcomer = RunBuilder(project="new").end(10)
    newcomer_change = newcomer.change()
    # The same (run, seq) twice: the run_log insert fails after the project was inserted.
    with pytest.raises(StoreError, match="(?i)unique"):
        store.write([newcomer_change, first_change])
    assert [project.name for project in store.list_projects()] == ["old"]

    store.write([newcomer_change])  # Had the rolled-back id been cached, this would break the FK.
    assert store.read_run(newcomer.id).project == "new"


def test_project_deleted_by_someone_else_is_created_again(store: Store) -> None:
    store.write([RunBuilder(project="gone").end(10).change()])
    with store.engines.writer.begin() as connection:  # Foreign keys on, on SQLite too.
        connection.execute(text("DELETE FROM projects WHERE name = 'gone'"))
    assert store.count_runs() == 0  # Its runs went with it.

    again = RunBuilder(project="gone").end(10)
    store.write([again.change()])  # The cached id is stale: the store looks again.
    assert store.read_run(again.id).project == "gone"


def test_locked_database_is_retried_then_reported(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with open_store(f"sqlite:///{path}", busy_timeout=0.02) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        run = RunBuilder().end(10)
        change = run.change()
        try:
            with pytest.raises(StoreError, match="database is locked"):
                store.write([change])
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert store.count_runs() == 0
        store.write([change])
        assert store.replay_run(run.id) == run.doc


def test_in_memory_store(tmp_path: Path) -> None:
    with open_store("sqlite://") as store:
        run = RunBuilder().end(5)
        store.write([run.change()])
        assert store.replay_run(run.id) == run.doc
        assert store.list_runs()[0].id == UUID(run.id)


def test_default_settings_url_and_home_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=tmp_path / "home")
    with open_store(settings.store_url) as store:
        store.write([RunBuilder().end(5).change()])
    assert (tmp_path / "home" / "traces.db").is_file()

    monkeypatch.setenv("HOME", str(tmp_path))
    with open_store("sqlite:///~/tilde/traces.db") as store:
        assert store.count_runs() == 0
    assert (tmp_path / "tilde" / "traces.db").is_file()


def test_unsupported_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="SQLite and PostgreSQL"):
        open_store("mysql://user:secret@localhost/traces")
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("no url at all")


def test_replay_equals_stored_document_for_many_runs(store: Store) -> None:
    runs = [RunBuilder(project=f"p{i % 3}", start_ms=i) for i in range(50)]
    store.write([run.change() for run in runs])
    for i, run in enumerate(runs):
        if i % 2:
            run.token(i + 1, "x")
        run.end(i + 10) if i % 5 else run.fail(i + 10, "boom")
    store.write([run.change() for run in runs])
    for run in runs:
        stored = read_doc(store.engines.reader, run.id)
        assert store.replay_run(run.id) == stored == run.doc
