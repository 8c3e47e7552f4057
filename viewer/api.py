"""The JSON API under /api/v1: projects, runs (pages, one run, its trace's tree, its feedback),
run exports, and the OpenAPI document. Feedback, datasets and examples are in `api_data.py`;
the route registry and the document in `openapi.py`. Every view calls the functions the CLI,
the client and the pages call (`tracer.store.browse`, `tracer.datasets`, `tracer.export`).

Conventions, the same for every operation:

- JSON in and out. A list comes in an envelope (`{"runs": [...], "next_cursor": ...}`), one
  resource bare (a `Run`, a `Feedback`...); times are ISO 8601 in UTC.
- Errors are `{"error": {"status", "message"}}` (`viewer.errors`): 400 for a bad parameter or
  body (a bad UUID in a query or body too), 404 for an id or name in the path that names
  nothing (an id that is not a UUID names nothing), 415 for a body that is not JSON.
- The runs list takes every `RunFilter` query field, `filter` (the filter language) among them,
  and pages by keyset: pass `next_cursor` back as `cursor` with the same sort.
- Downloads stream (constant memory) with `Content-Disposition: attachment`, so the viewer's
  buttons link to them.

    GET  /api/v1/openapi.json                 the OpenAPI 3.1 document
    GET  /api/v1/projects                     projects with their figures
    GET  /api/v1/projects/<name>
    GET  /api/v1/projects/<name>/feedback?since=&until=&buckets=   feedback per key over time
    GET  /api/v1/runs?project=&filter=&...    a page of runs
    GET  /api/v1/runs/full?<the list's parameters>   the same page, each run whole
    GET  /api/v1/runs/export?<the list's parameters>&format=jsonl|csv
    GET  /api/v1/runs/<run_id>                the whole run
    GET  /api/v1/runs/<run_id>/tree           its trace's runs, parents before children
    GET  /api/v1/runs/<run_id>/feedback
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import fields, replace
from typing import Annotated, Any, Literal

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context
from pydantic import AwareDatetime, Field
from typing_extensions import TypedDict  # pydantic reads its fields on Python < 3.12
from werkzeug.utils import secure_filename

from tracer import datasets, export
from tracer.schemas import Feedback, Run
from tracer.store import browse
from tracer.store.browse_filters import DIRECTIONS, MAX_FILTER, MAX_LIMIT, RUN_TYPES, SCOPES, SORTS, STATUSES

from . import get_store
from .errors import NotFound
from .openapi import PREFIX, Query, document, route

__all__ = ["bp", "init_app", "download", "NDJSON", "FeedbackList"]

bp = Blueprint("api", __name__, url_prefix=PREFIX)

NDJSON = "application/x-ndjson"

FILTER = Query("filter", Annotated[str, Field(max_length=MAX_FILTER)], "A filter-language expression, e.g. `and(eq(run_type, \"llm\"), gt(latency, 2))`.")
RUN_TYPE = Query("run_type", Literal[RUN_TYPES], "Only runs of this type.")


class ProjectList(TypedDict):
    projects: list[browse.ProjectSummary]


class RunList(TypedDict):
    runs: list[browse.RunRow]
    #: Pass it back as `cursor` for the next page; null on the last page.
    next_cursor: str | None


class WholeRunList(TypedDict):
    runs: list[Run]
    #: Pass it back as `cursor` for the next page; null on the last page.
    next_cursor: str | None


class TraceTree(TypedDict):
    runs: list[browse.TraceRow]


class FeedbackList(TypedDict):
    feedback: list[Feedback]


# -- helpers the data views share --------------------------------------------------------------


def download(chunks: Iterator[str], stem: str, fmt: str) -> Response:
    """A streamed file: `chunks` go out as they come, in the request's context."""
    extension = "csv" if fmt == "csv" else "jsonl"
    filename = secure_filename(f"{stem}.{extension}") or f"export.{extension}"
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv" if fmt == "csv" else NDJSON,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- the document ------------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 document of this API (not an operation of its own)."""
    return jsonify(document())


# -- projects ----------------------------------------------------------------------------------


@route(bp, "GET", "/projects", summary="List projects with their figures, most recently active first", tag="projects", response=ProjectList)
def list_projects() -> ProjectList:
    return {"projects": browse.project_summaries(get_store())}


@route(bp, "GET", "/projects/<path:name>", summary="Read a project's figures", tag="projects", response=browse.ProjectSummary)
def read_project(name: str) -> browse.ProjectSummary:
    return _summary(name)


def _summary(name: str) -> browse.ProjectSummary:
    for summary in browse.project_summaries(get_store()):
        if summary.name == name:
            return summary
    raise NotFound(f"No project named {name!r} in the store.")


class FeedbackStats(TypedDict):
    #: Average score of each key over the whole project.
    averages: dict[str, float]
    #: Each key's count and average score per time bucket of its runs' start, keys most used first.
    series: dict[str, list[browse.FeedbackPoint]]


SINCE = Query("since", AwareDatetime, "Start of the first bucket (ISO 8601); default: the project's first run.")
UNTIL = Query("until", AwareDatetime, "End of the last bucket; default: just after the project's last run.")
BUCKETS = Query("buckets", Annotated[int, Field(ge=1, le=1000)], "How many equal time buckets.", default=48)


@route(
    bp, "GET", "/projects/<path:name>/feedback", summary="Feedback of a project: averages, and per key over time",
    tag="projects", query=(SINCE, UNTIL, BUCKETS), response=FeedbackStats,
)
def project_feedback(name: str) -> FeedbackStats:
    store = get_store()
    series = browse.feedback_series(store, name, since=SINCE.read(), until=UNTIL.read(), buckets=BUCKETS.read())
    return {"averages": _summary(name).feedback, "series": series}


# -- runs --------------------------------------------------------------------------------------


def _run_query() -> tuple[Query, ...]:
    """The runs list's parameters: every field of `RunFilter`, typed as it reads them."""
    hints = typing.get_type_hints(browse.RunFilter)
    choices: dict[str, Any] = {
        "scope": Literal[SCOPES],
        "sort": Literal[SORTS],
        "direction": Literal[DIRECTIONS],
        "run_type": Literal[RUN_TYPES],
        "status": Literal[STATUSES],
        "limit": Annotated[int, Field(ge=1, le=MAX_LIMIT)],
    }
    notes = {
        "project": "Only runs of this project (default: every project).",
        "scope": "root: traces (runs without a parent); all: every run; llm: model calls.",
        "filter": FILTER.description,
        "search": "Words and \"phrases\" to find in inputs, outputs and errors.",
        "cursor": "The `next_cursor` of the previous page (same sort and direction).",
    }
    return tuple(
        Query(field.name, choices.get(field.name) or _present(hints[field.name]), notes.get(field.name, ""))
        for field in fields(browse.RunFilter)
    )


def _present(hint: Any) -> Any:
    """`X` of `X | None`: what a query argument holds when it is given."""
    given = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return given[0] if given else hint


@route(bp, "GET", "/runs", summary="List runs, a page at a time", tag="runs", query=_run_query(), response=RunList, errors=(404,))
def list_runs() -> RunList:
    """Any `RunFilter` field narrows the list; `cursor` pages through it by keyset, so rows
    written meanwhile neither repeat nor vanish."""
    page = browse.list_run_rows(get_store(), browse.RunFilter.from_query(request.args))
    return {"runs": page.rows, "next_cursor": page.next_cursor}


@route(bp, "GET", "/runs/full", summary="List runs, whole, a page at a time", tag="runs", query=_run_query(), response=WholeRunList, errors=(404,))
def list_whole_runs() -> WholeRunList:
    """The page `GET /runs` answers with the same parameters, each run as `GET /runs/{run_id}`
    answers it: a client that wants documents reads a page in one request, not one per run."""
    page = browse.list_whole_runs(get_store(), browse.RunFilter.from_query(request.args))
    return {"runs": page.runs, "next_cursor": page.next_cursor}


RUN_FORMAT = Query("format", Literal[export.RUN_FORMATS], "jsonl (the default) or csv.", default="jsonl")


@route(
    bp, "GET", "/runs/export", summary="Download the runs of a list, with their feedback", tag="runs",
    query=(*_run_query(), RUN_FORMAT), stream=(NDJSON, "text/csv"), errors=(404,),
)
def export_runs() -> Response:
    """Every run the list with the same parameters holds, on all its pages and in its order
    (`cursor` and `limit` are ignored), as the records of `tracer export runs`: JSONL of
    `{inputs, outputs, metadata, feedback}`, or CSV flattened one level."""
    store = get_store()
    f = browse.RunFilter.from_query(request.args)
    fmt = RUN_FORMAT.read()
    browse.list_run_rows(store, replace(f, limit=1, cursor=None))  # 404 for an unknown project, before any byte
    chunks = export.selected_runs_text(store, lambda: browse.matching_runs(store, f), fmt)
    return download(chunks, f"{f.project or 'all'}-runs", fmt)


@route(bp, "GET", "/runs/<run_id>", summary="Read a run, whole", tag="runs", response=Run)
def read_run(run_id: str) -> Run:
    return browse.run_detail(get_store(), run_id)


@route(bp, "GET", "/runs/<run_id>/tree", summary="List the runs of a run's trace, in tree order", tag="runs", response=TraceTree)
def read_tree(run_id: str) -> TraceTree:
    """Parents before their children, siblings by start time; `depth` 0 is the root."""
    store = get_store()
    return {"runs": browse.trace_rows(store, browse.run_detail(store, run_id).trace_id)}


@route(bp, "GET", "/runs/<run_id>/feedback", summary="List a run's feedback, oldest first", tag="runs", response=FeedbackList)
def run_feedback(run_id: str) -> FeedbackList:
    store = get_store()
    run = browse.run_detail(store, run_id)  # 404 for a run that is not stored
    return {"feedback": datasets.list_feedback(store, [run.id])}


def init_app(app: Flask) -> None:
    """Register the API's two blueprints (this one, and `api_data`'s feedback and datasets)."""
    from . import api_data

    app.register_blueprint(bp)
    app.register_blueprint(api_data.bp)
