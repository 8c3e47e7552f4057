"""What the official `langsmith` client reads and manages, over our store: projects here
(`/sessions`), runs in `compat_runs.py`, feedback, datasets and examples in `compat_data.py`.

Every route is under `PREFIX` (`dispatch.py` brings the client's root paths here). Answers
follow the shapes `langsmith.schemas` validates (see ../shared/langsmith-protocol.md §6, §7):
lists are bare JSON arrays paged by `limit`/`offset`, except `POST /runs/query`
(`{"runs": [...], "cursors": {"next": ...}}`, our keyset cursor). Errors are the viewer's
`{"error": {"status", "message"}}`: 404 for an unknown id (the client raises
`LangSmithNotFoundError`), 409 for a name or id already taken, 400 for a bad parameter or body,
415 for a body that is not JSON.

    GET    /sessions?name=&name_contains=&id=&include_stats=&limit=&offset=
    POST   /sessions[?upsert=true]          (the client chooses the id)
    GET    /sessions/<id>   PATCH /sessions/<id>   DELETE /sessions/<id>   (with its runs)

A project is LangSmith's session: `id` is our project's id, `start_time` its creation,
`extra.metadata` its metadata; `tenant_id` is one fixed id for this server (`TENANT_ID`); there
are no reference datasets (`reference_dataset_id` is always null).

The unsafe views are exempt from the viewer's CSRF token and protect themselves as the JSON API
does (`viewer.openapi`): they take only `application/json` bodies, which a page on another site
cannot send without a CORS preflight this server never grants.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

from flask import Blueprint, Flask, Response, request
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from tracer._json import loads
from tracer.store import browse
from tracer.store.projects import ProjectExists, ProjectRecord, create_project, delete_project, find_projects, read_project, update_project

from .. import get_store
from ..errors import BadRequest, ViewerError
from ..openapi import json_body
from ..security import csrf_exempt
from . import PREFIX

__all__ = ["bp", "init_app", "TENANT_ID", "reply", "body", "route", "conflict", "arg_int", "arg_flag", "arg_ids", "arg_metadata", "page", "session_id_of"]

#: The tenant (workspace) of every project here: LangSmith's client reads one from `/sessions`.
TENANT_ID = UUID("7c0a1f3e-5b2d-4c8e-9f61-0d3a2b4c5e6f")
#: The most items a list answers at once (LangSmith's own page limit).
MAX_PAGE = 100

bp = Blueprint("langsmith_sessions", __name__, url_prefix=PREFIX)

V = TypeVar("V", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


# -- what the three modules share -------------------------------------------------------------


def reply(data: Any, status: int = 200) -> Response:
    """`data` as JSON (datetimes in ISO 8601, UUIDs as text)."""
    return Response(to_json(data), status=status, mimetype="application/json")


def body(model: type[M]) -> M:
    """The request's JSON body, validated (415 when not JSON, 400 when not valid)."""
    return json_body(model)  # type: ignore[return-value]


def route(blueprint: Blueprint, method: str, rule: str) -> Callable[[V], V]:
    """Register a view for one method, exempt from the CSRF token (see the module docstring)."""

    def register(view: V) -> V:
        blueprint.add_url_rule(rule, view_func=csrf_exempt(view), methods=[method])
        return view

    return register


def conflict(message: str) -> ViewerError:
    return ViewerError(message, status=409)


def arg_int(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > maximum:
        raise BadRequest(f"{name} must be a whole number from 0 to {maximum}, not {raw[:50]!r}.")
    return int(raw)


def arg_flag(name: str) -> bool | None:
    """A boolean query argument as Python's `requests` writes one ("True"), or None."""
    raw = request.args.get(name, "").strip().lower()
    if not raw:
        return None
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name} must be true or false, not {raw[:50]!r}.")
    return raw in ("true", "1")


def arg_ids(name: str) -> list[str] | None:
    """A repeated UUID query argument (`?run=a&run=b`), or None when absent."""
    values = request.args.getlist(name)
    if not values:
        return None
    try:
        return [str(UUID(value)) for value in values]
    except ValueError:
        raise BadRequest(f"{name} must be UUIDs.") from None


def arg_metadata() -> dict[str, Any] | None:
    """The `metadata` query argument: a JSON object the records' metadata must contain."""
    raw = request.args.get("metadata")
    if raw is None:
        return None
    try:
        wanted = loads(raw)
    except (ValueError, RecursionError):
        wanted = None
    if not isinstance(wanted, dict):
        raise BadRequest("metadata must be a JSON object.")
    return wanted


def page(items: list[Any]) -> list[Any]:
    """The `offset`/`limit` page of `items` (LangSmith's list paging)."""
    offset = arg_int("offset", 0, 2**31)
    return items[offset : offset + arg_int("limit", MAX_PAGE, MAX_PAGE)]


def session_id_of(project_names: set[str]) -> dict[str, str]:
    """Project name -> id, for the `session_id` of runs."""
    return {record.name: record.id for record in find_projects(get_store(), names=sorted(project_names))}


# -- projects ---------------------------------------------------------------------------------


def _session(record: ProjectRecord, summary: browse.ProjectSummary | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": record.id,
        "tenant_id": TENANT_ID,
        "name": record.name,
        "description": record.description,
        "start_time": record.created_at,
        "end_time": None,
        "extra": {"metadata": record.metadata},
        "reference_dataset_id": None,
    }
    if summary is not None:
        data.update(
            run_count=summary.run_count,
            latency_p50=None if summary.p50_ms is None else summary.p50_ms / 1000,
            prompt_tokens=summary.prompt_tokens,
            completion_tokens=summary.completion_tokens,
            total_tokens=summary.total_tokens,
            total_cost=summary.cost,
            error_rate=summary.error_rate,
            last_run_start_time=summary.last_run_time,
            feedback_stats={key: {"avg": average} for key, average in summary.feedback.items()},
        )
    return data


def _sessions(records: list[ProjectRecord]) -> list[dict[str, Any]]:
    if not arg_flag("include_stats"):
        return [_session(record) for record in records]
    summaries = {summary.id: summary for summary in browse.project_summaries(get_store())}
    return [_session(record, summaries.get(record.id)) for record in records]


@route(bp, "GET", "/sessions")
def list_sessions() -> Response:
    """Projects, newest first; `reference_dataset` finds none (we keep no reference datasets)."""
    names = request.args.getlist("name") or None
    found = find_projects(get_store(), ids=arg_ids("id"), names=names, name_contains=request.args.get("name_contains"))
    wanted = arg_metadata()
    if wanted is not None:
        found = [record for record in found if all(record.metadata.get(k) == v for k, v in wanted.items())]
    if request.args.get("reference_dataset"):
        found = []
    return reply(_sessions(page(found)))


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=1000)]
    id: UUID | None = None
    description: str | None = None
    extra: dict[str, Any] | None = None


class SessionChange(BaseModel):
    """The client sends every field; null means unchanged."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    description: str | None = None
    extra: dict[str, Any] | None = None


def _extra_metadata(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    metadata = (extra or {}).get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("extra.metadata must be an object.")
    return metadata


@route(bp, "POST", "/sessions")
def create_session() -> Response:
    """409 when the name (or id) is taken, unless `upsert`: then that project, updated."""
    given = body(SessionIn)
    try:
        record = create_project(
            get_store(),
            given.name,
            project_id=given.id,
            description=given.description,
            metadata=_extra_metadata(given.extra),
            upsert=bool(arg_flag("upsert")),
        )
    except ProjectExists as exc:
        raise conflict(str(exc)) from None
    return reply(_session(record), 201)


@route(bp, "GET", "/sessions/<project_id>")
def read_session(project_id: str) -> Response:
    return reply(_sessions([read_project(get_store(), project_id)])[0])


@route(bp, "PATCH", "/sessions/<project_id>")
def update_session(project_id: str) -> Response:
    """Renames and describes; `end_time` is not kept (our projects have none)."""
    change = body(SessionChange)
    fields: dict[str, Any] = {"name": change.name}
    if change.description is not None:
        fields["description"] = change.description
    if change.extra is not None:
        fields["metadata"] = _extra_metadata(change.extra) or {}
    try:
        record = update_project(get_store(), project_id, **fields)
    except ProjectExists as exc:
        raise conflict(str(exc)) from None
    return reply(_session(record))


@route(bp, "DELETE", "/sessions/<project_id>")
def delete_session(project_id: str) -> Response:
    """The project, its runs and their feedback."""
    delete_project(get_store(), project_id)
    return Response(status=204)


def init_app(app: Flask) -> None:
    """Register the projects, runs and data blueprints."""
    from . import compat_data, compat_runs

    for blueprint in (bp, compat_runs.bp, compat_data.bp):
        app.register_blueprint(blueprint)
