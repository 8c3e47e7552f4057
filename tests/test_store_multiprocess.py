"""Four processes open the same brand-new store at the same moment and all write to it.

This is the embedded default at work: several traced programs start together, the first one
creates the schema inside a locked transaction, the others wait and find it done, and every
batch of every process lands exactly once. The same on a brand-new PostgreSQL database, whose
upgrade is serialized by an advisory lock (the workers open it with `auto_upgrade=True`).
"""

from __future__ import annotations

import multiprocessing
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import create_engine, pool, text

from tracer.store import RunChange, open_store

PROCESSES = 4
RUNS_PER_PROCESS = 2000
BATCH = 100
T0 = datetime(2025, 2, 1, tzinfo=timezone.utc)


def _run_id(process: int, index: int) -> str:
    # Deterministic, so the parent knows every id without being told.
    return str(UUID(int=(0x0195 << 112) | (process << 32) | index))


def _doc(process: int, index: int, *, ended: bool) -> dict[str, Any]:
    run_id = _run_id(process, index)
    start = (T0 + timedelta(milliseconds=index)).isoformat()
    doc: dict[str, Any] = {
        "id": run_id,
        "trace_id": run_id,
        "parent_run_id": None,
        "dotted_order": f"20250201T000000000000Z{run_id}",
        "name": "ChatOpenAI",
        "run_type": "llm",
        # A project of its own and one shared by all: created concurrently, exactly once.
        "project": "shared" if index % 2 else f"process-{process}",
        "start_time": start,
        "end_time": None,
        "status": "running",
        "inputs": {"messages": [[{"type": "human", "content": f"hola {process}/{index}"}]]},
        "outputs": None,
        "error": None,
        "extra": {"invocation_params": {"temperature": 0}, "metadata": {"process": process}, "runtime": {}},
        "tags": [],
        "events": [{"name": "start", "time": start}],
        "first_token_time": None,
        "model_name": "fake-chat",
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "cost": None,
        "reference_example_id": None,
    }
    if ended:
        end = (T0 + timedelta(milliseconds=index + 5)).isoformat()
        doc.update(outputs={"text": f"bonjour {index}"}, end_time=end, status="success", total_tokens=index)
        doc["events"] = [*doc["events"], {"name": "end", "time": end}]
    return doc


def _end_ops(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"op": "replace", "path": "/outputs", "value": doc["outputs"]},
        {"op": "replace", "path": "/end_time", "value": doc["end_time"]},
        {"op": "replace", "path": "/status", "value": "success"},
        {"op": "replace", "path": "/total_tokens", "value": doc["total_tokens"]},
        {"op": "add", "path": "/events/-", "value": doc["events"][-1]},
    ]


def _changes(process: int, start: int, stop: int) -> list[RunChange]:
    """A batch as the writer sends it: most runs created and ended at once; every third run
    ended here after being created in the previous batch (seq 1), the next one created only."""
    changes = []
    for index in range(start, stop):
        run_id = _run_id(process, index)
        created = _doc(process, index, ended=False)
        if index % 3 == 0:  # Created now, ended in the next batch.
            changes.append(RunChange(run_id, created, [{"op": "replace", "path": "", "value": created}], 0))
        else:
            ended = _doc(process, index, ended=True)
            ops = [{"op": "replace", "path": "", "value": created}, *_end_ops(ended)]
            changes.append(RunChange(run_id, ended, ops, 0))
    # End the runs the previous batch left running.
    for index in range(max(0, start - BATCH), start):
        if index % 3 == 0:
            ended = _doc(process, index, ended=True)
            changes.append(RunChange(_run_id(process, index), ended, _end_ops(ended), 1))
    return changes


def _worker(url: str, process: int, barrier: Any, errors: Any) -> None:
    try:
        barrier.wait(timeout=60)
        store = open_store(url, auto_upgrade=True)
        try:
            for start in range(0, RUNS_PER_PROCESS + BATCH, BATCH):
                # The last, empty range only ends the runs the batch before left running.
                store.write(_changes(process, start, min(start + BATCH, RUNS_PER_PROCESS)))
        finally:
            store.close()
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        errors.put(f"process {process}: {traceback.format_exc()}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_processes_open_and_write_a_new_file_at_once(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'new' / 'traces.db'}"
    else:
        url = request.getfixturevalue("pg_databases")()  # A brand-new, empty database.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    errors = context.Queue()
    workers = [context.Process(target=_worker, args=(url, n, barrier, errors)) for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=100)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert [worker.exitcode for worker in workers] == [0] * PROCESSES

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            ids = [run_id for (run_id,) in connection.execute(text("SELECT id FROM runs"))]
            projects = sorted(name for (name,) in connection.execute(text("SELECT name FROM projects")))
            running = connection.execute(text("SELECT count(*) FROM runs WHERE status != 'success'")).scalar()
            logged = connection.execute(text("SELECT count(*) FROM run_log")).scalar()
            version = [tuple(row) for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()
    expected = {_run_id(p, i) for p in range(PROCESSES) for i in range(RUNS_PER_PROCESS)}
    assert len(ids) == len(expected) and set(ids) == expected  # Every run, exactly once.
    assert projects == ["process-0", "process-1", "process-2", "process-3", "shared"]
    assert running == 0
    split = sum(1 for i in range(RUNS_PER_PROCESS) if i % 3 == 0)
    assert logged == PROCESSES * (RUNS_PER_PROCESS + split)
    assert version == [("0003",)]

    with open_store(url) as store:
        assert store.count_runs("shared") == PROCESSES * RUNS_PER_PROCESS // 2
        for process in range(PROCESSES):
            for index in (0, 1, 2, 999, 1500, RUNS_PER_PROCESS - 1):
                expected_doc = _doc(process, index, ended=True)
                assert store.replay_run(_run_id(process, index)) == expected_doc
                assert store.read_run(_run_id(process, index)).total_tokens == index
