"""Runs and feedback from LangSmith clients, written into the store like our tracer's own.

`upsert_runs` applies LangSmith ops (posts and patches, in any order and split) as upserts: in
one write transaction it reads the stored documents of the runs named, folds each op in with
`tracer.langsmith_wire.merge`, and writes the `runs` rows and one `run_log` change per run
through the background writer's own machinery (`RunWriter.update`). A change to a stored run
replaces its whole document (`replace ""`), so replaying the log still gives the row. Every op
is validated before the transaction starts: a malformed one raises `PayloadError` (a
`ValueError`) and nothing is written.

Another process may write the same run at the same time. On SQLite the transaction holds the
write lock from its first statement, so that cannot interleave; on PostgreSQL both may read the
same `seq`, and the loser's unique-key conflict makes it read again and retry: no op is lost.
So that two writers of one run do not keep colliding (each retry racing the other's next
write), a PostgreSQL transaction first takes a transaction-scoped advisory lock per run it
reads, in one order: writers of the same run queue up, writers of other runs go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, text

from .._json import loads
from ..datasets import check_feedback, create_feedback
from ..langsmith_wire import PayloadError, merge, to_doc
from .browse_common import canonical_id, utc
from .changes import RunChange
from .errors import NotFound
from .tables import run_log, runs

if TYPE_CHECKING:
    from .store import Store

__all__ = ["upsert_runs", "upsert_docs", "add_feedback_parts", "PayloadError"]


def upsert_runs(store: Store, payloads: Sequence[Mapping[str, Any]], *, project: str | None = None) -> int:
    """Apply LangSmith run ops in order, in one transaction; returns how many runs they touched.
    `project` names the project of ops that carry no `session_name`."""
    return upsert_docs(store, [to_doc(payload, project=project) for payload in payloads])


def upsert_docs(store: Store, updates: Sequence[dict[str, Any]]) -> int:
    """`upsert_runs` for ops already mapped by `to_doc` (the server maps each op once, when it
    checks the request, and stores later)."""
    if not updates:
        return 0
    ids = list(dict.fromkeys(update["id"] for update in updates))

    def plan(connection: Connection) -> list[RunChange]:
        stored = _stored(connection, ids)
        docs: dict[str, dict[str, Any]] = {}
        for update in updates:
            run_id = update["id"]
            docs[run_id] = merge(docs.get(run_id) or stored.get(run_id, (None, -1))[0], update)
        for run_id, doc in docs.items():
            if not doc.get("start_time"):
                raise PayloadError(run_id, "start_time", "is missing, and the run is not stored yet")
        return [
            RunChange(run_id, doc, [{"op": "replace", "path": "", "value": doc}], stored.get(run_id, (None, -1))[1] + 1)
            for run_id, doc in docs.items()
        ]

    store.update(plan)
    return len(ids)


#: Any constant: the first key of the runs' advisory locks (the second is a hash of the id).
_PG_RUN_LOCKS = 0x7472


# Locks in the order of their keys, so two transactions locking overlapping runs cannot deadlock.
_PG_LOCK_RUNS = text(
    "SELECT pg_advisory_xact_lock(:space, k) FROM ("
    "SELECT DISTINCT hashtext(id) AS k FROM unnest(CAST(:ids AS text[])) AS id ORDER BY k"
    ") AS run_keys"
).bindparams(space=_PG_RUN_LOCKS)


def _stored(connection: Connection, ids: list[str]) -> dict[str, tuple[dict[str, Any], int]]:
    """Document and last `seq` of each stored run among `ids`, in one query (on PostgreSQL,
    after locking them: see the module's docstring)."""
    if connection.dialect.name == "postgresql":
        connection.execute(_PG_LOCK_RUNS, {"ids": sorted(ids)})
    last_seq = select(func.max(run_log.c.seq)).where(run_log.c.run_id == runs.c.id).scalar_subquery()
    rows = connection.execute(select(runs.c.id, runs.c.doc, last_seq).where(runs.c.id.in_(ids)))
    return {run_id: (loads(doc), -1 if seq is None else seq) for run_id, doc, seq in rows}


def add_feedback_parts(store: Store, feedback: Sequence[Mapping[str, Any]]) -> int:
    """Record LangSmith feedback objects (`feedback.<id>` parts, `POST /feedback` bodies) as
    feedback from the API; returns how many were recorded. Feedback on a run that is not stored
    yet is recorded, as `POST /feedback` records it: an app's feedback client is often not the
    one tracing its runs, so its feedback may arrive first. Feedback already recorded (a
    client's retry) is left as it is. A malformed object raises `ValueError` before any is
    written."""
    items = [_feedback_fields(item) for item in feedback]
    for fields in items:
        try:
            create_feedback(store, **fields, require_run=False)
        except ValueError:
            pass  # every field was checked above: the id is taken, by this same feedback
    return len(items)


def _feedback_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """`create_feedback`'s arguments for one LangSmith feedback object, checked."""
    run_id = item.get("run_id") or item.get("trace_id")
    where = f"Feedback {item.get('id')}"
    if run_id is None:
        raise ValueError(f"{where}: run_id is missing.")
    created_at = item.get("created_at")
    try:
        fields = {
            "run_id": canonical_id(run_id),
            "key": item.get("key"),
            "score": item.get("score"),
            "value": item.get("value"),
            "comment": item.get("comment"),
            "correction": item.get("correction"),
            "source": "api",
            "feedback_id": None if item.get("id") is None else canonical_id(item["id"], "feedback"),
            "trace_id": None if item.get("trace_id") is None else canonical_id(item["trace_id"], "trace"),
            "created_at": utc(datetime.fromisoformat(created_at)) if isinstance(created_at, str) else utc(created_at),
        }
        check_feedback(fields["key"], fields["score"], fields["comment"], "api")
    except (TypeError, ValueError, NotFound) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return fields
