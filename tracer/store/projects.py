"""Projects as records: found by id or name, created, renamed, described, deleted with their runs.

The background writer creates a project the first time a run names it (`writes.py`); these are
the other ways a project comes and goes, for faces that manage projects themselves (LangSmith's
`/sessions`, whose clients choose a project's id). A project's `metadata` column holds a JSON
object. Deleting a project deletes its runs, their op logs and search rows (foreign-key
cascades) and the feedback on those runs (which has no foreign key: it may precede its run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .._ids import uuid7
from .._json import dumps, loads
from .browse_common import canonical_id, utc
from .errors import NotFound, StoreError
from .tables import feedback, projects, runs

if TYPE_CHECKING:
    from .store import Store

__all__ = ["ProjectRecord", "ProjectExists", "find_projects", "read_project", "create_project", "update_project", "delete_project"]

_UNSET: Any = object()


class ProjectExists(ValueError):
    """A project with that name (or id) is already stored."""


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """A project's own row, without the figures of its runs (`browse.project_summaries`)."""

    id: str
    name: str
    description: str | None
    created_at: datetime
    metadata: dict[str, Any]


def _record(row: Any) -> ProjectRecord:
    metadata = loads(row.metadata) if row.metadata else {}
    return ProjectRecord(row.id, row.name, row.description, utc(row.created_at), metadata if isinstance(metadata, dict) else {})  # type: ignore[arg-type]


def _failed(exc: SQLAlchemyError, doing: str) -> StoreError:
    return StoreError(f"Could not {doing}: {getattr(exc, 'orig', None) or exc}")


def find_projects(
    store: Store, *, ids: Sequence[str | UUID] | None = None, names: Sequence[str] | None = None, name_contains: str | None = None
) -> list[ProjectRecord]:
    """The projects with one of `ids` and one of `names`, whose name contains `name_contains`
    (each when given), newest first."""
    statement = select(*projects.c).order_by(projects.c.created_at.desc(), projects.c.id.desc())
    if ids is not None:
        statement = statement.where(projects.c.id.in_([canonical_id(i, "project") for i in ids]))
    if names is not None:
        statement = statement.where(projects.c.name.in_(list(names)))
    if name_contains:
        statement = statement.where(projects.c.name.contains(name_contains, autoescape=True))
    try:
        with store.engines.reader.connect() as connection:
            return [_record(row) for row in connection.execute(statement)]
    except SQLAlchemyError as exc:
        raise _failed(exc, "read projects") from exc


def read_project(store: Store, project_id: str | UUID) -> ProjectRecord:
    """One project by id, or `NotFound`."""
    found = find_projects(store, ids=[project_id])
    if not found:
        raise NotFound(f"No project with id {project_id} in the store.")
    return found[0]


def _metadata(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else dumps(dict(value))


def create_project(
    store: Store,
    name: str,
    *,
    project_id: str | UUID | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    upsert: bool = False,
) -> ProjectRecord:
    """A new project (`ProjectExists` when the name or id is taken); with `upsert`, a taken
    name gives that project, its description and metadata replaced by those given."""
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name:
        raise ValueError("A project needs a name.")
    key = str(uuid7()) if project_id is None else canonical_id(project_id, "project")
    try:
        with store.engines.writer.begin() as connection:
            existing = connection.execute(select(projects.c.id).where(projects.c.name == name)).scalar()
            if existing is not None and not upsert:
                raise ProjectExists(f"A project named {name!r} already exists.")
            if existing is None:
                row = {"id": key, "name": name, "description": description, "metadata": _metadata(metadata)}
                connection.execute(projects.insert(), {**row, "created_at": datetime.now(timezone.utc)})
            else:
                changes = {"description": description, "metadata": _metadata(metadata)}
                given = {column: value for column, value in changes.items() if value is not None}
                if given:
                    connection.execute(update(projects).where(projects.c.id == existing).values(**given))
                key = existing
    except IntegrityError as exc:
        raise ProjectExists(f"A project with id {key} already exists.") from exc
    except SQLAlchemyError as exc:
        raise _failed(exc, "create the project") from exc
    return read_project(store, key)


def update_project(
    store: Store,
    project_id: str | UUID,
    *,
    name: str | None = None,
    description: str | None = _UNSET,
    metadata: Mapping[str, Any] | None = _UNSET,
) -> ProjectRecord:
    """Rename a project (`ProjectExists` when the name is taken) and/or replace its description
    or metadata (None clears them); what is not given stays."""
    key = canonical_id(project_id, "project")
    changes: dict[str, Any] = {}
    if name is not None:
        if not name.strip():
            raise ValueError("A project needs a name.")
        changes["name"] = name.strip()
    if description is not _UNSET:
        changes["description"] = description
    if metadata is not _UNSET:
        changes["metadata"] = _metadata(metadata)
    try:
        with store.engines.writer.begin() as connection:
            if connection.execute(select(projects.c.id).where(projects.c.id == key)).first() is None:
                raise NotFound(f"No project with id {key} in the store.")
            taken = "name" in changes and connection.execute(
                select(projects.c.id).where(projects.c.name == changes["name"], projects.c.id != key)
            ).first()
            if taken:
                raise ProjectExists(f"A project named {changes['name']!r} already exists.")
            if changes:
                connection.execute(update(projects).where(projects.c.id == key).values(**changes))
    except SQLAlchemyError as exc:
        raise _failed(exc, "change the project") from exc
    return read_project(store, key)


def delete_project(store: Store, project_id: str | UUID) -> None:
    """Delete a project, its runs and the feedback on them (`NotFound` for an unknown id)."""
    key = canonical_id(project_id, "project")
    its_runs = select(runs.c.id).where(runs.c.project_id == key)
    try:
        with store.engines.writer.begin() as connection:
            connection.execute(delete(feedback).where(feedback.c.run_id.in_(its_runs)))
            if connection.execute(delete(projects).where(projects.c.id == key)).rowcount == 0:
                raise NotFound(f"No project with id {key} in the store.")
    except SQLAlchemyError as exc:
        raise _failed(exc, "delete the project") from exc
