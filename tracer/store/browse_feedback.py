"""Feedback on runs: what the viewer records (thumbs, scores, comments, corrections) and lists.

Rows follow LangSmith's feedback schema (`tables.feedback`): `value`, `correction` and `source`
are JSON; `source` says where the feedback came from, `{"type": "viewer"}` for the viewer's.
A feedback needs its run to be stored (the viewer judges what it shows), unlike the API's, which
may arrive before its run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .._ids import uuid7
from .._json import dumps, loads
from .browse_common import failed, read, utc
from .browse_common import canonical_id as _run_key
from .errors import NotFound, StoreError
from .tables import feedback, runs

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Feedback", "run_feedback", "add_feedback"]


@dataclass(frozen=True, slots=True)
class Feedback:
    """A judgement of a run: a score and/or a value, a comment, a correction (LangSmith's
    feedback schema); `source` is where it came from, e.g. `{"type": "viewer"}`."""

    id: str
    run_id: str
    trace_id: str | None
    key: str
    score: float | None
    value: Any
    comment: str | None
    correction: Any
    source: Any
    created_at: datetime
    modified_at: datetime


_FEEDBACK_COLUMNS = tuple(feedback.c)


def _feedback(row: Any) -> Feedback:
    data = dict(row._mapping)
    for name in ("value", "correction", "source"):
        data[name] = None if data[name] is None else loads(data[name])
    data["created_at"] = utc(data["created_at"])
    data["modified_at"] = utc(data["modified_at"])
    return Feedback(**data)


def run_feedback(store: Store, run_id: str | UUID) -> list[Feedback]:
    """The feedback on a run, oldest first."""
    statement = select(*_FEEDBACK_COLUMNS).where(feedback.c.run_id == _run_key(run_id)).order_by(feedback.c.created_at, feedback.c.id)
    try:
        with read(store) as connection:
            return [_feedback(row) for row in connection.execute(statement)]
    except SQLAlchemyError as exc:
        raise failed(exc) from exc


def add_feedback(
    store: Store,
    run_id: str | UUID,
    key: str,
    score: float | None = None,
    value: Any = None,
    comment: str | None = None,
    correction: Any = None,
    source: str = "viewer",
) -> Feedback:
    """Record feedback on a stored run (`NotFound` otherwise); `ValueError` for a missing key
    or a score that is not a finite number."""
    run_key = _run_key(run_id)
    key = key.strip() if isinstance(key, str) else key
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ValueError("The feedback key must be a name of 1 to 200 characters, like 'correctness'.")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"The feedback score must be a finite number, not {score!r}.")
        score = float(score)
    if comment is not None and not isinstance(comment, str):
        raise ValueError("The feedback comment must be text.")
    now = datetime.now(timezone.utc)
    row = {
        "id": str(uuid7()),
        "run_id": run_key,
        "key": key,
        "score": score,
        "value": None if value is None else dumps(value),
        "comment": comment,
        "correction": None if correction is None else dumps(correction),
        "source": dumps({"type": source}),
        "created_at": now,
        "modified_at": now,
    }
    try:
        with store.engines.writer.begin() as connection:
            trace_id = connection.execute(select(runs.c.trace_id).where(runs.c.id == run_key)).scalar()
            if trace_id is None:
                raise NotFound(f"No run with id {run_key} in the store.")
            row["trace_id"] = trace_id
            connection.execute(feedback.insert(), row)
            stored = connection.execute(select(*_FEEDBACK_COLUMNS).where(feedback.c.id == row["id"])).one()
    except SQLAlchemyError as exc:
        raise StoreError(f"Could not record feedback: {getattr(exc, 'orig', None) or exc}") from exc
    return _feedback(stored)
