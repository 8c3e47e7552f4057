"""Feedback read back from the store, as `schemas.Feedback`: the viewer's and every other face's.

Rows follow LangSmith's feedback schema (`tables.feedback`): `value`, `correction` and `source`
are JSON. `source` is stored as `{"type": "sdk" | "api" | "ui", "author": ...}` and read back flat,
as the model's `source` and `author`. Writing lives in one place, `tracer.datasets`
(`create_feedback`, `update_feedback`, `delete_feedback`), so every face follows the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .._json import loads
from ..schemas import Feedback
from .browse_common import canonical_id, failed, read
from .tables import feedback

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Feedback", "feedback_from_row", "list_feedback", "run_feedback"]


def _unjson(text: str | None) -> Any:
    return None if text is None else loads(text)


def feedback_from_row(row: Any) -> Feedback:
    """The model of a `feedback` row (every column selected)."""
    data = dict(row._mapping)
    source = _unjson(data.pop("source"))
    if isinstance(source, dict):
        data["source"], data["author"] = source.get("type"), source.get("author")
    else:
        data["source"], data["author"] = source, None
    data["value"] = _unjson(data["value"])
    data["correction"] = _unjson(data["correction"])
    return Feedback.model_validate(data)


def list_feedback(
    store: Store, run_ids: Sequence[str | UUID] | None = None, keys: Sequence[str] | None = None, *, limit: int | None = None, offset: int = 0
) -> list[Feedback]:
    """Feedback on the runs given (every run when None), with one of `keys` when given; oldest
    first, from `offset` and at most `limit` (the order is total, so pages neither overlap nor skip)."""
    statement = select(*feedback.c).order_by(feedback.c.created_at, feedback.c.id).limit(limit).offset(offset or None)
    if run_ids is not None:
        statement = statement.where(feedback.c.run_id.in_([canonical_id(r) for r in run_ids]))
    if keys is not None:
        statement = statement.where(feedback.c.key.in_(list(keys)))
    try:
        with read(store) as connection:
            return [feedback_from_row(row) for row in connection.execute(statement)]
    except SQLAlchemyError as exc:
        raise failed(exc) from exc


def run_feedback(store: Store, run_id: str | UUID) -> list[Feedback]:
    """The feedback on a run, oldest first."""
    return list_feedback(store, [run_id])
