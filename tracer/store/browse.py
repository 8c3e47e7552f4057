"""What the viewer reads: pages of runs, a trace's tree, a run, its feedback, the live op log.

Every function takes the `Store` and reads through `store.engines.reader` (feedback is written
by `tracer.datasets.create_feedback`). Lists never load run documents: rows are built
from the `runs` columns, and each query is shaped for an index of `tables.py`.

Pages use keyset pagination: a page asks for the rows after the previous page's last row in
the list's order, never for an OFFSET, so the thousandth page costs what the first does, and
rows written meanwhile neither repeat nor vanish from the pages that follow. The order is the
sort key then the run id (in the same direction), which makes it total. Runs without a value
for the sort key (latency of a running run, tokens or cost of a chain) come after all the
others, newest first (oldest first when ascending): a list is two segments, and a position in
it (`Position`) is (segment, key, id); the cursor is that position, encoded
(`browse_filters.py`).

Search on SQLite uses the FTS5 index (`search.py`): when a query matches few runs (up to
`_FEW_MATCHES`), their ids are fetched first and the page is read among them; otherwise the
list is read in order and each run is checked against the set of matches. On PostgreSQL the
words are matched with ILIKE over `runs.doc` (slower, and it also sees JSON keys).

The public surface is this module; the figures (`project_summaries`, `project_series`, `feedback_series`) live in
`browse_stats.py`, feedback in `browse_feedback.py`, the live log in `browse_log.py`, the filter
and its cursor in `browse_filters.py`, and all are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, and_, literal_column, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from .._json import dumps, loads
from ..filters import parse_filter, to_sqlalchemy
from ..schemas import Run
from . import queries
from .browse_common import canonical_id, failed, project_id, read, unindexed, utc
from .browse_feedback import Feedback, run_feedback
from .browse_filters import Position, RunFilter, encode_cursor
from .browse_log import LogRow, log_position, log_since
from .browse_stats import FeedbackPoint, ProjectSummary, SeriesPoint, feedback_series, project_series, project_summaries
from .errors import NotFound
from .search import FTS_TABLE, TEXT_TABLE, fts_query, has_fts, search_terms
from .store import Store
from .tables import feedback, projects, runs

__all__ = [
    "RunFilter",
    "Position",
    "RunRow",
    "RunPage",
    "TraceRow",
    "Feedback",
    "LogRow",
    "ProjectSummary",
    "SeriesPoint",
    "project_summaries",
    "project_series",
    "FeedbackPoint",
    "feedback_series",
    "list_run_rows",
    "trace_rows",
    "run_detail",
    "matching_run_ids",
    "matching_runs",
    "WholeRunPage",
    "list_whole_runs",
    "run_neighbors",
    "run_feedback",
    "log_since",
    "log_position",
]

#: A search matching at most this many runs reads the page among them (else: in list order).
_FEW_MATCHES = 5_000


# -- runs table ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of the runs table: the run's columns, never its document."""

    id: str
    trace_id: str
    parent_run_id: str | None
    name: str
    run_type: str
    status: str
    start_time: datetime
    end_time: datetime | None
    latency_ms: float | None
    first_token_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost: float | None
    model_name: str | None
    tags: list[str]
    #: The first characters of the error (the run page has all of it).
    error: str | None
    #: (key, score) of each feedback on the run, oldest first.
    feedback: list[tuple[str, float | None]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The row as JSON-ready values (times in ISO 8601), e.g. for a live update."""
        data = asdict(self)
        for name in ("start_time", "end_time"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        data["feedback"] = [list(item) for item in self.feedback]
        return data


@dataclass(frozen=True, slots=True)
class RunPage:
    rows: list[RunRow]
    #: The cursor of the next page (`RunFilter(cursor=...)`); None on the last page.
    next_cursor: str | None


_ROW_COLUMNS = (
    runs.c.id,
    runs.c.trace_id,
    runs.c.parent_run_id,
    runs.c.name,
    runs.c.run_type,
    runs.c.status,
    runs.c.start_time,
    runs.c.end_time,
    runs.c.latency_ms,
    runs.c.first_token_ms,
    runs.c.prompt_tokens,
    runs.c.completion_tokens,
    runs.c.total_tokens,
    runs.c.cost,
    runs.c.model_name,
    runs.c.tags,
    runs.c.error,
)
_SORT_COLUMNS = {"start": runs.c.start_time, "latency": runs.c.latency_ms, "tokens": runs.c.total_tokens, "cost": runs.c.cost}


@dataclass
class _Selection:
    """A filter as SQL: WHERE terms, and maybe the ids the rows must be among (the few runs a
    search or a feedback filter matched)."""

    terms: list[ColumnElement[bool]]
    ids: list[str] | None = None


def _select(connection: Connection, f: RunFilter) -> _Selection | None:
    """The selection of a filter (without the cursor); None when nothing can match."""
    id_sets: list[list[str]] = []
    terms: list[ColumnElement[bool]] = []
    if f.feedback_key is not None:
        scored = select(feedback.c.run_id).where(feedback.c.key == f.feedback_key)
        if f.feedback_min is not None:
            scored = scored.where(feedback.c.score >= f.feedback_min)
        if f.feedback_max is not None:
            scored = scored.where(feedback.c.score <= f.feedback_max)
        few = connection.execute(scored.distinct().limit(_FEW_MATCHES + 1)).scalars().all()
        if len(few) <= _FEW_MATCHES:
            id_sets.append(list(few))
        else:
            terms.append(runs.c.id.in_(scored))
    if f.search is not None and search_terms(f.search):
        found, term = _search(connection, f.search)
        if found is not None:
            id_sets.append(found)
        else:
            terms.append(term)  # type: ignore[arg-type]
    ids = sorted(set(id_sets[0]).intersection(*id_sets[1:])) if id_sets else None
    if ids is not None and not ids:
        return None
    c = unindexed if ids is not None else (lambda column: column)
    if f.project is not None:
        terms.append(c(runs.c.project_id) == project_id(connection, f.project))
    if f.scope == "root":
        terms.append(c(runs.c.parent_run_id).is_(None))  # as written in ix_runs_roots' WHERE
    elif f.scope == "llm":
        terms.append(c(runs.c.run_type) == "llm")
    if f.run_type is not None:
        terms.append(c(runs.c.run_type) == f.run_type)
    if f.status == "error":
        terms.append(c(runs.c.status) == literal_column("'error'"))  # a literal: ix_runs_errors' WHERE
    elif f.status is not None:
        terms.append(c(runs.c.status) == f.status)
    if f.model is not None:
        terms.extend((c(runs.c.model_name).is_not(None), c(runs.c.model_name) == f.model))
    if f.tag is not None:
        terms.append(runs.c.tags.like(f"%{_escape_like(dumps(f.tag))}%", escape="\\"))
    if f.since is not None:
        terms.append(c(runs.c.start_time) >= f.since)
    if f.until is not None:
        terms.append(c(runs.c.start_time) < f.until)
    if f.min_latency_ms is not None:
        terms.append(c(runs.c.latency_ms) >= f.min_latency_ms)
    if f.filter is not None:
        terms.append(to_sqlalchemy(parse_filter(f.filter), dialect_name=connection.dialect.name))
    return _Selection(terms, ids)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(connection: Connection, query: str) -> tuple[list[str] | None, ColumnElement[bool] | None]:
    """The ids of the runs matching `query` when they are few, else a term selecting them."""
    if not has_fts(connection):
        words = [word for word, _prefix in search_terms(query)]
        return None, and_(*(runs.c.doc.ilike(f"%{_escape_like(word)}%", escape="\\") for word in words))
    match = fts_query(query)
    few = connection.exec_driver_sql(
        f"SELECT t.run_id FROM {FTS_TABLE} CROSS JOIN {TEXT_TABLE} t ON t.id = {FTS_TABLE}.rowid "
        f"WHERE {FTS_TABLE} MATCH ? LIMIT ?",
        (match, _FEW_MATCHES + 1),
    ).scalars().all()
    if len(few) <= _FEW_MATCHES:
        return list(few), None
    # Many matches: read the list in its order and check each run against the set of matching
    # index rowids, which SQLite builds once per query.
    return None, text(
        f"EXISTS (SELECT 1 FROM {TEXT_TABLE} t WHERE t.run_id = runs.id AND t.id IN "
        f"(SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :search_match))"
    ).bindparams(search_match=match)


def _segment_query(f: RunFilter, chosen: _Selection, segment: int, after: Position | None, forward: bool, limit: int) -> Any:
    """Rows of one segment of the list, after `after` (in list order if `forward`, else in
    reverse), at most `limit`."""
    sort_column = _SORT_COLUMNS[f.sort]
    key = sort_column if segment == 0 else runs.c.start_time
    where = list(chosen.terms)
    if chosen.ids is not None:
        where.append(runs.c.id.in_(chosen.ids))
        sort_column, key = unindexed(sort_column), unindexed(key)
    if f.sort != "start":
        where.append(sort_column.is_not(None) if segment == 0 else sort_column.is_(None))
    descending = (f.direction == "desc") == forward
    if after is not None and after.segment == segment:
        if descending:
            where.append(and_(key <= after.key, or_(key < after.key, runs.c.id < after.id)))
        else:
            where.append(and_(key >= after.key, or_(key > after.key, runs.c.id > after.id)))
    order = (key.desc(), runs.c.id.desc()) if descending else (key.asc(), runs.c.id.asc())
    return select(*_ROW_COLUMNS).where(*where).order_by(*order).limit(limit)


def _walk(
    connection: Connection, f: RunFilter, chosen: _Selection, after: Position | None, forward: bool, limit: int
) -> list[tuple[Position, Any]]:
    """Up to `limit` rows with their positions, from `after` (exclusive) on, in list order if
    `forward`, else backwards."""
    segments = [0] if f.sort == "start" else [0, 1]
    if not forward:
        segments.reverse()
    if after is not None:
        segments = segments[segments.index(after.segment) :]
    found: list[tuple[Position, Any]] = []
    for segment in segments:
        statement = _segment_query(f, chosen, segment, after, forward, limit - len(found))
        for row in connection.execute(statement):
            value = row.start_time if segment == 1 or f.sort == "start" else row._mapping[_SORT_COLUMNS[f.sort].name]
            found.append((Position(segment, utc(value) if isinstance(value, datetime) else value, row.id), row))
        if len(found) >= limit:
            break
    return found


def _feedback_of(connection: Connection, run_ids: Sequence[str]) -> dict[str, list[tuple[str, float | None]]]:
    scores: dict[str, list[tuple[str, float | None]]] = {}
    if run_ids:
        statement = (
            select(feedback.c.run_id, feedback.c.key, feedback.c.score)
            .where(feedback.c.run_id.in_(list(run_ids)))
            .order_by(feedback.c.created_at, feedback.c.id)
        )
        for run_id, key, score in connection.execute(statement):
            scores.setdefault(run_id, []).append((key, score))
    return scores


def _run_row(row: Any, scores: dict[str, list[tuple[str, float | None]]]) -> RunRow:
    return RunRow(
        id=row.id,
        trace_id=row.trace_id,
        parent_run_id=row.parent_run_id,
        name=row.name,
        run_type=row.run_type,
        status=row.status,
        start_time=utc(row.start_time),  # type: ignore[arg-type]
        end_time=utc(row.end_time),
        latency_ms=row.latency_ms,
        first_token_ms=row.first_token_ms,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        total_tokens=row.total_tokens,
        cost=row.cost,
        model_name=row.model_name,
        tags=loads(row.tags) if row.tags else [],
        error=row.error,
        feedback=scores.get(row.id, []),
    )


def list_run_rows(store: Store, f: RunFilter) -> RunPage:
    """One page of the runs table; `NotFound` for an unknown project, `ValueError` for a
    cursor that is not one of this list's."""
    after = f.position()
    try:
        with read(store) as connection:
            chosen = _select(connection, f)
            if chosen is None:
                return RunPage([], None)
            found = _walk(connection, f, chosen, after, True, f.limit + 1)
            page = found[: f.limit]
            scores = _feedback_of(connection, [row.id for _, row in page])
    except SQLAlchemyError as exc:
        raise failed(exc) from exc
    next_cursor = encode_cursor(f.sort, f.direction, page[-1][0]) if len(found) > f.limit else None
    return RunPage([_run_row(row, scores) for _, row in page], next_cursor)


def run_neighbors(store: Store, run_id: str | UUID, f: RunFilter | None = None) -> tuple[str | None, str | None]:
    """The runs before and after this one: in the list of `f` (whose cursor is ignored), or,
    without a filter, among its project's traces for a root run and in its trace's tree order
    for a child run. `NotFound` if the run is not stored."""
    key = canonical_id(run_id)
    try:
        with read(store) as connection:
            statement = select(*_ROW_COLUMNS, runs.c.dotted_order, projects.c.name.label("project"))
            statement = statement.join(projects, projects.c.id == runs.c.project_id).where(runs.c.id == key)
            row = connection.execute(statement).first()
            if row is None:
                raise NotFound(f"No run with id {key} in the store.")
            if f is None and row.parent_run_id is not None:
                return _tree_neighbors(connection, row.trace_id, row.dotted_order)
            if f is None:
                f = RunFilter(project=row.project, scope="root")
            chosen = _select(connection, f)
            if chosen is None:
                return None, None
            value = row._mapping[_SORT_COLUMNS[f.sort].name]
            if f.sort == "start" or value is not None:
                here = Position(0, utc(value) if isinstance(value, datetime) else value, key)
            else:
                here = Position(1, utc(row.start_time), key)
            before = _walk(connection, f, chosen, here, False, 1)
            after = _walk(connection, f, chosen, here, True, 1)
    except SQLAlchemyError as exc:
        raise failed(exc) from exc
    return (before[0][1].id if before else None), (after[0][1].id if after else None)


def _tree_neighbors(connection: Connection, trace_id: str, dotted_order: str) -> tuple[str | None, str | None]:
    in_trace = runs.c.trace_id == trace_id
    before = select(runs.c.id).where(in_trace, runs.c.dotted_order < dotted_order)
    after = select(runs.c.id).where(in_trace, runs.c.dotted_order > dotted_order)
    previous = connection.execute(before.order_by(runs.c.dotted_order.desc()).limit(1)).scalar()
    following = connection.execute(after.order_by(runs.c.dotted_order).limit(1)).scalar()
    return previous, following


# -- traces and runs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One node of a trace's tree, without its document."""

    id: str
    parent_run_id: str | None
    name: str
    run_type: str
    status: str
    start_time: datetime
    end_time: datetime | None
    latency_ms: float | None
    #: 0 for the root, 1 for its children...: from the run's dotted order.
    depth: int
    total_tokens: int | None
    #: Whether the run failed.
    error: bool


def trace_rows(store: Store, trace_id: str | UUID) -> list[TraceRow]:
    """Every run of a trace, parents before children, siblings by start time; `NotFound` for
    a trace with no stored run."""
    key = canonical_id(trace_id, "trace")
    statement = (
        select(
            runs.c.id,
            runs.c.parent_run_id,
            runs.c.name,
            runs.c.run_type,
            runs.c.status,
            runs.c.start_time,
            runs.c.end_time,
            runs.c.latency_ms,
            runs.c.dotted_order,
            runs.c.total_tokens,
            runs.c.error.is_not(None),
        )
        .where(runs.c.trace_id == key)
        .order_by(runs.c.dotted_order)
    )
    try:
        with read(store) as connection:
            rows = connection.execute(statement).all()
    except SQLAlchemyError as exc:
        raise failed(exc) from exc
    if not rows:
        raise NotFound(f"No trace with id {key} in the store.")
    return [
        TraceRow(
            id=run_id,
            parent_run_id=parent,
            name=name,
            run_type=run_type,
            status=status,
            start_time=utc(start),  # type: ignore[arg-type]
            end_time=utc(end),
            latency_ms=latency,
            depth=dotted.count("."),
            total_tokens=tokens,
            error=bool(failed) or status == "error",
        )
        for run_id, parent, name, run_type, status, start, end, latency, dotted, tokens, failed in rows
    ]


#: Rows read per query when walking every run of a filter.
_WALK_PAGE = 500


def matching_run_ids(store: Store, f: RunFilter) -> Iterator[str]:
    """Every run `f` selects, in its order, over all its pages (the cursor and limit of `f` are
    ignored): what "every run matching the table's filter" means for datasets and exports."""
    f = replace(f, limit=_WALK_PAGE, cursor=None)
    while True:
        page = list_run_rows(store, f)
        yield from (str(row.id) for row in page.rows)
        if page.next_cursor is None:
            return
        f = replace(f, cursor=page.next_cursor)


def matching_runs(store: Store, f: RunFilter) -> Iterator[Run]:
    """The runs of `matching_run_ids`, whole, read a page at a time."""
    ids = matching_run_ids(store, f)
    while batch := list(islice(ids, _WALK_PAGE)):
        yield from _whole_runs(store, batch)


@dataclass(frozen=True, slots=True)
class WholeRunPage:
    runs: list[Run]
    #: As `RunPage.next_cursor`: the pages of both are the same.
    next_cursor: str | None


def list_whole_runs(store: Store, f: RunFilter) -> WholeRunPage:
    """The page of `list_run_rows`, its runs whole: the documents are read in one query for
    the page, so a client listing runs needs no request per run."""
    page = list_run_rows(store, f)
    return WholeRunPage(_whole_runs(store, [row.id for row in page.rows]), page.next_cursor)


def _whole_runs(store: Store, ids: Sequence[str]) -> list[Run]:
    """The runs of `ids` from their documents, in that order, in one query (a run deleted
    since its id was read is left out)."""
    statement = (
        select(runs.c.id, runs.c.doc, projects.c.name)
        .join(projects, projects.c.id == runs.c.project_id)
        .where(runs.c.id.in_(list(ids)))
    )
    try:
        with read(store) as connection:
            found = {row.id: Run.from_doc(loads(row.doc), project=row.name) for row in connection.execute(statement)}
    except SQLAlchemyError as exc:
        raise failed(exc) from exc
    return [found[run_id] for run_id in ids if run_id in found]


def run_detail(store: Store, run_id: str | UUID) -> Run:
    """The whole run, from its document; `NotFound` if it is not stored."""
    return queries.read_run(store.engines.reader, run_id)
