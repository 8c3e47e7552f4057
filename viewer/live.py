"""Live updates: server-sent event streams fed by the run log.

Every flush of the background writer appends one `run_log` row per run it touched, at an
increasing position (`pos`). A stream here polls the log after the last position it sent
(`browse.log_since`, every `LIVE_POLL_SECONDS`, 0.25 s by default) and forwards what it finds:

- `GET /live/events?project=<name>[&after=<pos>][&scope=root|all|llm]` — the runs of a project
  as they start and change. One `run` event per run touched in a poll, its data the run's row
  as the runs table shows it (`RunRow` fields, times as ISO-8601 UTC) plus `pos`, `seq` and
  `new` (true when the run started in that poll). Without `after` the stream starts at the end
  of the log: only what happens from now on.
- `GET /live/runs/<run_id>[?after=<pos>]` — one run's ops as they are written. One `ops` event
  per log row, `{"pos", "run_id", "seq", "ops"}` with the RFC 6902 ops of that row (a
  `new_token` is `{"op": "add", "path": "/events/-", "value": {"name": "new_token", ...}}`).
  Without `after` it starts at the run's first op. When the run has ended the stream sends
  `done` (`{"run_id", "status"}`) and closes.

Every event carries `id: <pos>`, so a browser's `EventSource` that reconnects sends
`Last-Event-ID` and resumes where it left off (the header wins over `after`). A comment is sent
every `LIVE_KEEPALIVE_SECONDS` (15) so proxies keep the connection and a closed tab is noticed,
and a stream ends after `LIVE_MAX_SECONDS` (600), freeing its thread (the browser reconnects).
Each stream holds one server thread: Werkzeug's threaded server gives every request its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select

from tracer.store import Store, browse
from tracer.store.tables import projects, runs

from .errors import BadRequest, NotFound

__all__ = ["bp"]

bp = Blueprint("live", __name__, url_prefix="/live")

#: Defaults of the app settings that tune every stream.
DEFAULTS = {"LIVE_POLL_SECONDS": 0.25, "LIVE_KEEPALIVE_SECONDS": 15.0, "LIVE_MAX_SECONDS": 600.0}
#: How long, in milliseconds, a browser waits before reconnecting to a stream that ended.
RETRY_MS = 1000
#: Log rows read per poll; a busier log is read over several polls, none skipped.
BATCH = 500
SCOPES = ("root", "all", "llm")

# The columns of a runs-table row, as `browse.RunRow` names them.
_ROW_COLUMNS = (
    runs.c.id, runs.c.trace_id, runs.c.parent_run_id, runs.c.name, runs.c.run_type, runs.c.status,
    runs.c.start_time, runs.c.end_time, runs.c.latency_ms, runs.c.first_token_ms, runs.c.prompt_tokens,
    runs.c.completion_tokens, runs.c.total_tokens, runs.c.cost, runs.c.model_name, runs.c.tags, runs.c.error,
)


@dataclass(frozen=True, slots=True)
class _Timing:
    poll: float
    keepalive: float
    max_seconds: float


def _timing() -> _Timing:
    config = current_app.config
    return _Timing(*(float(config.get(key, default)) for key, default in DEFAULTS.items()))


def _store() -> Store:
    return current_app.extensions["tracer_store"]


# -- request parameters ---------------------------------------------------------------------------


def _position(text: str | None, what: str) -> int | None:
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise BadRequest(f"{what} must be a log position: a whole number, 0 or more.")
    return int(text)


def _start_position() -> int | None:
    """Where to resume: `Last-Event-ID` (a reconnecting browser) or else `?after=`."""
    resumed = _position(request.headers.get("Last-Event-ID"), "The Last-Event-ID header")
    return resumed if resumed is not None else _position(request.args.get("after"), "The after parameter")


# -- the event stream format ----------------------------------------------------------------------


def _event(kind: str | None, data: str, pos: int | None) -> str:
    """One SSE event; every line of `data` gets its own `data:` field (JSON has none, but still)."""
    lines = [] if pos is None else [f"id: {pos}"]
    if kind:
        lines.append(f"event: {kind}")
    lines.extend(f"data: {line}" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(lines) + "\n\n"


def _resume_point(pos: int | None) -> str:
    # An event with an id and no data dispatches nothing, but moves the browser's Last-Event-ID.
    return ": keepalive\n\n" if pos is None else f": keepalive\nid: {pos}\n\n"


Poll = Callable[[int | None], tuple[list[str], int | None, bool]]


def _stream(poll: Poll, after: int | None, timing: _Timing) -> Iterator[str]:
    """Call `poll(after)` until it says done or time is up; yield what it found, and keepalives.

    `poll` returns the events to send, the position to poll after next, and whether the stream
    is complete. A disconnected client surfaces as an error on the next write (at the latest at
    the next keepalive), which closes this generator.
    """
    yield f"retry: {RETRY_MS}\n" + _resume_point(after)
    deadline = time.monotonic() + timing.max_seconds
    quiet_since = time.monotonic()
    while True:
        events, after, done = poll(after)
        now = time.monotonic()
        if events:
            yield "".join(events)
            quiet_since = now
        if done or now >= deadline:
            return
        if now - quiet_since >= timing.keepalive:
            yield _resume_point(after)
            quiet_since = now
        time.sleep(timing.poll)


def _sse(body: Iterator[str]) -> Response:
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, no-transform"
    response.headers["X-Accel-Buffering"] = "no"  # nginx and friends: don't buffer the stream
    return response


# -- reading ------------------------------------------------------------------------------------


def _ops_text(ops: Any) -> str:
    return ops if isinstance(ops, str) else json.dumps(ops, separators=(",", ":"))


def _run_rows(store: Store, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The runs-table rows of these runs (`RunRow.as_json()`, no documents), by id.

    Feedback is left out: it does not change while a run is in progress."""
    statement = select(*_ROW_COLUMNS).where(runs.c.id.in_(list(run_ids)))
    with store.engines.reader.connect() as connection:
        found = connection.execute(statement).mappings().all()
    rows = {}
    for row in found:
        item = dict(row)
        item["start_time"] = _utc(item["start_time"])
        item["end_time"] = _utc(item["end_time"])
        item["tags"] = json.loads(item["tags"]) if item["tags"] else []
        rows[item["id"]] = browse.RunRow(**item).as_json()
    return rows


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _log_since(store: Store, after: int | None, **where: str) -> list[browse.LogRow]:
    return browse.log_since(store, after, limit=BATCH, **where)


def _project_exists(store: Store, name: str) -> bool:
    with store.engines.reader.connect() as connection:
        return connection.execute(select(projects.c.id).where(projects.c.name == name)).first() is not None


def _run_status(store: Store, run_id: str) -> str | None:
    with store.engines.reader.connect() as connection:
        return connection.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()


# -- the streams --------------------------------------------------------------------------------


@bp.get("/events")
def project_events() -> Response:
    """New runs and run changes of one project."""
    project = request.args.get("project", "")
    if not project.strip():
        raise BadRequest("Say which project to follow: /live/events?project=<name>.")
    scope = request.args.get("scope", "all")
    if scope not in SCOPES:
        raise BadRequest(f"The scope parameter must be one of {', '.join(SCOPES)}.")
    after = _start_position()
    store = _store()
    if not _project_exists(store, project):
        raise NotFound(f"There is no project named {project!r}.")
    if after is None:
        after = browse.log_position(store)

    def poll(after: int | None) -> tuple[list[str], int | None, bool]:
        rows = _log_since(store, after, project=project)
        if not rows:
            return [], after, False
        latest: dict[str, tuple[int, int]] = {}  # run id -> (pos, seq) of its latest change
        new: set[str] = set()
        for row in rows:
            run_id = str(row.run_id)
            latest.pop(run_id, None)  # keep runs in the order of their latest change
            latest[run_id] = (row.pos, row.seq)
            if row.seq == 0:
                new.add(run_id)
        found = _run_rows(store, list(latest))
        events = []
        for run_id, (pos, seq) in latest.items():
            item = found.get(run_id)
            if item is None or not _in_scope(item, scope):
                continue
            item.update(pos=pos, seq=seq, new=run_id in new)
            events.append(_event("run", json.dumps(item, separators=(",", ":")), pos))
        return events, rows[-1].pos, False

    return _sse(_stream(poll, after, _timing()))


def _in_scope(item: dict[str, Any], scope: str) -> bool:
    if scope == "root":
        return item["parent_run_id"] is None
    return scope == "all" or item["run_type"] == "llm"


@bp.get("/runs/<run_id>")
def run_ops(run_id: str) -> Response:
    """The ops of one run as they are written, then `done` when it has ended."""
    try:
        run_id = str(UUID(run_id))
    except ValueError:
        raise NotFound(f"No run with id {run_id!r}: that is not a UUID.") from None
    after = _start_position()
    store = _store()
    # Read the status before the log: the write that ends a run stores its last ops with it,
    # so a run that has ended by now has all its ops in the log reads below.
    status = _run_status(store, run_id)
    if status is None:
        raise NotFound(f"There is no run with id {run_id}.")
    ended = status != "running"

    def poll(after: int | None) -> tuple[list[str], int | None, bool]:
        nonlocal ended
        rows = _log_since(store, after, run_id=run_id)
        events = []
        for row in rows:
            ops = _ops_text(row.ops)
            data = f'{{"pos":{int(row.pos)},"run_id":"{run_id}","seq":{int(row.seq)},"ops":{ops}}}'
            events.append(_event("ops", data, row.pos))
            final = _final_status(json.loads(ops) if isinstance(row.ops, str) else row.ops)
            if final is not None:
                ended = True
        if rows:
            after = rows[-1].pos
        if ended and len(rows) < BATCH:
            final_status = _run_status(store, run_id) or "unknown"
            events.append(_event("done", json.dumps({"run_id": run_id, "status": final_status}), after))
            return events, after, True
        return events, after, False

    return _sse(_stream(poll, after, _timing()))


def _final_status(ops: list[dict[str, Any]]) -> str | None:
    """The status these ops end the run with, if they end it."""
    for op in reversed(ops):
        path = op.get("path")
        if op.get("op") == "replace" and path == "/status" and op.get("value") != "running":
            return op.get("value")
        if op.get("op") == "replace" and path == "" and isinstance(op.get("value"), dict):
            status = op["value"].get("status")
            return status if status != "running" else None
    return None
