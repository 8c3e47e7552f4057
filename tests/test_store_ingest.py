"""LangSmith ops and feedback into a real store (SQLite and PostgreSQL) (`tracer.store.ingest`)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tracer import datasets
from tracer._ids import uuid7
from tracer.langsmith_wire import PayloadError, merge, to_doc
from tracer.store import Store, ingest, open_store
from tracer.store.queries import read_doc

T = [f"2026-11-25T16:27:49.{n:06d}+00:00" for n in range(0, 100_000, 10_000)]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests on a SQLite file and on the PostgreSQL server (see conftest.py)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'traces.db'}"
    else:
        url = request.getfixturevalue("pg_store_url")
    with open_store(url) as opened:
        yield opened


def _url(store: Store) -> str:
    """The store's URL for another connection (with its password, if any)."""
    return store.engines.url.render_as_string(hide_password=False)


def _post(run_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": run_id,
        "trace_id": run_id,
        "dotted_order": f"20261125T162749000000Z{run_id}",
        "name": "my_chain",
        "run_type": "chain",
        "start_time": T[0],
        "session_name": "ingest",
        "tags": ["a"],
        "inputs": {"question": "2+2?"},
        "outputs": {},
        "events": [{"name": "start", "time": T[0]}],
        "extra": {"metadata": {"user": "u1"}, "runtime": {"sdk": "langsmith-py"}},
        **fields,
    }


def _patch(run_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": run_id,
        "trace_id": run_id,
        "parent_run_id": None,
        "session_id": None,
        "name": "my_chain",
        "run_type": "chain",
        "start_time": T[0],
        "end_time": T[3],
        "outputs": {"answer": "4"},
        "events": [{"name": "start", "time": T[0]}, {"name": "end", "time": T[3]}],
        "extra": {"metadata": {"user": "u1", "done": True}, "runtime": {"sdk": "langsmith-py"}},
        **fields,
    }


def _log_seqs(store: Store, run_id: str) -> list[int]:
    with store.engines.reader.connect() as connection:
        rows = connection.execute(text("SELECT seq FROM run_log WHERE run_id = :id ORDER BY seq"), {"id": run_id})
        return [seq for (seq,) in rows]


def _check_consistent(store: Store, run_id: str) -> dict[str, Any]:
    doc = read_doc(store.engines.reader, run_id)
    assert store.replay_run(run_id) == doc
    assert _log_seqs(store, run_id) == list(range(len(_log_seqs(store, run_id))))
    return doc


@pytest.mark.parametrize("calls", [["post", "patch"], ["patch", "post"], ["post+patch"], ["patch+post"]])
def test_post_and_patch_in_any_order_and_split(store: Store, calls: list[str]) -> None:
    run_id = str(uuid7())
    ops = {"post": _post(run_id), "patch": _patch(run_id)}
    for call in calls:
        assert ingest.upsert_runs(store, [ops[name] for name in call.split("+")]) == 1
    doc = _check_consistent(store, run_id)
    assert doc["status"] == "success" and doc["outputs"] == {"answer": "4"} and doc["end_time"] == T[3]
    assert doc["inputs"] == {"question": "2+2?"} and doc["tags"] == ["a"]
    assert doc["extra"]["metadata"] == {"user": "u1", "done": True}
    assert len(_log_seqs(store, run_id)) == len(calls)
    run = store.read_run(run_id)
    assert (run.project, run.status, run.metadata["done"]) == ("ingest", "success", True)
    assert store.list_projects()[0].name == "ingest"


def test_one_call_touches_many_runs(store: Store) -> None:
    ids = [str(uuid7()) for _ in range(3)]
    payloads = [_post(i) for i in ids] + [_patch(ids[0])] + [_post(str(uuid7()), session_name=None)]
    assert ingest.upsert_runs(store, payloads, project="fallback") == 4
    assert {p.name for p in store.list_projects()} == {"ingest", "fallback"}
    assert store.read_run(ids[0]).status == "success" and store.read_run(ids[1]).status == "running"


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "nope"},
        {"id": None, "name": "x"},
        {"start_time": "not a time"},
        {"id": "00000000-0000-4000-8000-000000000000", "start_time": None},  # unknown run, no start
    ],
)
def test_a_malformed_op_writes_nothing(store: Store, bad: dict[str, Any]) -> None:
    good = _post(str(uuid7()))
    other = {**_patch(str(uuid7())), **bad}
    with pytest.raises(PayloadError):
        ingest.upsert_runs(store, [good, other])
    assert store.count_runs() == 0


def test_a_seq_conflict_is_read_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """As when another server process wrote the run between our read and our write."""
    run_id = str(uuid7())
    ingest.upsert_runs(store, [_post(run_id)])
    real, calls = ingest._stored, []

    def stale_once(connection: Any, ids: list[str]) -> Any:
        calls.append(ids)
        return {} if len(calls) == 1 else real(connection, ids)

    monkeypatch.setattr(ingest, "_stored", stale_once)
    ingest.upsert_runs(store, [_patch(run_id)])
    assert len(calls) == 2
    doc = _check_consistent(store, run_id)
    assert doc["inputs"] == {"question": "2+2?"} and doc["status"] == "success"


def _many_patches(url: str, run_id: str, who: str, count: int) -> None:
    with open_store(url) as opened:
        for i in range(count):
            ingest.upsert_runs(opened, [{"id": run_id, "extra": {"metadata": {f"{who}{i}": i}}}])


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_concurrent_upserts_lose_no_op(store: Store, how: str) -> None:
    run_id = str(uuid7())
    ingest.upsert_runs(store, [_post(run_id)])
    url = _url(store)
    if how == "threads":
        workers: list[Any] = [threading.Thread(target=_many_patches, args=(url, run_id, who, 20)) for who in "ab"]
    else:
        spawn = multiprocessing.get_context("spawn")
        workers = [spawn.Process(target=_many_patches, args=(url, run_id, who, 20)) for who in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    doc = _check_consistent(store, run_id)
    assert {f"{who}{i}" for who in "ab" for i in range(20)} <= set(doc["extra"]["metadata"])
    assert len(_log_seqs(store, run_id)) == 41


# -- property: replaying run_log gives the row, and the row is the fold of the ops ------------

_OPS = st.sampled_from(["post", "patch", "error", "merged", "nulls", "token"])


def _op(run_id: str, kind: str, n: int) -> dict[str, Any]:
    if kind == "post":
        return _post(run_id)
    if kind == "patch":
        return _patch(run_id)
    if kind == "error":
        return _patch(run_id, outputs=None, error=f"ValueError('x{n}')\n\nTraceback...")
    if kind == "merged":
        return {**_post(run_id), **_patch(run_id)}
    if kind == "token":
        events = [{"name": "start", "time": T[0]}, {"name": "new_token", "time": T[1 + n % 5]}, {"name": "end", "time": T[7]}]
        return _patch(run_id, events=events, end_time=T[7])
    return {"id": run_id, "name": None, "tags": None, "extra": {"metadata": {f"k{n}": n}}, "start_time": T[0]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.integers(0, 2), _OPS), min_size=1, max_size=10), cuts=st.lists(st.integers(1, 4), max_size=10))
def test_replay_equals_row_equals_fold(store: Store, ops: list[tuple[int, str]], cuts: list[int]) -> None:
    ids = [str(uuid7()) for _ in range(3)]
    payloads = [_op(ids[which], kind, n) for n, (which, kind) in enumerate(ops)]
    expected: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        expected[payload["id"]] = merge(expected.get(payload["id"]), to_doc(payload))
    start = 0
    for size in [*cuts, len(payloads)]:
        if start < len(payloads):
            ingest.upsert_runs(store, payloads[start : start + size])
            start += size
    for run_id, doc in expected.items():
        assert _check_consistent(store, run_id) == doc
        assert store.read_run(run_id).status == doc["status"]


# -- feedback ---------------------------------------------------------------------------------


def _feedback(run_id: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid7()),
        "created_at": "2026-11-25T16:27:49.067838+00:00",
        "modified_at": "2026-11-25T16:27:49.067838+00:00",
        "run_id": run_id,
        "key": "helpfulness",
        "score": 0.75,
        "value": "good",
        "comment": "batched",
        "correction": None,
        "feedback_source": {"type": "api", "metadata": {"who": "script"}, "user_id": None},
        "session_id": None,
        "extra": None,
        **fields,
    }


def test_feedback_parts_are_recorded_with_their_id_and_time(store: Store) -> None:
    run_id = str(uuid7())
    ingest.upsert_runs(store, [_post(run_id)])
    given = [_feedback(run_id), _feedback(None, trace_id=run_id, key="correctness", score=1, correction={"a": 1})]
    assert ingest.add_feedback_parts(store, given) == 2
    stored = {str(f.id): f for f in datasets.list_feedback(store, run_ids=[run_id])}
    first, second = stored[given[0]["id"]], stored[given[1]["id"]]
    assert (first.key, first.score, first.value, first.comment) == ("helpfulness", 0.75, "good", "batched")
    assert first.created_at.isoformat() == "2026-11-25T16:27:49.067838+00:00"
    assert str(second.run_id) == run_id and second.correction == {"a": 1}
    assert {f.source for f in stored.values()} == {"api"}
    # A client's retry of the same feedback changes nothing.
    assert ingest.add_feedback_parts(store, given) == 2
    assert len(datasets.list_feedback(store, run_ids=[run_id])) == 2


def test_feedback_before_its_run_is_recorded_and_malformed_refused(store: Store) -> None:
    run_id, later = str(uuid7()), str(uuid7())
    ingest.upsert_runs(store, [_post(run_id)])
    assert ingest.add_feedback_parts(store, [_feedback(later), _feedback(run_id)]) == 2
    ingest.upsert_runs(store, [_post(later)])
    assert [f.key for f in datasets.list_feedback(store, run_ids=[later])] == ["helpfulness"]
    for bad in ({"key": ""}, {"score": "high"}, {"run_id": "nope"}, {"run_id": None}, {"created_at": "today"}):
        with pytest.raises(ValueError):
            ingest.add_feedback_parts(store, [_feedback(run_id), {**_feedback(run_id), **bad}])
    assert len(datasets.list_feedback(store, run_ids=[run_id])) == 1
