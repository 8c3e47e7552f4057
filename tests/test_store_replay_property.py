"""Property: for any op log cut into any changes, replay == stored document == writer's document.

The writer's side is computed independently with `jsonpatch`, op by op, the way the background
writer keeps its documents; the store only sees the resulting `RunChange`s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracer._ids import uuid7
from tracer.store import RunChange, Store, open_store
from tracer.store.queries import read_doc

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
times = st.integers(min_value=0, max_value=10**9).map(lambda ms: (T0 + timedelta(milliseconds=ms)).isoformat())
counts = st.none() | st.integers(min_value=0, max_value=2**40)

# Top-level keys a later op may replace, each with values of the kind its column expects.
REPLACEABLE: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(max_size=20),
    "status": st.sampled_from(["running", "success", "error"]),
    "inputs": json_objects,
    "outputs": st.none() | json_objects,
    "error": st.none() | st.text(max_size=50),
    "end_time": st.none() | times,
    "first_token_time": st.none() | times,
    "tags": st.lists(st.text(max_size=10), max_size=3),
    "model_name": st.none() | st.text(max_size=20),
    "prompt_tokens": counts,
    "completion_tokens": counts,
    "total_tokens": counts,
    "cost": st.none() | st.floats(min_value=0, max_value=1e6),
    "reference_example_id": st.none() | st.uuids().map(str),
}


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


@st.composite
def run_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A create op with random content, then random replaces, appends and metadata edits."""
    run_id = str(uuid7())
    start = draw(times)
    doc = {
        "id": run_id,
        "trace_id": run_id,
        "parent_run_id": None,
        "dotted_order": "20250101T000000000000Z" + run_id,
        "name": draw(st.text(max_size=20)),
        "run_type": draw(st.sampled_from(["llm", "chain", "tool", "retriever", "prompt", "parser", "embedding"])),
        "project": draw(st.sampled_from(["default", "other", "proyecto ñ"])),
        "start_time": start,
        "end_time": None,
        "status": "running",
        "inputs": draw(json_objects),
        "outputs": None,
        "error": None,
        "extra": {"invocation_params": draw(json_objects), "metadata": draw(json_objects), "runtime": {}},
        "tags": draw(st.lists(st.text(max_size=10), max_size=3)),
        "events": [{"name": "start", "time": start}],
        "first_token_time": None,
        "model_name": draw(st.none() | st.text(max_size=20)),
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "cost": None,
        "reference_example_id": None,
    }
    ops: list[dict[str, Any]] = [{"op": "replace", "path": "", "value": doc}]
    metadata_keys = list(doc["extra"]["metadata"])
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        kind = draw(st.sampled_from(["replace", "event", "metadata"]))
        if kind == "replace":
            key = draw(st.sampled_from(sorted(REPLACEABLE)))
            ops.append({"op": "replace", "path": f"/{key}", "value": draw(REPLACEABLE[key])})
        elif kind == "event":
            event = {"name": draw(st.sampled_from(["new_token", "end", "error"])), "time": draw(times)}
            event.update(draw(st.dictionaries(st.sampled_from(["kwargs", "token", "x"]), json_values, max_size=2)))
            ops.append({"op": "add", "path": "/events/-", "value": event})
        elif metadata_keys and draw(st.booleans()):
            key = draw(st.sampled_from(metadata_keys))
            ops.append({"op": "replace", "path": f"/extra/metadata/{_pointer(key)}", "value": draw(json_values)})
        else:
            key = draw(st.text(max_size=8))
            metadata_keys.append(key)
            ops.append({"op": "add", "path": f"/extra/metadata/{_pointer(key)}", "value": draw(json_values)})
    return ops


@st.composite
def cut_logs(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[int]]:
    """A run log cut into changes, and how many consecutive changes each `write` call gets."""
    ops = draw(run_logs())
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=max(1, len(ops) - 1)), max_size=len(ops) - 1)))
    bounds = [0, *[cut for cut in cuts if cut < len(ops)], len(ops)]
    pieces = [ops[start:end] for start, end in zip(bounds, bounds[1:])]
    groups: list[int] = []
    left = len(pieces)
    while left:
        size = draw(st.integers(min_value=1, max_value=left))
        groups.append(size)
        left -= size
    return pieces, groups


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("replay") / "traces.db"
    with open_store(f"sqlite:///{path}") as opened:
        yield opened


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut_logs())
def test_replay_equals_stored_equals_written(store: Store, log: tuple[list[list[dict[str, Any]]], list[int]]) -> None:
    pieces, groups = log
    # The writer's side: apply every op with jsonpatch, snapshot the document at each cut.
    state: Any = None
    changes: list[RunChange] = []
    for seq, piece in enumerate(pieces):
        state = jsonpatch.apply_patch(state, piece, in_place=False)
        changes.append(RunChange(state["id"], state, piece, seq))
    expected = state

    start = 0
    for size in groups:
        store.write(changes[start : start + size])
        start += size

    run_id = expected["id"]
    assert store.replay_run(run_id) == read_doc(store.engines.reader, run_id) == expected
    run = store.read_run(run_id)
    assert (run.status, run.total_tokens, run.tags, run.metadata) == (
        expected["status"],
        expected["total_tokens"],
        expected["tags"],
        expected["extra"]["metadata"],
    )
    connection = sqlite3.connect(str(store.engines.url.database))
    try:
        logged = connection.execute("SELECT count(*) FROM run_log WHERE run_id = ?", (run_id,)).fetchone()[0]
    finally:
        connection.close()
    assert logged == len(pieces)
