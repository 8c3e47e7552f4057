"""Runs as LangSmith's client reads them: `read_run` (`GET /runs/<id>`) and `list_runs`
(`POST /runs/query`), over the store's runs table and our filter language, which is LangSmith's.

A run is rendered in LangSmith's run schema from our document (`_run`): the fields of the
client's default `select` (`session_id` is our project's id, `total_cost` our cost,
`feedback_stats` each key's count and average score), and only the fields selected plus those
`langsmith.schemas.Run` requires.

`POST /runs/query` turns the body into one `RunFilter` (`_run_filter`): `session` or
`session_id` (one project id), `run_type`, `query` (our full-text search), `start_time`, `order` and `cursor` map to its
fields; `is_root`, `error`, `trace`, `parent_run`, `end_time` and `id` become filter-language
terms `and`-ed with `filter`. `trace_filter` (the trace's root matches) and `tree_filter` (some
run of the trace matches) become `trace_id` terms, found first; like `id`, they may name at most
`MAX_TERMS` traces (a filter is at most 4,000 characters). A page holds at most 100 runs, newest
first unless `order` is "asc"; `cursors.next` is our keyset cursor. `reference_example`, several
sessions, and any body field this does not know are a 400, never silently ignored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from tracer.filters import And, Compare, Filter, Or, parse_filter, render_filter
from tracer.schemas import Run
from tracer.store import NotFound, browse
from tracer.store.projects import read_project

from .. import get_store
from ..errors import BadRequest
from . import PREFIX
from .compat import MAX_PAGE, body, reply, route, session_id_of

__all__ = ["bp", "MAX_TERMS"]

bp = Blueprint("langsmith_runs", __name__, url_prefix=PREFIX)

#: The most run ids, or traces found by `trace_filter`/`tree_filter`, a query may name.
MAX_TERMS = 50
#: What `langsmith.schemas.Run` cannot do without, whatever was selected.
_REQUIRED = frozenset({"id", "name", "run_type", "start_time", "trace_id"})


# -- rendering --------------------------------------------------------------------------------


def _feedback_stats(scores: list[tuple[str, float | None]]) -> dict[str, Any]:
    """Each key's count and average score (None when no feedback of that key has a score)."""
    by_key: dict[str, list[float | None]] = {}
    for key, score in scores:
        by_key.setdefault(key, []).append(score)
    stats: dict[str, Any] = {}
    for key, values in by_key.items():
        scored = [value for value in values if value is not None]
        stats[key] = {"n": len(values), "avg": sum(scored) / len(scored) if scored else None}
    return stats


def _parent_ids(dotted_order: str) -> list[str]:
    """The ancestors' ids, root first: each segment of a dotted order ends with a run's id."""
    return [segment[-36:] for segment in dotted_order.split(".")[:-1]]


def _run(run: Run, session_id: str | None, scores: list[tuple[str, float | None]], select: frozenset[str] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.id,
        "trace_id": run.trace_id,
        "parent_run_id": run.parent_run_id,
        "parent_run_ids": _parent_ids(run.dotted_order),
        "dotted_order": run.dotted_order,
        "name": run.name,
        "run_type": run.run_type,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "first_token_time": run.first_token_time,
        "inputs": run.inputs,
        "outputs": run.outputs,
        "error": run.error,
        "extra": run.extra,
        "events": run.events,
        "tags": run.tags,
        "session_id": session_id,
        "reference_example_id": run.reference_example_id,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "total_tokens": run.total_tokens,
        "prompt_cost": None,
        "completion_cost": None,
        "total_cost": run.cost,
        "feedback_stats": _feedback_stats(scores),
        "app_path": f"/runs/{run.id}",
        "s3_urls": {},
    }
    if select is None:
        return data
    return {name: value for name, value in data.items() if name in select or name in _REQUIRED}


@route(bp, "GET", "/runs/<run_id>")
def read_run(run_id: str) -> Response:
    store = get_store()
    run = browse.run_detail(store, run_id)
    scores = [(item.key, item.score) for item in browse.run_feedback(store, run.id)]
    return reply(_run(run, session_id_of({run.project}).get(run.project), scores, None))


# -- the query --------------------------------------------------------------------------------

class RunQuery(BaseModel):
    """The body of `POST /runs/query` (what `Client.list_runs` sends)."""

    model_config = ConfigDict(extra="forbid")

    session: list[UUID] | None = None
    #: What `read_run(load_child_runs=True)` sends (through `list_runs(session_id=...)`).
    session_id: UUID | None = None
    run_type: str | None = None
    reference_example: list[UUID] | None = None
    query: Annotated[str, Field(max_length=500)] | None = None
    filter: str | None = None
    trace_filter: str | None = None
    tree_filter: str | None = None
    is_root: bool | None = None
    parent_run: UUID | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: bool | None = None
    id: Annotated[list[UUID], Field(max_length=MAX_TERMS)] | None = None
    trace: UUID | None = None
    select: list[str] | None = None
    limit: Annotated[int, Field(ge=1)] | None = None
    cursor: str | None = None
    order: Literal["asc", "desc"] | None = None


class _Empty(Exception):
    """Nothing can match (a trace filter found no trace)."""


def _any_of(field: str, values: list[str]) -> Filter:
    terms = [Compare("eq", field, value) for value in values]
    return terms[0] if len(terms) == 1 else Or(tuple(terms))


def _traces(project: str | None, text: str, scope: str) -> list[str]:
    """The traces with a run matching `text` (with `scope` "root": their root), at most
    `MAX_TERMS` of them (else a 400)."""
    f = browse.RunFilter(project=project, scope=scope, filter=text, limit=500)
    found: dict[str, None] = {}
    while True:
        result = browse.list_run_rows(get_store(), f)
        found.update((row.trace_id, None) for row in result.rows)
        if len(found) > MAX_TERMS:
            raise BadRequest(f"That trace filter matches more than {MAX_TERMS} traces here; narrow it (or use filter).")
        if result.next_cursor is None:
            return list(found)
        f = replace(f, cursor=result.next_cursor)


def _project(query: RunQuery) -> str | None:
    sessions = set(query.session or ()) | ({query.session_id} if query.session_id else set())
    if not sessions:
        return None
    if len(sessions) > 1:
        raise BadRequest("This server lists the runs of one project (session) at a time.")
    return read_project(get_store(), sessions.pop()).name


def _run_filter(query: RunQuery) -> browse.RunFilter:
    if query.reference_example:
        raise BadRequest("reference_example is not supported here: runs are not linked to examples by this server.")
    project = _project(query)
    terms: list[Filter] = [parse_filter(query.filter)] if query.filter else []
    if query.is_root is False:
        terms.append(Compare("eq", "is_root", False))
    if query.error is not None:
        terms.append(Compare("eq", "error", query.error))
    for field, value in (("trace_id", query.trace), ("parent_run_id", query.parent_run)):
        if value is not None:
            terms.append(Compare("eq", field, str(value)))
    if query.end_time is not None:
        terms.append(Compare("lte", "end_time", query.end_time.isoformat()))
    if query.id:
        terms.append(_any_of("id", [str(run_id) for run_id in query.id]))
    for text, scope in ((query.trace_filter, "root"), (query.tree_filter, "all")):
        if text:
            traces = _traces(project, text, scope)
            if not traces:
                raise _Empty
            terms.append(_any_of("trace_id", traces))
    combined = None if not terms else render_filter(terms[0] if len(terms) == 1 else And(tuple(terms)))
    return browse.RunFilter(
        project=project,
        scope="root" if query.is_root else "all",
        run_type=query.run_type,
        search=query.query,
        since=query.start_time,
        filter=combined,
        direction=query.order or "desc",
        limit=min(query.limit or MAX_PAGE, MAX_PAGE),
        cursor=query.cursor,
    )


@route(bp, "POST", "/runs/query")
def query_runs() -> Response:
    query = body(RunQuery)
    try:
        result = browse.list_run_rows(get_store(), _run_filter(query))
    except _Empty:
        return reply({"runs": [], "cursors": {"next": None}})
    runs = []
    for row in result.rows:
        try:
            runs.append((browse.run_detail(get_store(), row.id), row.feedback))
        except NotFound:  # deleted since the page was read
            continue
    sessions = session_id_of({run.project for run, _ in runs})
    select = None if query.select is None else frozenset(query.select)
    rendered = [_run(run, sessions.get(run.project), scores, select) for run, scores in runs]
    return reply({"runs": rendered, "cursors": {"next": result.next_cursor}})
