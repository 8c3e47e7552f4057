"""Feedback, datasets and examples in the store: what `tracer.Client`, the CLI, the JSON API and
the viewer share.

Feedback is written here and only here (`create_feedback`, `update_feedback`,
`delete_feedback`), whichever face it comes from, so one set of rules holds for keys and scores;
it is read back by `store.browse_feedback`. `source` says which face wrote it (`SOURCES`: sdk,
api, ui) and is stored, with the author, as `{"type": ..., "author": ...}`. JSON columns are
written with `tracer._json.dumps`.

An example made from a run holds the run's inputs and, as reference outputs, the newest
correction on the run when there is one (a dict as is, anything else as `{"output": ...}`),
otherwise the run's outputs; its metadata names the source run and carries the run's feedback.
Examples are read in pages (`iter_examples`), so an export holds one page at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import Connection, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ._ids import uuid7
from ._json import dumps, loads
from .schemas import Dataset, Example, Feedback, Run
from .store.browse_common import canonical_id
from .store.browse_feedback import feedback_from_row, list_feedback
from .store.errors import NotFound, StoreError
from .store.queries import read_run
from .store.tables import datasets, examples, feedback, runs

if TYPE_CHECKING:
    from .store.store import Store

__all__ = [
    "SOURCES",
    "check_feedback",
    "create_feedback",
    "read_feedback",
    "update_feedback",
    "delete_feedback",
    "list_feedback",
    "create_dataset",
    "read_dataset",
    "list_datasets",
    "rename_dataset",
    "update_dataset",
    "delete_dataset",
    "add_examples",
    "iter_examples",
    "list_examples",
    "read_example",
    "update_example",
    "delete_example",
    "example_from_run",
    "add_examples_from_runs",
    "reference_outputs",
]

_UNSET: Any = object()

#: Where feedback comes from: the Python client, the JSON API, the viewer.
SOURCES = ("sdk", "api", "ui")
MAX_KEY = 200


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _unjson(text: str | None) -> Any:
    return None if text is None else loads(text)


def _failed(exc: SQLAlchemyError, doing: str) -> StoreError:
    return StoreError(f"Could not {doing}: {getattr(exc, 'orig', None) or exc}")


def _score(score: Any) -> float | None:
    """A finite number, or a bool stored as 1.0 or 0.0 (LangSmith's convention)."""
    if score is None:
        return None
    if isinstance(score, bool):
        return 1.0 if score else 0.0
    if not isinstance(score, (int, float)) or not math.isfinite(score):
        raise ValueError(f"The feedback score must be a finite number or a bool, not {score!r}.")
    return float(score)


def _comment(comment: Any) -> str | None:
    if comment is not None and not isinstance(comment, str):
        raise ValueError("The feedback comment must be text.")
    return comment


def _key(key: Any) -> str:
    key = key.strip() if isinstance(key, str) else key
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise ValueError(f"The feedback key must be a name of 1 to {MAX_KEY} characters, like 'correctness'.")
    return key


# -- feedback ---------------------------------------------------------------------------------


def check_feedback(key: Any, score: Any = None, comment: Any = None, source: str = "sdk") -> None:
    """Raise `ValueError` for feedback `create_feedback` would refuse: lets a batch be checked
    whole before any of it is written."""
    if source not in SOURCES:
        raise ValueError(f"The feedback source must be one of {', '.join(SOURCES)}, not {source!r}.")
    _key(key)
    _score(score)
    _comment(comment)


def create_feedback(
    store: Store,
    run_id: str | UUID,
    key: str,
    score: float | bool | None = None,
    value: Any = None,
    comment: str | None = None,
    correction: Any = None,
    source: str = "sdk",
    author: str | None = None,
    *,
    feedback_id: str | UUID | None = None,
    trace_id: str | UUID | None = None,
    require_run: bool = True,
    created_at: datetime | None = None,
) -> Feedback:
    """Record feedback on a stored run (`NotFound` otherwise; `ValueError` for a bad key, score,
    comment or source, or a `feedback_id` already taken).

    LangSmith clients choose the feedback's id (`feedback_id`) and may send it before their run
    is stored: with `require_run=False` it is recorded anyway, with the `trace_id` given until
    the run is there (the table has no foreign key to `runs` for this). `created_at` keeps the
    time a client gave."""
    run_key = canonical_id(run_id)
    check_feedback(key, score, comment, source)
    now = _now()
    row = {
        "id": str(uuid7()) if feedback_id is None else canonical_id(feedback_id, "feedback"),
        "run_id": run_key,
        "key": _key(key),
        "score": _score(score),
        "value": _json(value),
        "comment": _comment(comment),
        "correction": _json(correction),
        "source": dumps({"type": source} if author is None else {"type": source, "author": author}),
        "created_at": created_at or now,
        "modified_at": now,
    }
    try:
        with store.engines.writer.begin() as connection:
            stored_trace = connection.execute(select(runs.c.trace_id).where(runs.c.id == run_key)).scalar()
            if stored_trace is None and require_run:
                raise NotFound(f"No run with id {run_key} in the store.")
            given_trace = None if trace_id is None else canonical_id(trace_id, "trace")
            connection.execute(feedback.insert(), {**row, "trace_id": stored_trace or given_trace})
    except IntegrityError as exc:
        raise ValueError(f"There is already feedback with id {row['id']}.") from exc
    except SQLAlchemyError as exc:
        raise _failed(exc, "record feedback") from exc
    return read_feedback(store, row["id"])


def _row(store: Store, table: Any, record_id: str | UUID, what: str) -> Any:
    """The row of `table` with this id (`what`: "feedback", "example"), or `NotFound`."""
    key = canonical_id(record_id, what)
    try:
        with store.engines.reader.connect() as connection:
            row = connection.execute(select(*table.c).where(table.c.id == key)).first()
    except SQLAlchemyError as exc:
        raise _failed(exc, f"read the {what}") from exc
    if row is None:
        raise NotFound(f"No {what} with id {key} in the store.")
    return row


def read_feedback(store: Store, feedback_id: str | UUID) -> Feedback:
    return feedback_from_row(_row(store, feedback, feedback_id, "feedback"))


def update_feedback(
    store: Store,
    feedback_id: str | UUID,
    *,
    score: float | bool | None = _UNSET,
    value: Any = _UNSET,
    comment: str | None = _UNSET,
    correction: Any = _UNSET,
    author: str | None = _UNSET,
) -> Feedback:
    """Change the fields given (None clears one); `modified_at` becomes now."""
    key = canonical_id(feedback_id, "feedback")
    changes: dict[str, Any] = {"modified_at": _now()}
    if score is not _UNSET:
        changes["score"] = _score(score)
    if value is not _UNSET:
        changes["value"] = _json(value)
    if comment is not _UNSET:
        changes["comment"] = _comment(comment)
    if correction is not _UNSET:
        changes["correction"] = _json(correction)
    try:
        with store.engines.writer.begin() as connection:
            row = connection.execute(select(feedback.c.source).where(feedback.c.id == key)).first()
            if row is None:
                raise NotFound(f"No feedback with id {key} in the store.")
            if author is not _UNSET:
                source = _unjson(row[0])
                source = source if isinstance(source, dict) else {"type": source}
                changes["source"] = dumps({**source, "author": author})
            connection.execute(update(feedback).where(feedback.c.id == key).values(**changes))
    except SQLAlchemyError as exc:
        raise _failed(exc, "update feedback") from exc
    return read_feedback(store, key)


def delete_feedback(store: Store, feedback_id: str | UUID) -> None:
    """Delete one feedback (`NotFound` when there is none with that id)."""
    key = canonical_id(feedback_id, "feedback")
    try:
        with store.engines.writer.begin() as connection:
            if connection.execute(delete(feedback).where(feedback.c.id == key)).rowcount == 0:
                raise NotFound(f"No feedback with id {key} in the store.")
    except SQLAlchemyError as exc:
        raise _failed(exc, "delete feedback") from exc


# -- datasets ---------------------------------------------------------------------------------


def _dataset_row(connection: Connection, name: str) -> Any:
    row = connection.execute(select(*datasets.c).where(datasets.c.name == name)).first()
    if row is None:
        raise NotFound(f"No dataset named {name!r} in the store.")
    return row


def _dataset(row: Any, count: int) -> Dataset:
    data = dict(row._mapping)
    data["metadata"] = _unjson(data["metadata"]) or {}
    return Dataset.model_validate({**data, "example_count": count})


def _count(connection: Connection, dataset_id: str) -> int:
    return int(connection.execute(select(func.count()).select_from(examples).where(examples.c.dataset_id == dataset_id)).scalar() or 0)


def create_dataset(store: Store, name: str, description: str | None = None, metadata: Mapping[str, Any] | None = None) -> Dataset:
    """A new, empty dataset; `ValueError` when the name is empty or taken."""
    name = _name(name)
    now = _now()
    row = {"id": str(uuid7()), "name": name, "description": description, "metadata": _json(dict(metadata or {})), "created_at": now, "modified_at": now}
    try:
        with store.engines.writer.begin() as connection:
            if connection.execute(select(datasets.c.id).where(datasets.c.name == name)).first() is not None:
                raise ValueError(f"A dataset named {name!r} already exists.")
            connection.execute(datasets.insert(), row)
    except IntegrityError as exc:
        raise ValueError(f"A dataset named {name!r} already exists.") from exc
    except SQLAlchemyError as exc:
        raise _failed(exc, "create the dataset") from exc
    return read_dataset(store, name)


def _name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name:
        raise ValueError("A dataset needs a name.")
    return name


def read_dataset(store: Store, name: str) -> Dataset:
    try:
        with store.engines.reader.connect() as connection:
            row = _dataset_row(connection, name)
            return _dataset(row, _count(connection, row.id))
    except SQLAlchemyError as exc:
        raise _failed(exc, "read the dataset") from exc


def list_datasets(store: Store) -> list[Dataset]:
    """Every dataset with its example count, by name."""
    counts = select(examples.c.dataset_id, func.count().label("n")).group_by(examples.c.dataset_id).subquery()
    statement = (
        select(*datasets.c, func.coalesce(counts.c.n, 0))
        .select_from(datasets.outerjoin(counts, counts.c.dataset_id == datasets.c.id))
        .order_by(datasets.c.name)
    )
    try:
        with store.engines.reader.connect() as connection:
            return [_dataset(row, row[-1]) for row in connection.execute(statement)]
    except SQLAlchemyError as exc:
        raise _failed(exc, "list datasets") from exc


def update_dataset(store: Store, name: str, *, new_name: str | None = None, description: str | None = _UNSET) -> Dataset:
    """Rename a dataset (`ValueError` when the new name is taken) and/or change its description
    (None clears it); what is not given stays."""
    changes: dict[str, Any] = {"modified_at": _now()}
    if new_name is not None:
        changes["name"] = _name(new_name)
    if description is not _UNSET:
        if description is not None and not isinstance(description, str):
            raise ValueError("A dataset's description is text.")
        changes["description"] = description
    try:
        with store.engines.writer.begin() as connection:
            row = _dataset_row(connection, name)
            taken = changes.get("name", name) != name and connection.execute(
                select(datasets.c.id).where(datasets.c.name == changes["name"])
            ).first()
            if taken:
                raise ValueError(f"A dataset named {changes['name']!r} already exists.")
            connection.execute(update(datasets).where(datasets.c.id == row.id).values(**changes))
    except SQLAlchemyError as exc:
        raise _failed(exc, "change the dataset") from exc
    return read_dataset(store, changes.get("name", name))


def rename_dataset(store: Store, name: str, new_name: str) -> Dataset:
    return update_dataset(store, name, new_name=new_name)


def delete_dataset(store: Store, name: str) -> None:
    """Delete a dataset and its examples."""
    try:
        with store.engines.writer.begin() as connection:
            row = _dataset_row(connection, name)
            connection.execute(delete(examples).where(examples.c.dataset_id == row.id))
            connection.execute(delete(datasets).where(datasets.c.id == row.id))
    except SQLAlchemyError as exc:
        raise _failed(exc, "delete the dataset") from exc


# -- examples ---------------------------------------------------------------------------------


def _example(row: Any) -> Example:
    data = dict(row._mapping)
    data["inputs"] = _unjson(data["inputs"]) or {}
    data["outputs"] = _unjson(data["outputs"])
    data["metadata"] = _unjson(data["metadata"]) or {}
    return Example.model_validate(data)


def _example_row(dataset_id: str, example: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    inputs = example.get("inputs")
    if not isinstance(inputs, Mapping):
        raise ValueError(f"An example needs `inputs`, a dict; got {type(inputs).__name__}.")
    outputs = example.get("outputs")
    if outputs is not None and not isinstance(outputs, Mapping):
        raise ValueError(f"An example's `outputs` must be a dict or None; got {type(outputs).__name__}.")
    metadata = dict(example.get("metadata") or {})
    source = example.get("source_run_id") or metadata.get("source_run_id")
    return {
        "id": str(example.get("id") or uuid7()),
        "dataset_id": dataset_id,
        "inputs": dumps(dict(inputs)),
        "outputs": _json(None if outputs is None else dict(outputs)),
        "metadata": dumps(metadata),
        "source_run_id": None if source is None else canonical_id(source),
        "split": example.get("split"),
        "created_at": now,
        "modified_at": now,
    }


def add_examples(store: Store, dataset_name: str, items: Iterable[Mapping[str, Any]], batch_size: int = 1000) -> int:
    """Add examples (`inputs`, `outputs`, `metadata`, `split`, optional `id`/`source_run_id`) in
    transactions of `batch_size`; returns how many. Reads `items` lazily (an import streams)."""
    try:
        with store.engines.reader.connect() as connection:
            dataset_id = _dataset_row(connection, dataset_name).id
        total = 0
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append(_example_row(dataset_id, item, _now()))
            if len(batch) >= batch_size:
                total += _insert(store, batch)
                batch = []
        if batch:
            total += _insert(store, batch)
        return total
    except SQLAlchemyError as exc:
        raise _failed(exc, "add examples") from exc


def _insert(store: Store, rows: list[dict[str, Any]]) -> int:
    with store.engines.writer.begin() as connection:
        connection.execute(examples.insert(), rows)
    return len(rows)


def iter_examples(store: Store, dataset_name: str, split: str | None = None, page_size: int = 250) -> Iterator[Example]:
    """The dataset's examples in the order they were added, read a page at a time."""
    with store.engines.reader.connect() as connection:
        dataset_id = _dataset_row(connection, dataset_name).id
    after: tuple[Any, str] | None = None
    while True:
        statement = select(*examples.c).where(examples.c.dataset_id == dataset_id)
        if split is not None:
            statement = statement.where(examples.c.split == split)
        if after is not None:
            statement = statement.where(tuple_(examples.c.created_at, examples.c.id) > tuple_(*after))
        statement = statement.order_by(examples.c.created_at, examples.c.id).limit(page_size)
        try:
            with store.engines.reader.connect() as connection:
                rows = list(connection.execute(statement))
        except SQLAlchemyError as exc:
            raise _failed(exc, "read examples") from exc
        for row in rows:
            yield _example(row)
        if len(rows) < page_size:
            return
        after = (rows[-1].created_at, rows[-1].id)


def list_examples(store: Store, dataset_name: str, split: str | None = None, limit: int | None = None, offset: int = 0) -> list[Example]:
    found: list[Example] = []
    for index, example in enumerate(iter_examples(store, dataset_name, split=split)):
        if index < offset:
            continue
        if limit is not None and len(found) >= limit:
            break
        found.append(example)
    return found


def update_example(
    store: Store,
    example_id: str | UUID,
    *,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, Any] | None = _UNSET,
    metadata: Mapping[str, Any] | None = None,
    split: str | None = _UNSET,
) -> Example:
    key = canonical_id(example_id, "example")
    changes: dict[str, Any] = {"modified_at": _now()}
    if inputs is not None:
        changes["inputs"] = dumps(dict(inputs))
    if outputs is not _UNSET:
        changes["outputs"] = _json(None if outputs is None else dict(outputs))
    if metadata is not None:
        changes["metadata"] = dumps(dict(metadata))
    if split is not _UNSET:
        changes["split"] = split
    try:
        with store.engines.writer.begin() as connection:
            if connection.execute(update(examples).where(examples.c.id == key).values(**changes)).rowcount == 0:
                raise NotFound(f"No example with id {key} in the store.")
            return _example(connection.execute(select(*examples.c).where(examples.c.id == key)).one())
    except SQLAlchemyError as exc:
        raise _failed(exc, "update the example") from exc


def read_example(store: Store, example_id: str | UUID) -> Example:
    """One example, or `NotFound`."""
    return _example(_row(store, examples, example_id, "example"))


def delete_example(store: Store, example_id: str | UUID) -> None:
    key = canonical_id(example_id, "example")
    try:
        with store.engines.writer.begin() as connection:
            if connection.execute(delete(examples).where(examples.c.id == key)).rowcount == 0:
                raise NotFound(f"No example with id {key} in the store.")
    except SQLAlchemyError as exc:
        raise _failed(exc, "delete the example") from exc


def reference_outputs(run: Run, run_feedback: Sequence[Feedback]) -> dict[str, Any] | None:
    """The newest correction on the run (a dict as is, else `{"output": correction}`), or its
    outputs; a chat model's result is reduced to `{"output": <its reply message>}`, the shape of
    a corrected reply (and of LangSmith's chat datasets), not the whole `LLMResult`."""
    corrections = [f.correction for f in run_feedback if f.correction is not None]
    if corrections:
        newest = corrections[-1]
        return dict(newest) if isinstance(newest, dict) else {"output": newest}
    return _chat_reply(run.outputs)


def _chat_reply(outputs: dict[str, Any] | None) -> dict[str, Any] | None:
    generations = (outputs or {}).get("generations")
    if isinstance(generations, list) and generations and isinstance(generations[0], list) and generations[0]:
        first = generations[0][0]
        message = first.get("message") if isinstance(first, dict) else None
        if isinstance(message, dict):
            return {"output": message}
    return outputs


def _feedback_summary(item: Feedback) -> dict[str, Any]:
    summary = {"key": item.key, "score": item.score, "value": item.value, "comment": item.comment, "correction": item.correction}
    return {name: value for name, value in summary.items() if value is not None}


def example_from_run(run: Run, run_feedback: Sequence[Feedback], split: str | None = None) -> dict[str, Any]:
    """The example a run makes: its inputs, its reference outputs, metadata naming the run."""
    metadata: dict[str, Any] = {
        "source_run_id": str(run.id),
        "project": run.project,
        "run_name": run.name,
        "run_type": run.run_type,
    }
    if run_feedback:
        metadata["feedback"] = [_feedback_summary(f) for f in run_feedback]
    if run.model_name:
        metadata["model_name"] = run.model_name
    tools = run.invocation_params.get("tools")
    if tools:
        metadata["tools"] = tools
    return {"inputs": run.inputs, "outputs": reference_outputs(run, run_feedback), "metadata": metadata, "split": split, "source_run_id": str(run.id)}


def add_examples_from_runs(store: Store, dataset_name: str, run_ids: Iterable[str | UUID], split: str | None = None) -> int:
    """Add one example per run (see `example_from_run`); returns how many."""

    def made() -> Iterator[dict[str, Any]]:
        for run_id in run_ids:
            run = read_run(store.engines.reader, run_id)
            yield example_from_run(run, list_feedback(store, [run.id]), split=split)

    return add_examples(store, dataset_name, made(), batch_size=200)
