"""The figures of projects: counts, error rate, latency percentiles, usage, feedback, over time.

What each figure counts:

- `run_count`: every run; `root_count`: root runs (traces).
- `error_rate`, and `runs` / `errors` of a series point: root runs, and those that failed
  (a trace fails when its root does).
- Latency percentiles: of finished root runs (what a user waited for), nearest-rank: p is the
  value at rank ceil(p/100 * n) of the n latencies in ascending order.
- Tokens and cost: summed over every run that has them (the tracer records them on model
  calls only, so nothing is counted twice).
- Feedback: the average score of each key, over the project's feedback that has a score. Over
  time (`feedback_series`), feedback counts in the bucket of its run's start, so a chart of
  feedback lines up with the charts of the runs it judges.

Every figure is read from an index, never from the rows (whose documents are kilobytes): counts
and sums scan one index range; a percentile is one `ORDER BY latency_ms LIMIT 1 OFFSET k` on
`ix_runs_project_latency` (from the top for p > 50, so p95 reads 5% of the range). A project of
a million runs costs a few index scans of a million entries, in SQLite's C, not in Python.
A series point is the same queries over a time bucket (`ix_runs_roots` and the usage index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from .browse_common import failed, project_id, read, utc
from .tables import feedback, projects, runs

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "ProjectSummary",
    "SeriesPoint",
    "FeedbackPoint",
    "project_summaries",
    "project_series",
    "feedback_series",
    "percentile_rank",
]


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    id: str
    name: str
    description: str | None
    run_count: int
    root_count: int
    error_count: int
    #: Failed root runs / root runs; None without root runs.
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    #: None when no run has a known cost: unknown must not read as free.
    cost: float | None
    #: Feedback key -> average score.
    feedback: dict[str, float] = field(default_factory=dict)
    last_run_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    #: The bucket is [start, start + width).
    start: datetime
    runs: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    tokens: int
    cost: float


@dataclass(frozen=True, slots=True)
class FeedbackPoint:
    """One key's feedback on the runs started in [start, start + width)."""

    start: datetime
    count: int
    #: Of the feedback with a score; None when none has one.
    average: float | None


def percentile_rank(p: float, n: int) -> int:
    """The 0-based index of the nearest-rank p-th percentile among n sorted values."""
    return max(0, math.ceil(p / 100 * n) - 1)


_ROOT = runs.c.parent_run_id.is_(None)


def _percentiles(
    connection: Connection, where: list[Any], n: int, *, by_index: bool = True
) -> tuple[float | None, float | None]:
    """p50 and p95 of the root latencies selected by `where` (n of them). `by_index`: read them
    in the latency index's order (a whole project); else sort the few selected (a time bucket:
    the latency index knows no times, reading it in order would visit the whole project)."""
    if n == 0:
        return None, None
    values = []
    latency = runs.c.latency_ms if by_index else runs.c.latency_ms + 0  # `+ 0`: not the index's order
    for p in (50, 95):
        rank = percentile_rank(p, n)
        base = select(runs.c.latency_ms).where(*where, _ROOT, runs.c.latency_ms.is_not(None))
        if rank < n / 2:
            statement = base.order_by(latency).limit(1).offset(rank)
        else:  # Count from the top: p95 reads 5% of the index range, not 95%.
            statement = base.order_by(latency.desc()).limit(1).offset(n - 1 - rank)
        values.append(connection.execute(statement).scalar())
    return values[0], values[1]


def _summary(connection: Connection, project: Any, averages: dict[str, float]) -> ProjectSummary:
    in_project = runs.c.project_id == project.id
    count, prompt, completion, total, cost = connection.execute(
        select(
            func.count(),
            func.sum(runs.c.prompt_tokens),
            func.sum(runs.c.completion_tokens),
            func.sum(runs.c.total_tokens),
            func.sum(runs.c.cost),
        ).where(in_project)
    ).one()
    roots, errors, finished = connection.execute(
        select(
            func.count(),
            func.count().filter(runs.c.status == "error"),
            func.count(runs.c.latency_ms),
        ).where(in_project, _ROOT)
    ).one()
    p50, p95 = _percentiles(connection, [in_project], finished)
    last = connection.execute(select(func.max(runs.c.start_time)).where(in_project)).scalar()
    return ProjectSummary(
        id=project.id,
        name=project.name,
        description=project.description,
        run_count=count,
        root_count=roots,
        error_count=errors,
        error_rate=errors / roots if roots else None,
        p50_ms=p50,
        p95_ms=p95,
        prompt_tokens=prompt or 0,
        completion_tokens=completion or 0,
        total_tokens=total or 0,
        cost=cost,
        feedback=averages,
        last_run_time=utc(last),
    )


def _feedback_averages(connection: Connection) -> dict[str, dict[str, float]]:
    statement = (
        select(runs.c.project_id, feedback.c.key, func.avg(feedback.c.score))
        .join(runs, runs.c.id == feedback.c.run_id)
        .where(feedback.c.score.is_not(None))
        .group_by(runs.c.project_id, feedback.c.key)
        .order_by(feedback.c.key)
    )
    averages: dict[str, dict[str, float]] = {}
    for project_id, key, average in connection.execute(statement):
        averages.setdefault(project_id, {})[key] = float(average)
    return averages


def project_summaries(store: Store) -> list[ProjectSummary]:
    """Every project with its figures, most recently active first (then by name)."""
    try:
        with read(store) as connection:
            averages = _feedback_averages(connection)
            listed = connection.execute(select(projects.c.id, projects.c.name, projects.c.description)).all()
            summaries = [_summary(connection, project, averages.get(project.id, {})) for project in listed]
    except SQLAlchemyError as exc:
        raise failed(exc) from exc
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    summaries.sort(key=lambda s: s.name)
    summaries.sort(key=lambda s: s.last_run_time or oldest, reverse=True)
    return summaries


def _check_buckets(buckets: int) -> None:
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 1 <= buckets <= 1000:
        raise ValueError(f"buckets must be a whole number from 1 to 1000, not {buckets!r}.")


def _span(connection: Connection, in_project: Any, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime] | None:
    """[since, until), by default from the project's first run to its last; None: no runs."""
    if since is None or until is None:
        first, last = connection.execute(select(func.min(runs.c.start_time), func.max(runs.c.start_time)).where(in_project)).one()
        if first is None:
            return None
        since = since or utc(first)
        until = until or utc(last) + timedelta(microseconds=1)  # type: ignore[operator]
    since, until = utc(since), utc(until)
    assert since is not None and until is not None
    if since >= until:
        raise ValueError("since must be earlier than until.")
    return since, until


def project_series(
    store: Store, project: str, *, since: datetime | None = None, until: datetime | None = None, buckets: int = 48
) -> list[SeriesPoint]:
    """The project's figures in `buckets` equal time buckets from `since` to `until` (by run
    start; by default from its first run to its last). `NotFound` for an unknown project."""
    _check_buckets(buckets)
    try:
        with read(store) as connection:
            in_project = runs.c.project_id == project_id(connection, project)
            span = _span(connection, in_project, since, until)
            if span is None:
                return []
            since, until = span
            width = (until - since) / buckets
            return [
                _point(connection, in_project, since + width * i, since + width * (i + 1) if i < buckets - 1 else until)
                for i in range(buckets)
            ]
    except SQLAlchemyError as exc:
        raise failed(exc) from exc


def feedback_series(
    store: Store, project: str, *, since: datetime | None = None, until: datetime | None = None, buckets: int = 48
) -> dict[str, list[FeedbackPoint]]:
    """Each feedback key's count and average score in `buckets` equal time buckets of its runs'
    start (as `project_series`), keys most used first. Read from the feedback side (feedback is
    sparse beside runs) and bucketed here, which is the same SQL on every database."""
    _check_buckets(buckets)
    try:
        with read(store) as connection:
            in_project = runs.c.project_id == project_id(connection, project)
            span = _span(connection, in_project, since, until)
            if span is None:
                return {}
            since, until = span
            rows = connection.execute(
                select(feedback.c.key, runs.c.start_time, feedback.c.score)
                .join(runs, runs.c.id == feedback.c.run_id)
                .where(in_project, runs.c.start_time >= since, runs.c.start_time < until)
            ).all()
    except SQLAlchemyError as exc:
        raise failed(exc) from exc
    width = (until - since) / buckets
    counts: dict[str, list[int]] = {}
    scored: dict[str, list[int]] = {}
    totals: dict[str, list[float]] = {}
    for key, start_time, score in rows:
        i = min(int((utc(start_time) - since) / width), buckets - 1)  # type: ignore[operator]
        counts.setdefault(key, [0] * buckets)[i] += 1
        if score is not None:
            scored.setdefault(key, [0] * buckets)[i] += 1
            totals.setdefault(key, [0.0] * buckets)[i] += score
    series: dict[str, list[FeedbackPoint]] = {}
    for key in sorted(counts, key=lambda key: (-sum(counts[key]), key)):
        n, total = scored.get(key, [0] * buckets), totals.get(key, [0.0] * buckets)
        series[key] = [FeedbackPoint(since + width * i, counts[key][i], total[i] / n[i] if n[i] else None) for i in range(buckets)]
    return series


def _point(connection: Connection, in_project: Any, start: datetime, end: datetime) -> SeriesPoint:
    in_bucket = [in_project, runs.c.start_time >= start, runs.c.start_time < end]
    roots, errors, finished = connection.execute(
        select(func.count(), func.count().filter(runs.c.status == "error"), func.count(runs.c.latency_ms)).where(
            *in_bucket, _ROOT
        )
    ).one()
    tokens, cost = connection.execute(select(func.sum(runs.c.total_tokens), func.sum(runs.c.cost)).where(*in_bucket)).one()
    p50, p95 = _percentiles(connection, in_bucket, finished, by_index=False)
    return SeriesPoint(start, roots, errors, p50, p95, tokens or 0, cost or 0.0)
