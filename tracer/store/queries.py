"""Reading the store: projects, runs, and a run's history replayed from its op log.

Runs come back from their stored document (`runs.doc`); the other `runs` columns exist only to
filter and sort, and each filter here has an index that starts with it (see `tables.py`). Every
function takes the engine to read with, so the `Store` façade, the client and the viewer share
them; reads never take SQLite's write lock.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.exc import SQLAlchemyError

from .._json import loads
from ..log import apply_ops
from ..schemas import Project, Run
from .errors import NotFound, StoreError
from .tables import projects, run_log, runs

__all__ = ["list_projects", "list_runs", "count_runs", "read_run", "read_doc", "replay_run"]


def _run_id(run_id: str | UUID) -> str:
    """The canonical text of a run id (how it is stored), or `NotFound` for what is not one."""
    try:
        return str(run_id if isinstance(run_id, UUID) else UUID(str(run_id)))
    except ValueError:
        raise NotFound(f"No run with id {run_id!r}: that is not a UUID.") from None


def _fetch(engine: Engine, statement: Select[Any]) -> list[Any]:
    try:
        with engine.connect() as connection:
            return list(connection.execute(statement))
    except SQLAlchemyError as exc:
        raise StoreError(f"Could not read the store: {getattr(exc, 'orig', None) or exc}") from exc


def _project_id(name: str) -> Any:
    return select(projects.c.id).where(projects.c.name == name).scalar_subquery()


def list_projects(engine: Engine) -> list[Project]:
    """Every project with its run count and latest run, most recently active first."""
    figures = (
        select(
            runs.c.project_id,
            func.count().label("run_count"),
            func.max(runs.c.start_time).label("last_run_time"),
        )
        .group_by(runs.c.project_id)
        .subquery()
    )
    statement = (
        select(
            projects.c.id,
            projects.c.name,
            projects.c.description,
            projects.c.created_at,
            func.coalesce(figures.c.run_count, 0),
            figures.c.last_run_time,
        )
        .select_from(projects.outerjoin(figures, figures.c.project_id == projects.c.id))
        .order_by(figures.c.last_run_time.desc().nulls_last(), projects.c.name)
    )
    return [
        Project(
            id=row[0],
            name=row[1],
            description=row[2],
            created_at=row[3],
            run_count=row[4],
            last_run_time=row[5],
        )
        for row in _fetch(engine, statement)
    ]


def list_runs(
    engine: Engine,
    *,
    project_name: str | None = None,
    run_type: str | None = None,
    status: str | None = None,
    trace_id: str | UUID | None = None,
    parent_run_id: str | UUID | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Run]:
    """Runs matching every filter given, newest first (ties broken by id)."""
    statement = select(runs.c.doc, projects.c.name).join(projects, projects.c.id == runs.c.project_id)
    if project_name is not None:
        # A scalar subquery, so the planner reads (project_id, [type|status,] start_time) backwards.
        statement = statement.where(runs.c.project_id == _project_id(project_name))
    if run_type is not None:
        statement = statement.where(runs.c.run_type == run_type)
    if status is not None:
        statement = statement.where(runs.c.status == status)
    if trace_id is not None:
        statement = statement.where(runs.c.trace_id == str(trace_id))
    if parent_run_id is not None:
        statement = statement.where(runs.c.parent_run_id == str(parent_run_id))
    statement = statement.order_by(runs.c.start_time.desc(), runs.c.id.desc()).limit(limit).offset(offset)
    return [Run.from_doc(loads(doc), project=name) for doc, name in _fetch(engine, statement)]


def count_runs(engine: Engine, project_name: str | None = None) -> int:
    """How many runs the store holds (in one project, when named)."""
    statement = select(func.count()).select_from(runs)
    if project_name is not None:
        statement = statement.where(runs.c.project_id == _project_id(project_name))
    return int(_fetch(engine, statement)[0][0])


def read_doc(engine: Engine, run_id: str | UUID) -> dict[str, Any]:
    """The stored JSON document of a run, exactly as the writer last wrote it."""
    key = _run_id(run_id)
    rows = _fetch(engine, select(runs.c.doc).where(runs.c.id == key))
    if not rows:
        raise NotFound(f"No run with id {key} in the store.")
    doc: dict[str, Any] = loads(rows[0][0])
    return doc


def read_run(engine: Engine, run_id: str | UUID) -> Run:
    """One run, or `NotFound`."""
    key = _run_id(run_id)
    statement = (
        select(runs.c.doc, projects.c.name).join(projects, projects.c.id == runs.c.project_id).where(runs.c.id == key)
    )
    rows = _fetch(engine, statement)
    if not rows:
        raise NotFound(f"No run with id {key} in the store.")
    doc, project = rows[0]
    return Run.from_doc(loads(doc), project=project)


def replay_run(engine: Engine, run_id: str | UUID) -> dict[str, Any]:
    """A run's document rebuilt from scratch by applying every logged op in order."""
    key = _run_id(run_id)
    rows = _fetch(engine, select(run_log.c.seq, run_log.c.ops).where(run_log.c.run_id == key).order_by(run_log.c.seq))
    if not rows:
        raise NotFound(f"No run with id {key} in the store.")
    seqs = [seq for seq, _ in rows]
    if seqs != list(range(len(seqs))):
        raise StoreError(f"The op log of run {key} is incomplete (changes {seqs}); it cannot be replayed.")
    ops: list[dict[str, Any]] = []
    for _, text in rows:
        ops.extend(loads(text))
    doc: dict[str, Any] = apply_ops(None, ops)
    return doc
