"""The viewer's reads (`tracer.store.browse`) on a real SQLite store written by `Store.write`.

Every list is checked against a naive Python computation over the documents that were written:
filters, both directions of every sort, pages walked to the end (each row exactly once), and
the figures of projects and their time series.
"""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracer.datasets import create_feedback
from tracer.store import NotFound, RunChange, Store, open_store
from tracer.store import browse
from tracer.store.browse import RunFilter

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def _at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


class Runs:
    """Run documents in the tracer's shape, written with `Store.write`, kept for comparison."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.docs: dict[str, dict[str, Any]] = {}
        self.pending: list[RunChange] = []

    def add(
        self,
        project: str = "alpha",
        *,
        start: float = 0,
        latency: float | None = 100,
        run_type: str = "llm",
        name: str = "ChatOpenAI",
        parent: dict[str, Any] | None = None,
        error: str | None = None,
        tokens: int | None = 30,
        cost: float | None = None,
        model: str | None = "gpt-4o-mini",
        tags: list[str] | None = None,
        question: str = "What is the capital of France?",
        answer: str = "Paris.",
    ) -> dict[str, Any]:
        run_id = str(uuid.UUID(int=uuid.uuid4().int))
        begin = _at(start)
        segment = begin.strftime("%Y%m%dT%H%M%S%fZ") + run_id
        end = None if latency is None else begin + timedelta(milliseconds=latency)
        llm = run_type == "llm"
        doc: dict[str, Any] = {
            "id": run_id,
            "trace_id": parent["trace_id"] if parent else run_id,
            "parent_run_id": parent["id"] if parent else None,
            "dotted_order": f"{parent['dotted_order']}.{segment}" if parent else segment,
            "name": name,
            "run_type": run_type,
            "project": project,
            "start_time": begin.isoformat(),
            "end_time": None if end is None else end.isoformat(),
            "status": "running" if end is None else ("error" if error else "success"),
            "inputs": {"messages": [[{"type": "human", "content": question}]]} if llm else {"question": question},
            "outputs": None if end is None or error else (
                {"generations": [[{"text": answer, "type": "ChatGeneration", "message": {"type": "ai", "content": answer}}]]}
                if llm else {"answer": answer}
            ),
            "error": error,
            "extra": {"invocation_params": {"model": model}, "metadata": {"user": "ana"}},
            "tags": tags or [],
            "events": [],
            "first_token_time": None,
            "model_name": model if llm else None,
            "prompt_tokens": None if tokens is None else tokens // 3,
            "completion_tokens": None if tokens is None else tokens - tokens // 3,
            "total_tokens": tokens,
            "cost": cost,
            "reference_example_id": None,
        }
        self.docs[run_id] = doc
        self.pending.append(RunChange(run_id, doc, [{"op": "replace", "path": "", "value": doc}], 0))
        return doc

    def flush(self) -> None:
        self.store.write(self.pending)
        self.pending = []


def latency_of(doc: dict[str, Any]) -> float | None:
    if doc["end_time"] is None:
        return None
    return (datetime.fromisoformat(doc["end_time"]) - datetime.fromisoformat(doc["start_time"])).total_seconds() * 1000.0


SORT_VALUE = {"start": lambda d: datetime.fromisoformat(d["start_time"]), "latency": latency_of, "tokens": lambda d: d["total_tokens"], "cost": lambda d: d["cost"]}


def naive(docs: dict[str, dict[str, Any]], f: RunFilter, scores: dict[str, list[tuple[str, float | None]]] | None = None) -> list[str]:
    """The ids `list_run_rows` must return for `f`, in order, computed the obvious way."""
    scores = scores or {}

    def keep(d: dict[str, Any]) -> bool:
        start = datetime.fromisoformat(d["start_time"])
        latency = latency_of(d)
        return (
            (f.project is None or d["project"] == f.project)
            and (f.scope != "root" or d["parent_run_id"] is None)
            and (f.scope != "llm" or d["run_type"] == "llm")
            and (f.run_type is None or d["run_type"] == f.run_type)
            and (f.status is None or d["status"] == f.status)
            and (f.model is None or d["model_name"] == f.model)
            and (f.tag is None or f.tag in d["tags"])
            and (f.since is None or start >= f.since)
            and (f.until is None or start < f.until)
            and (f.min_latency_ms is None or (latency is not None and latency >= f.min_latency_ms))
            and (
                f.feedback_key is None
                or any(
                    key == f.feedback_key
                    and (f.feedback_min is None or (score is not None and score >= f.feedback_min))
                    and (f.feedback_max is None or (score is not None and score <= f.feedback_max))
                    for key, score in scores.get(d["id"], [])
                )
            )
        )

    chosen = [d for d in docs.values() if keep(d)]
    value = SORT_VALUE[f.sort]
    reverse = f.direction == "desc"
    with_value = sorted((d for d in chosen if value(d) is not None), key=lambda d: (value(d), d["id"]), reverse=reverse)
    without = sorted((d for d in chosen if value(d) is None), key=lambda d: (d["start_time"], d["id"]), reverse=reverse)
    return [d["id"] for d in with_value + without]


def walk(store: Store, f: RunFilter) -> list[str]:
    """Every page of `f`, in order, following the cursors."""
    ids: list[str] = []
    page = browse.list_run_rows(store, f)
    while True:
        assert len(page.rows) <= f.limit
        ids.extend(row.id for row in page.rows)
        if page.next_cursor is None:
            return ids
        assert len(page.rows) == f.limit
        page = browse.list_run_rows(store, RunFilter(**{**vars_of(f), "cursor": page.next_cursor}))


def vars_of(f: RunFilter) -> dict[str, Any]:
    return {name: getattr(f, name) for name in f.__dataclass_fields__}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'traces.db'}") as opened:
        yield opened


@pytest.fixture
def world(store: Store) -> Runs:
    """Two projects; traces; ties and missing values in every sort key; errors; tags; models."""
    runs = Runs(store)
    for i in range(24):
        root = runs.add(
            start=(i // 3) * 10,  # three runs start at each moment
            latency=[None, 50, 50, 120.5, 7][i % 5],
            tokens=[None, 10, 10, 40][i % 4],
            cost=[None, 0.5, 0.25, 0.5, None][i % 5],
            model=["gpt-4o-mini", "gpt-4o"][i % 2],
            tags=[["prod"], ["beta", "eu"], []][i % 3],
            error="ValueError('boom')" if i % 7 == 3 else None,
            question=f"question {i} about zebras" if i % 4 == 0 else f"question {i}",
        )
        if i % 6 == 0:
            chain = runs.add(start=(i // 3) * 10 + 1, run_type="chain", name="Step", parent=root, tokens=None, model=None)
            runs.add(start=(i // 3) * 10 + 2, parent=chain, latency=30, tokens=12, cost=0.1)
    for i in range(5):
        runs.add("beta", start=i * 5, tokens=5, cost=0.05)
    runs.flush()
    return runs


FILTERS = [
    RunFilter(project="alpha"),
    RunFilter(project="alpha", scope="all"),
    RunFilter(project="alpha", scope="llm"),
    RunFilter(),  # every project
    RunFilter(project="alpha", scope="all", run_type="chain"),
    RunFilter(project="alpha", scope="all", status="error"),
    RunFilter(project="alpha", status="success"),
    RunFilter(project="alpha", scope="all", status="running"),
    RunFilter(project="alpha", model="gpt-4o"),
    RunFilter(project="alpha", scope="all", tag="eu"),
    RunFilter(project="alpha", since=_at(20), until=_at(50)),
    RunFilter(project="alpha", scope="all", min_latency_ms=50),
    RunFilter(project="beta", scope="all"),
]


@pytest.mark.parametrize("f", FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.to_query().items()) or "default")
@pytest.mark.parametrize("sort", ["start", "latency", "tokens", "cost"])
@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_every_filter_and_sort_pages_through_every_row_once(world: Runs, f: RunFilter, sort: str, direction: str) -> None:
    f = RunFilter(**{**vars_of(f), "sort": sort, "direction": direction, "limit": 4})
    expected = naive(world.docs, f)
    assert expected, "each filter selects something"
    assert walk(world.store, f) == expected


def test_rows_carry_the_columns_without_documents(world: Runs) -> None:
    page = browse.list_run_rows(world.store, RunFilter(project="alpha", scope="all", limit=500))
    for row in page.rows:
        doc = world.docs[row.id]
        assert (row.name, row.run_type, row.status, row.model_name, row.tags) == (
            doc["name"], doc["run_type"], doc["status"], doc["model_name"], doc["tags"]
        )
        assert row.start_time == datetime.fromisoformat(doc["start_time"]) and row.start_time.tzinfo is not None
        assert row.latency_ms == latency_of(doc)
        assert (row.total_tokens, row.cost) == (doc["total_tokens"], doc["cost"])
        assert row.error == doc["error"]
        assert row.as_json()["start_time"] == doc["start_time"]
    assert page.next_cursor is None


def test_unknown_project_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="No project named 'nope'"):
        browse.list_run_rows(store, RunFilter(project="nope"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.tuples(
            st.integers(0, 6),  # start: many ties
            st.sampled_from([None, 5.0, 5.0, 9.5, 30.0]),
            st.sampled_from([None, 1, 1, 7]),
            st.sampled_from([None, 0.5, 0.5, 2.0]),
            st.booleans(),  # child of the previous root
        ),
        min_size=1,
        max_size=25,
    ),
    scope=st.sampled_from(["root", "all"]),
    sort=st.sampled_from(["start", "latency", "tokens", "cost"]),
    direction=st.sampled_from(["desc", "asc"]),
    limit=st.integers(1, 6),
)
def test_keyset_pages_match_a_naive_sort(store: Store, data: list[Any], scope: str, sort: str, direction: str, limit: int) -> None:
    runs = Runs(store)
    project = f"p-{uuid.uuid4()}"
    root = None
    for start, latency, tokens, cost, child in data:
        parent = root if child and root is not None else None
        doc = runs.add(project, start=start, latency=latency, tokens=tokens, cost=cost, parent=parent)
        root = root if parent else doc
    runs.flush()
    f = RunFilter(project=project, scope=scope, sort=sort, direction=direction, limit=limit)
    assert walk(store, f) == naive(runs.docs, f)


# -- search -------------------------------------------------------------------------------------


def _search(store: Store, words: str, project: str = "alpha") -> set[str]:
    return set(walk(store, RunFilter(project=project, scope="all", search=words, limit=3)))


def test_search_finds_words_of_inputs_outputs_and_errors_not_json(store: Store) -> None:
    runs = Runs(store)
    asked = runs.add(question="Translate «I love programming» al francés", answer="J'adore la programmation.")
    failed = runs.add(error="ZeroDivisionError('division by zero')\n\nTraceback: line 3 in compute_ratio", latency=10)
    chain = runs.add(run_type="chain", name="Summarizer", question="the quarterly report", answer="profits rose", tokens=None)
    runs.flush()
    assert _search(store, "programming") == {asked["id"]}
    assert _search(store, "programmation") == {asked["id"]}  # in the output
    assert _search(store, "FRANCES") == {asked["id"]}  # case and diacritics ignored
    assert _search(store, "ZeroDivisionError") == {failed["id"]}
    assert _search(store, "compute_ratio") == {failed["id"]}
    assert _search(store, "summarizer") == {chain["id"]}  # the run's name
    assert _search(store, "profits quarterly") == {chain["id"]}  # every word, anywhere in the run
    assert _search(store, '"profits rose"') == {chain["id"]}
    assert _search(store, '"rose profits"') == set()  # a phrase is in order
    assert _search(store, "progr*") == {asked["id"]}
    for structure in ("messages", "content", "generations", "human", "type", "question", "answer", "ChatGeneration"):
        assert _search(store, structure) == set(), structure
    assert _search(store, 'unbalanced " AND OR ( ^') == set()  # never an FTS5 syntax error
    assert _search(store, "???") == {asked["id"], failed["id"], chain["id"]}  # no words: no search


def test_search_follows_a_run_whose_words_change(store: Store) -> None:
    runs = Runs(store)
    doc = runs.add(latency=None, question="first draft wording", answer="")
    runs.flush()
    assert _search(store, "draft") == {doc["id"]}
    done = {**doc, "inputs": {"messages": [[{"type": "human", "content": "final wording"}]]}, "outputs": {"text": "an answer"}}
    done.update(end_time=_at(5).isoformat(), status="success")
    ops = [{"op": "replace", "path": f"/{k}", "value": done[k]} for k in ("inputs", "outputs", "end_time", "status")]
    store.write([RunChange(doc["id"], done, ops, 1)])
    assert _search(store, "draft") == set()
    assert _search(store, "final answer") == {doc["id"]}
    store.write([RunChange(doc["id"], done, [], 2)])  # same words: nothing to re-index
    assert _search(store, "final") == {doc["id"]}


def test_search_with_many_matches_and_other_filters(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tracer.store.browse._FEW_MATCHES", 2)  # the path for common words
    runs = Runs(store)
    for i in range(12):
        runs.add(start=i, question=f"common word {i}", tags=["x"] if i % 2 else [])
    runs.flush()
    f = RunFilter(project="alpha", search="common", tag="x", limit=2)
    assert walk(store, f) == naive(runs.docs, f)
    assert len(walk(store, f)) == 6


def test_search_without_fts_falls_back_to_ilike(tmp_path: Path) -> None:
    # What PostgreSQL does (and a SQLite built without FTS5): words matched in the documents.
    path = tmp_path / "plain.db"
    with open_store(f"sqlite:///{path}"):
        pass
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE run_text_fts")
        connection.execute("DROP TABLE run_text")
    with open_store(f"sqlite:///{path}") as plain:
        runs = Runs(plain)
        hit = runs.add(question="Ein Zebra im Zoo")
        runs.add(question="nothing here")
        runs.flush()
        assert _search(plain, "zebra ZOO") == {hit["id"]}


def test_runs_deleted_with_their_project_leave_search(world: Runs) -> None:
    assert _search(world.store, "zebras")
    with world.store.engines.writer.begin() as connection:
        connection.exec_driver_sql("DELETE FROM projects WHERE name = 'alpha'")
    runs = Runs(world.store)
    new = runs.add(question="zebras again")  # a new run gets a new index row, never an old one
    runs.flush()
    assert _search(world.store, "zebras") == {new["id"]}


# -- traces, runs, neighbors ---------------------------------------------------------------------


def test_trace_rows_in_tree_order_with_depth(store: Store) -> None:
    runs = Runs(store)
    root = runs.add(run_type="chain", name="root", start=0, tokens=None)
    b = runs.add(run_type="chain", name="b", parent=root, start=20, tokens=None)
    a = runs.add(name="a", parent=root, start=10, error="Boom")
    b1 = runs.add(name="b1", parent=b, start=21)
    b2 = runs.add(run_type="tool", name="b2", parent=b, start=25, tokens=None, latency=None)
    runs.add(name="other trace", start=5)
    runs.flush()
    rows = browse.trace_rows(store, root["trace_id"])
    assert [(r.name, r.depth) for r in rows] == [("root", 0), ("a", 1), ("b", 1), ("b1", 2), ("b2", 2)]
    assert [r.id for r in rows] == [root["id"], a["id"], b["id"], b1["id"], b2["id"]]
    assert [r.error for r in rows] == [False, True, False, False, False]
    assert rows[3].parent_run_id == b["id"] and rows[3].total_tokens == 30 and rows[4].status == "running"
    with pytest.raises(NotFound):
        browse.trace_rows(store, uuid.uuid4())
    with pytest.raises(NotFound, match="not a UUID"):
        browse.trace_rows(store, "../etc")
    # Without a filter, a child's neighbors are the runs before and after it in the tree.
    assert browse.run_neighbors(store, b["id"]) == (a["id"], b1["id"])
    assert browse.run_neighbors(store, b2["id"]) == (b1["id"], None)


def test_run_neighbors_follow_the_list(world: Runs) -> None:
    roots = naive(world.docs, RunFilter(project="alpha"))
    assert browse.run_neighbors(world.store, roots[0]) == (None, roots[1])
    assert browse.run_neighbors(world.store, roots[5]) == (roots[4], roots[6])
    assert browse.run_neighbors(world.store, roots[-1]) == (roots[-2], None)
    for sort in ("latency", "tokens", "cost"):
        f = RunFilter(project="alpha", scope="all", sort=sort, direction="asc", cursor=None)
        ordered = naive(world.docs, f)
        for i in (0, 3, len(ordered) // 2, len(ordered) - 1):
            before = ordered[i - 1] if i > 0 else None
            after = ordered[i + 1] if i + 1 < len(ordered) else None
            assert browse.run_neighbors(world.store, ordered[i], f) == (before, after), (sort, i)
    detail = browse.run_detail(world.store, roots[2])
    assert str(detail.id) == roots[2] and detail.project == "alpha"
    with pytest.raises(NotFound):
        browse.run_neighbors(world.store, uuid.uuid4())


# -- feedback -----------------------------------------------------------------------------------


def test_feedback_add_list_filter_and_average(world: Runs) -> None:
    store = world.store
    roots = naive(world.docs, RunFilter(project="alpha"))
    scores: dict[str, list[tuple[str, float | None]]] = {}
    for i, run_id in enumerate(roots[:8]):
        for key, score in [("correctness", [0.0, 0.5, 1.0][i % 3]), ("thumbs", None if i % 2 else 1.0)]:
            create_feedback(store, run_id, key, score=score, comment=f"note {i}", source="ui")
            scores.setdefault(run_id, []).append((key, score))
    first = create_feedback(store, roots[0], "correction", value={"label": "good"}, correction={"text": "Lyon"}, source="ui")
    listed = browse.run_feedback(store, roots[0])
    assert [(fb.key, fb.score) for fb in listed] == scores[roots[0]] + [("correction", None)]
    assert listed[-1] == first and first.correction == {"text": "Lyon"} and first.source == "ui"
    assert str(first.trace_id) == world.docs[roots[0]]["trace_id"] and first.created_at.tzinfo is not None
    page = browse.list_run_rows(store, RunFilter(project="alpha", limit=3))
    assert page.rows[0].feedback == scores[roots[0]] + [("correction", None)]
    for f in (
        RunFilter(project="alpha", feedback_key="correctness"),
        RunFilter(project="alpha", feedback_key="correctness", feedback_min=0.5),
        RunFilter(project="alpha", feedback_key="correctness", feedback_max=0.5, sort="latency"),
        RunFilter(project="alpha", feedback_key="thumbs", feedback_min=1, feedback_max=1),
    ):
        assert walk(store, RunFilter(**{**vars_of(f), "limit": 2})) == naive(world.docs, f, scores)
    summary = next(s for s in browse.project_summaries(store) if s.name == "alpha")
    correctness = [s for fbs in scores.values() for k, s in fbs if k == "correctness"]
    assert summary.feedback == {"correctness": pytest.approx(sum(correctness) / len(correctness)), "thumbs": 1.0}
    with pytest.raises(NotFound):
        create_feedback(store, uuid.uuid4(), "x", score=1)
    for bad in ({"key": ""}, {"key": "x", "score": math.nan}, {"key": "x", "score": "1"}, {"key": "x", "source": "viewer"}):
        with pytest.raises(ValueError, match=r"^The feedback .*\.$"):
            create_feedback(store, roots[0], **bad)


# -- the live log -------------------------------------------------------------------------------


def test_log_since_gives_every_row_once_in_order(store: Store) -> None:
    runs = Runs(store)
    seen: list[browse.LogRow] = []
    position = browse.log_position(store)
    assert position == 0
    for batch in range(4):
        for i in range(5):
            runs.add("alpha" if i % 2 else "beta", start=batch * 10 + i, latency=None)
        runs.flush()
        # Read a bit, in small pages, while more is being written.
        rows = browse.log_since(store, position, limit=3)
        seen.extend(rows)
        position = rows[-1].pos if rows else position
    # The running runs end: a second change each.
    store.write([RunChange(d["id"], {**d, "end_time": _at(99).isoformat(), "status": "success"}, [{"op": "replace", "path": "/status", "value": "success"}], 1) for d in runs.docs.values()])
    while rows := browse.log_since(store, position, limit=4):
        seen.extend(rows)
        position = rows[-1].pos
    assert position == browse.log_position(store)
    keys = [(row.run_id, row.seq) for row in seen]
    assert len(keys) == len(set(keys)) == 40  # nothing twice, nothing missed
    assert [row.pos for row in seen] == sorted(row.pos for row in seen)
    with sqlite3.connect(store.engines.url.database) as connection:
        logged = connection.execute("SELECT run_id, seq FROM run_log ORDER BY pos").fetchall()
    assert keys == [tuple(row) for row in logged]
    assert {row.project for row in seen} == {"alpha", "beta"}
    alpha = browse.log_since(store, None, project="alpha")
    assert [row.run_id for row in alpha] == [k for k, _ in keys if runs.docs[k]["project"] == "alpha"]
    one = next(iter(runs.docs))
    assert [(row.seq, row.ops[:2]) for row in browse.log_since(store, None, run_id=one)] == [(0, "[{"), (1, "[{")]
    assert browse.log_since(store, position) == []
    with pytest.raises(NotFound):
        browse.log_since(store, None, project="nope")
    with pytest.raises(ValueError, match=r"^limit must be .*\.$"):
        browse.log_since(store, None, limit=0)


# -- figures ------------------------------------------------------------------------------------


def _percentile(values: list[float], p: int) -> float | None:
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1] if ordered else None


def test_summaries_and_series_match_a_naive_computation(world: Runs) -> None:
    summaries = {s.name: s for s in browse.project_summaries(world.store)}
    assert list(summaries) == ["alpha", "beta"] or list(summaries) == ["beta", "alpha"]
    for name, summary in summaries.items():
        docs = [d for d in world.docs.values() if d["project"] == name]
        roots = [d for d in docs if d["parent_run_id"] is None]
        errors = [d for d in roots if d["status"] == "error"]
        latencies = [latency_of(d) for d in roots if latency_of(d) is not None]
        assert (summary.run_count, summary.root_count, summary.error_count) == (len(docs), len(roots), len(errors))
        assert summary.error_rate == pytest.approx(len(errors) / len(roots))
        assert summary.p50_ms == _percentile(latencies, 50) and summary.p95_ms == _percentile(latencies, 95)
        assert summary.total_tokens == sum(d["total_tokens"] or 0 for d in docs)
        assert summary.prompt_tokens == sum(d["prompt_tokens"] or 0 for d in docs)
        assert summary.cost == pytest.approx(sum(d["cost"] or 0 for d in docs))
        assert summary.last_run_time == max(datetime.fromisoformat(d["start_time"]) for d in docs)
    since, until = _at(0), _at(80)
    points = browse.project_series(world.store, "alpha", since=since, until=until, buckets=8)
    assert [p.start for p in points] == [since + timedelta(milliseconds=10 * i) for i in range(8)]
    for point in points:
        docs = [d for d in world.docs.values() if d["project"] == "alpha" and point.start <= datetime.fromisoformat(d["start_time"]) < point.start + timedelta(milliseconds=10)]
        roots = [d for d in docs if d["parent_run_id"] is None]
        latencies = [latency_of(d) for d in roots if latency_of(d) is not None]
        assert (point.runs, point.errors) == (len(roots), sum(d["status"] == "error" for d in roots))
        assert (point.p50_ms, point.p95_ms) == (_percentile(latencies, 50), _percentile(latencies, 95))
        assert point.tokens == sum(d["total_tokens"] or 0 for d in docs)
        assert point.cost == pytest.approx(sum(d["cost"] or 0 for d in docs))
    whole = browse.project_series(world.store, "alpha", buckets=3)
    assert sum(p.runs for p in whole) == summaries["alpha"].root_count
    with pytest.raises(NotFound):
        browse.project_series(world.store, "nope")


def test_feedback_series_matches_a_naive_computation(world: Runs) -> None:
    from tracer.datasets import create_feedback

    alpha = sorted(run_id for run_id, d in world.docs.items() if d["project"] == "alpha")
    given: list[tuple[str, str, float | None]] = []
    for n, run_id in enumerate(alpha):
        if n % 2 == 0:
            given.append((run_id, "thumbs", float(n % 4 == 0)))
        if n % 3 == 0:
            given.append((run_id, "stars", None if n % 9 == 0 else float(1 + n % 5)))
    for run_id, key, score in given:
        create_feedback(world.store, run_id, key, score=score, comment=None if score is not None else "no score")
    since, until = _at(0), _at(80)
    series = browse.feedback_series(world.store, "alpha", since=since, until=until, buckets=8)
    assert list(series) == ["thumbs", "stars"]  # the most used key first
    for key, points in series.items():
        assert [p.start for p in points] == [since + timedelta(milliseconds=10 * i) for i in range(8)]
        for point in points:
            inside = [
                score for run_id, k, score in given
                if k == key and point.start <= datetime.fromisoformat(world.docs[run_id]["start_time"]) < point.start + timedelta(milliseconds=10)
            ]
            scores = [s for s in inside if s is not None]
            assert point.count == len(inside)
            assert point.average == (pytest.approx(sum(scores) / len(scores)) if scores else None)
    assert browse.feedback_series(world.store, "beta", buckets=4) == {}
    with pytest.raises(NotFound):
        browse.feedback_series(world.store, "nope")


def test_empty_store_has_no_figures(store: Store) -> None:
    assert browse.project_summaries(store) == []
    runs = Runs(store)
    runs.add(latency=None)
    runs.flush()
    (summary,) = browse.project_summaries(store)
    assert (summary.run_count, summary.p50_ms, summary.p95_ms, summary.error_rate) == (1, None, None, 0.0)


# -- the filter in the URL ----------------------------------------------------------------------


def test_filter_round_trips_through_the_query_string(world: Runs) -> None:
    f = RunFilter(
        project="alpha", scope="all", run_type="llm", status="error", model="gpt-4o", tag="eu",
        feedback_key="thumbs", feedback_min=0.5, feedback_max=1.0, since=_at(0), until=_at(90),
        min_latency_ms=12.5, search='"a phrase" word', sort="cost", direction="asc", limit=20,
    )
    query = f.to_query()
    assert "project" not in query and query["since"] == "2025-03-01T12:00:00Z" and query["feedback_max"] == "1"
    assert RunFilter.from_query(query, project="alpha") == f
    assert RunFilter().to_query() == {}
    assert RunFilter.from_query({"scope": "", "sort": " ", "other": "x"}) == RunFilter()  # blanks and strangers ignored
    assert RunFilter.from_query({"since": "2025-03-01"}).since == datetime(2025, 3, 1, tzinfo=timezone.utc)
    page = browse.list_run_rows(world.store, RunFilter(project="alpha", limit=2))
    again = RunFilter.from_query({"limit": "2", "cursor": page.next_cursor}, project="alpha")
    assert again.cursor == page.next_cursor and browse.list_run_rows(world.store, again).rows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"scope": "everything"}, "scope must be one of root, all, llm, not 'everything'."),
        ({"sort": "name"}, "sort must be one of start, latency, tokens, cost, not 'name'."),
        ({"direction": "up"}, "direction must be one of desc, asc, not 'up'."),
        ({"run_type": "agent"}, "run_type must be one of"),
        ({"status": "done"}, "status must be one of"),
        ({"limit": "0"}, "limit must be a whole number from 1 to 500, not 0."),
        ({"limit": "ten"}, "limit must be a whole number from 1 to 500, not 'ten'."),
        ({"limit": "501"}, "limit must be a whole number"),
        ({"min_latency_ms": "fast"}, "min_latency_ms must be a number, not 'fast'."),
        ({"min_latency_ms": "-1"}, "min_latency_ms must be zero or more."),
        ({"feedback_min": "nan", "feedback_key": "k"}, "feedback_min must be a finite number"),
        ({"feedback_min": "1"}, "feedback_min and feedback_max need feedback_key"),
        ({"feedback_key": "k", "feedback_min": "1", "feedback_max": "0"}, "feedback_min must not be greater than feedback_max."),
        ({"since": "yesterday"}, "since must be a date or a date and time like 2025-03-01T12:00:00Z, not 'yesterday'."),
        ({"since": "2025-03-02", "until": "2025-03-01"}, "since must be earlier than until."),
        ({"search": "x" * 501}, "search must be at most 500 characters long."),
        ({"cursor": "not-a-cursor"}, "cursor is not a page of this list; start again from the first page."),
    ],
)
def test_bad_filter_values_are_a_sentence(args: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        RunFilter.from_query(args)
    text = str(caught.value)
    assert text.startswith(message) and text.endswith(".")


def test_a_cursor_belongs_to_its_sort(world: Runs) -> None:
    page = browse.list_run_rows(world.store, RunFilter(project="alpha", sort="latency", limit=2))
    with pytest.raises(ValueError, match=r"cursor belongs to a list sorted by latency \(desc\), not by start \(desc\)"):
        RunFilter(project="alpha", cursor=page.next_cursor)
