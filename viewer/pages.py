"""The viewer's pages: projects, a project's runs, a trace, a run, and runs compared.

Each view reads through `tracer.store.browse` and hands plain values to its template; the
templates escape everything (autoescape, never `|safe` on data). What needs working out
before it can be drawn lives here as small functions: the waterfall's geometry, the token
timeline, the line diff of outputs. Bad query values are a 400 page, unknown ids a 404 page.

    GET /                          projects, their figures and charts (`?period=24h|7d|30d|1h`)
    GET /projects/<name>           runs table; the query string is a `RunFilter`
    GET /traces/<trace_id>         the run tree and waterfall (`?run=<id>` selects a node)
    GET /runs/<run_id>             one run
    GET /runs/<run_id>/panel       one run's details as an HTML fragment (the trace page's panel)
    GET /runs/<run_id>/attachments/<name>  a file sent with the run, as a download
    GET /compare?run=<id>&run=...  2 to 12 runs side by side
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape as escape_html
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, send_file
from markupsafe import Markup

from tracer.filters import FilterError
from tracer.schemas import Run
from tracer.store import browse

from . import get_store, path_segment
from .charts import Series, bar_chart, duration, line_chart, number, token_timeline
from .conversation import conversation, pretty_json, reply_text, token_events
from .errors import BadRequest, NotFound, wants_json
from .langsmith.ingest import attachment_file

__all__ = ["bp"]

bp = Blueprint("pages", __name__)

PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
DEFAULT_PERIOD = "7d"
MAX_COMPARED = 12
#: Width of the waterfall's viewBox: bar positions are in these units.
WATERFALL_WIDTH = 1000
#: Deepest indentation drawn (`depth-0`..`depth-N` in pages.css); deeper nodes show their depth.
MAX_INDENT = 24


# -- template helpers -----------------------------------------------------------------------


@bp.app_template_filter("duration")
def _duration_filter(ms: float | None) -> str:
    return duration(ms)


@bp.app_template_filter("figure")
def _figure_filter(value: float | None, unit: str = "") -> str:
    return number(value, unit)


@bp.app_template_filter("cost")
def _cost_filter(value: float | None) -> str:
    return "–" if value is None else f"${value:.6f}".rstrip("0").rstrip(".") if value < 0.01 else f"${value:,.4f}"


@bp.app_template_filter("iso")
def _iso_filter(value: datetime | None) -> str:
    return "" if value is None else _utc(value).isoformat()


@bp.app_template_filter("when")
def _when_filter(value: datetime | None) -> str:
    return "–" if value is None else _utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("percent")
def _percent_filter(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# -- projects -------------------------------------------------------------------------------


@bp.get("/")
def projects() -> str:
    period = request.args.get("period", DEFAULT_PERIOD)
    if period not in PERIODS:
        raise BadRequest(f"The period must be one of {', '.join(PERIODS)}; got {period[:40]!r}.")
    store = get_store()
    until = datetime.now(timezone.utc)
    since = until - PERIODS[period]
    cards = []
    for summary in browse.project_summaries(store):
        points = browse.project_series(store, summary.name, since=since, until=until, buckets=48)
        judged = browse.feedback_series(store, summary.name, since=since, until=until, buckets=48)
        cards.append((summary, _project_charts(points) + _feedback_charts(judged)))
    return render_template("projects.html", cards=cards, period=period, periods=list(PERIODS))


def _project_charts(points: list[Any]) -> list[Any]:
    times = [point.start for point in points]
    return [
        bar_chart("Runs and errors", times, [Series("runs", [p.runs for p in points]), Series("errors", [p.errors for p in points])]),
        line_chart("Latency", times, [Series("p50", [p.p50_ms for p in points]), Series("p95", [p.p95_ms for p in points])], unit="ms"),
        line_chart("Tokens", times, [Series("tokens", [p.tokens for p in points])]),
        line_chart("Cost", times, [Series("cost", [p.cost for p in points])], unit="$"),
    ]


#: Feedback keys charted per project (the most used ones).
MAX_FEEDBACK_CHARTS = 3


def _feedback_charts(judged: dict[str, list[Any]]) -> list[Any]:
    """One chart per key, its average score over time: scales differ between keys (thumbs
    0–1, stars 1–5), so keys never share a chart."""
    charts = []
    for key, points in list(judged.items())[:MAX_FEEDBACK_CHARTS]:
        times = [point.start for point in points]
        charts.append(line_chart(f"Feedback: {key}", times, [Series("average score", [p.average for p in points])]))
    return charts


# -- runs -----------------------------------------------------------------------------------


def _run_filter(project: str | None, args: Any) -> browse.RunFilter:
    """The filter of a query string (empty fields are ignored); a bad value is a 400, and a
    `FilterError` passes through so its position reaches the page or the JSON error."""
    try:
        return browse.RunFilter.from_query(args, project=project)
    except FilterError:
        raise
    except ValueError as exc:
        raise BadRequest(str(exc).strip().splitlines()[0] if str(exc).strip() else None) from None


@bp.get("/projects/<path:name>")
def runs(name: str) -> tuple[str, int]:
    """The runs table. A filter expression that does not parse keeps the page (400): the
    form shows the expression with a mark under the error, ready to be fixed."""
    store = get_store()
    filter_error: FilterError | None = None
    try:
        f = _run_filter(name, request.args)
    except FilterError as exc:
        if wants_json():
            raise
        filter_error = exc
        f = _run_filter(name, {key: value for key, value in request.args.items() if key not in ("filter", "cursor")})
    page = browse.list_run_rows(store, f) if filter_error is None else browse.RunPage([], None)
    query = f.to_query()
    if filter_error is not None:
        query["filter"] = request.args.get("filter", "")
    base = f"/projects/{path_segment(name)}"
    # The run page carries the filter, so j/k walk this list; the cursor is not part of it.
    row_query = urlencode({key: value for key, value in query.items() if key != "cursor"})
    return render_template(
        "runs.html",
        project=name,
        current_project=name,
        page=page,
        query=query,
        base=base,
        row_query=row_query,
        filter_error=filter_error,
        link=lambda **changes: _link(base, query, **changes),
    ), (400 if filter_error is not None else 200)


def _link(base: str, query: dict[str, str], **changes: str | None) -> str:
    merged = {**query, **changes}
    text = urlencode({key: value for key, value in merged.items() if value not in (None, "")})
    return base + ("?" + text if text else "")


# -- trace ----------------------------------------------------------------------------------


@dataclass(slots=True)
class TreeRow:
    """One node of the trace tree, ready to draw: its classes, level, bar and time text."""

    id: str
    name: str
    run_type: str
    status: str
    level: int  # depth + 1, as aria-level counts
    deep: bool  # deeper than the indentation drawn
    css: str
    x: float
    width: float
    time: str
    error: bool


def _tree(rows: list[Any]) -> tuple[list[TreeRow], float]:
    """The rows with their waterfall bars: x and width in `WATERFALL_WIDTH` units of the
    trace's span (its earliest start to its latest end; a running run reaches now). Built
    here rather than in the template: a trace may have 10,000 rows."""
    now = datetime.now(timezone.utc).timestamp()
    starts = [_utc(row.start_time).timestamp() for row in rows]
    ends = [_utc(row.end_time).timestamp() if row.end_time is not None else now for row in rows]
    t0, t1 = min(starts), max(ends)
    span = max(t1 - t0, 1e-6)
    scale = WATERFALL_WIDTH / span
    drawn = []
    for row, start, end in zip(rows, starts, ends):
        x = min((start - t0) * scale, WATERFALL_WIDTH - 2)
        width = min(max((end - start) * scale, 2.0), WATERFALL_WIDTH - x)
        error = bool(row.error)
        depth = row.depth
        drawn.append(
            TreeRow(
                id=str(row.id),
                name=row.name,
                run_type=row.run_type,
                status=row.status,
                level=depth + 1,
                deep=depth > MAX_INDENT,
                css=f"node depth-{min(depth, MAX_INDENT)} node-error" if error else f"node depth-{min(depth, MAX_INDENT)}",
                x=round(x, 1),
                width=round(width, 1),
                time=duration(row.latency_ms) if row.latency_ms is not None else row.status,
                error=error,
            )
        )
    return drawn, span * 1000


def _tree_html(tree: list[TreeRow], base: str, selected: str) -> Markup:
    """The tree's rows as HTML, every text escaped with `html.escape`. Built in one pass here,
    not in the template: for 10,000 rows Jinja's per-value escaping cost ~200 ms, this ~40."""
    parts = []
    for r in tree:
        run_id, kind = escape_html(r.id), escape_html(r.run_type)
        chosen = ' aria-selected="true" aria-current="true"' if r.id == selected else ""
        deep = f'<span class="deep">{r.level - 1}</span>' if r.deep else ""
        parts.append(
            f'<a class="{r.css}" role="treeitem" aria-level="{r.level}" href="{base}?run={run_id}" data-run="{run_id}"{chosen}>'
            f'<span class="node-name">{deep}{escape_html(r.name)}</span><span class="node-type t-{kind}">{kind}</span>'
            f'<span class="node-time">{escape_html(r.time)}</span>'
            f'<svg class="wf" viewBox="0 0 {WATERFALL_WIDTH} 10" preserveAspectRatio="none" aria-hidden="true">'
            f'<rect class="wf-bar t-{kind} s-{escape_html(r.status)}" x="{r.x}" y="1" width="{r.width}" height="8"/></svg></a>'
        )
    return Markup("\n".join(parts))


@bp.get("/traces/<trace_id>")
def trace(trace_id: str) -> str:
    store = get_store()
    rows = browse.trace_rows(store, trace_id)
    tree, span_ms = _tree(rows)
    selected = request.args.get("run") or tree[0].id
    if selected not in {row.id for row in tree}:
        raise NotFound(f"The run {selected[:60]!r} is not part of this trace.")
    run = browse.run_detail(store, selected)
    base = f"/traces/{run.trace_id}"
    return render_template(
        "trace.html",
        trace_id=str(run.trace_id),
        tree=tree,
        tree_html=_tree_html(tree, base, selected),
        root=tree[0],
        span_ms=span_ms,
        selected=selected,
        current_project=run.project,
        waterfall_width=WATERFALL_WIDTH,
        errors=sum(1 for row in tree if row.error),
        **_panel_context(store, run, next_url=f"{base}?run={run.id}"),
    )


# -- run ------------------------------------------------------------------------------------


def _parse_time(text: Any) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(str(text).replace("Z", "+00:00")))
    except ValueError:
        return None


def _timeline(run: Run) -> tuple[list[tuple[float, str]], float]:
    """The streamed tokens as (milliseconds since the start, text), and the run's span so far."""
    start = _utc(run.start_time)
    tokens = []
    for time, text in token_events(run.events):
        at = _parse_time(time)
        if at is not None:
            tokens.append(((at - start).total_seconds() * 1000, text))
    last = _parse_time(run.events[-1].get("time")) if run.events else None
    end = _utc(run.end_time) if run.end_time else last or start
    return tokens, (end - start).total_seconds() * 1000


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a LangSmith client sent with a run, as `extra.attachments` describes it."""

    name: str
    mime_type: str
    size: int | None
    sha256: str


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _attachments(run: Run) -> dict[str, Attachment]:
    """The run's attachments by name: only descriptions naming a file by its SHA-256, since
    that name is all that ever reaches the file system (`extra` is whatever a client sent)."""
    listed = run.extra.get("attachments")
    found = {}
    for name, described in listed.items() if isinstance(listed, dict) else ():
        digest = described.get("sha256") if isinstance(described, dict) else None
        if isinstance(digest, str) and _SHA256.fullmatch(digest):
            size = described.get("size")
            mime_type = described.get("mime_type")
            found[str(name)] = Attachment(
                str(name),
                mime_type if isinstance(mime_type, str) and mime_type else "application/octet-stream",
                size if isinstance(size, int) else None,
                digest,
            )
    return found


def _panel_context(store: Any, run: Run, *, next_url: str | None = None) -> dict[str, Any]:
    """What `_run_panel.html` shows of a run."""
    tokens, span_ms = _timeline(run)
    ttft = (_utc(run.first_token_time) - _utc(run.start_time)).total_seconds() * 1000 if run.first_token_time else None
    runtime = run.extra.get("runtime") if isinstance(run.extra.get("runtime"), dict) else {}
    return {
        "run": run,
        "latency_ms": run.latency * 1000 if run.latency is not None else None,
        "ttft_ms": ttft,
        "conversation": conversation(run.run_type, run.inputs, run.outputs, run.events),
        "timeline": token_timeline(tokens, span_ms) if tokens else None,
        "token_count": len(tokens),
        "params_json": pretty_json(run.invocation_params) if run.invocation_params else "",
        "metadata_json": pretty_json(run.metadata) if run.metadata else "",
        "runtime": runtime,
        "attachments": list(_attachments(run).values()),
        "raw_json": pretty_json(run.model_dump(mode="json")),
        "feedback": browse.run_feedback(store, str(run.id)),
        "feedback_next": next_url or f"/runs/{run.id}",
    }


@bp.get("/runs/<run_id>")
def run(run_id: str) -> str:
    store = get_store()
    detail = browse.run_detail(store, run_id)
    # Arguments are the runs table's filter (its rows link here with it): j/k walk that list.
    f = _run_filter(detail.project, request.args) if request.args else None
    previous, following = browse.run_neighbors(store, str(detail.id), f)
    query = {key: value for key, value in f.to_query().items() if key != "cursor"} if f is not None else {}
    carried = "?" + urlencode(query) if query else ""
    return render_template(
        "run.html",
        current_project=detail.project,
        prev_url=f"/runs/{previous}{carried}" if previous else None,
        next_url=f"/runs/{following}{carried}" if following else None,
        **_panel_context(store, detail),
    )


@bp.get("/runs/<run_id>/panel")
def run_panel(run_id: str) -> Response:
    store = get_store()
    detail = browse.run_detail(store, run_id)
    html = render_template("_run_panel.html", fragment=True, **_panel_context(store, detail, next_url=f"/traces/{detail.trace_id}?run={detail.id}"))
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/runs/<run_id>/attachments/<path:name>")
def attachment(run_id: str, name: str) -> Response:
    """One of the run's attachments, always as a download (never shown in the viewer's
    origin, whatever type the client claimed; nosniff is on every response)."""
    found = _attachments(browse.run_detail(get_store(), run_id)).get(name)
    path = attachment_file(current_app.config, found.sha256) if found is not None else None
    if path is None or not path.is_file():
        raise NotFound(f"The run has no attachment named {name[:80]!r}.")
    return send_file(path, mimetype=found.mime_type, as_attachment=True, download_name=name, max_age=0)


# -- compare --------------------------------------------------------------------------------


@dataclass
class DiffLine:
    kind: str  # "same", "added", "removed"
    text: str


def line_diff(before: str, after: str) -> list[DiffLine]:
    """`after` against `before`, line by line: what stayed, what was removed, what was added."""
    a, b = before.splitlines(), after.splitlines()
    lines: list[DiffLine] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            lines.extend(DiffLine("same", line) for line in a[i1:i2])
            continue
        lines.extend(DiffLine("removed", line) for line in a[i1:i2])
        lines.extend(DiffLine("added", line) for line in b[j1:j2])
    return lines


@bp.get("/compare")
def compare() -> str:
    ids = list(dict.fromkeys(value.strip() for value in request.args.getlist("run") if value.strip()))
    if len(ids) < 2:
        raise BadRequest("Pick at least two runs to compare (tick them in the runs table).")
    if len(ids) > MAX_COMPARED:
        raise BadRequest(f"Compare at most {MAX_COMPARED} runs at a time; {len(ids)} were picked.")
    store = get_store()
    runs_ = [browse.run_detail(store, run_id) for run_id in ids]
    texts = [reply_text(r.run_type, r.outputs) for r in runs_]
    columns = []
    for index, r in enumerate(runs_):
        columns.append(
            {
                "run": r,
                "latency_ms": r.latency * 1000 if r.latency is not None else None,
                "conversation": conversation(r.run_type, r.inputs, r.outputs),
                "output": texts[index],
                "diff": line_diff(texts[0], texts[index]) if index else None,
                "feedback": browse.run_feedback(store, str(r.id)),
            }
        )
    keys = sorted({key for r in runs_ for key in r.invocation_params})
    params = [
        (key, [pretty_json(r.invocation_params[key]) if key in r.invocation_params else None for r in runs_])
        for key in keys
    ]
    params = [(key, values, len({str(v) for v in values}) > 1) for key, values in params]
    projects_ = {r.project for r in runs_}
    return render_template(
        "compare.html",
        columns=columns,
        params=params,
        current_project=next(iter(projects_)) if len(projects_) == 1 else None,
    )
