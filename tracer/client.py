"""`tracer.Client`: runs, feedback and datasets from Python, over the store or a server.

`Client` is the one public surface; the work is done by a backend chosen at construction. In
local mode (`_StoreBackend`, below) it opens the store named by the settings
(`TRACER_DATABASE_URL`, or `traces.db` in `TRACER_HOME`) or the URL it is given, and calls the
same functions the CLI, the JSON API and the viewer use (`tracer.datasets`, `tracer.export`).
In remote mode (`LANGCHAIN_ENDPOINT` / `LANGSMITH_ENDPOINT` set, or `endpoint=` given) every
call goes to that server's JSON API (`tracer.client_remote`) and returns the same models.
Method names follow LangSmith's client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from uuid import UUID

from . import datasets as _data
from . import filters
from . import export as _export
from . import feedback_keys as _keys
from .config import get_settings
from .feedback_keys import FeedbackKey
from .schemas import Dataset, Example, Feedback, Project, Run
from .store import Store, open_store

if TYPE_CHECKING:
    from .client_remote import RemoteBackend

__all__ = ["Client", "RunFilter"]

#: A filter: a string of the filter language (`tracer.filters`) or a test on each `Run`.
RunFilter = str | Callable[[Run], bool]

_UNSET: Any = _data._UNSET


class Client:
    """Runs, feedback and datasets of the local store, or of the server at the endpoint. Use as
    a context manager, or `close()`.

    `database_url` or `store` choose a store; `endpoint` (default: the settings', when no store
    is given) a server, with `api_key` (default: the settings') sent as `x-api-key`.
    """

    def __init__(self, database_url: str | None = None, *, store: Store | None = None, endpoint: str | None = None, api_key: str | None = None) -> None:
        settings = get_settings()
        if endpoint is None and store is None and database_url is None:
            endpoint = settings.endpoint
        self._backend: _StoreBackend | RemoteBackend
        if endpoint:
            from .client_remote import RemoteBackend

            self._backend = RemoteBackend(endpoint, api_key if api_key is not None else settings.api_key)
        else:
            self._backend = _StoreBackend(database_url or settings.store_url, store)

    @property
    def store(self) -> Store:
        """The local store (a `ValueError` in remote mode, which has none)."""
        if not isinstance(self._backend, _StoreBackend):
            raise ValueError(f"This client talks to {self._backend.endpoint}; it has no local store.")
        return self._backend.store

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self._backend.describe()!r})"

    # -- runs -------------------------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return self._backend.list_projects()

    def list_runs(
        self,
        project_name: str | None = None,
        run_type: str | None = None,
        filter: RunFilter | None = None,
        limit: int | None = 100,
        *,
        status: str | None = None,
        trace_id: str | UUID | None = None,
        parent_run_id: str | UUID | None = None,
        offset: int = 0,
    ) -> list[Run]:
        """Runs newest first; `filter` is a filter string or a callable taking a `Run`."""
        return self._backend.list_runs(project_name, run_type, filter, limit, status=status, trace_id=trace_id, parent_run_id=parent_run_id, offset=offset)

    def read_run(self, run_id: str | UUID) -> Run:
        return self._backend.read_run(run_id)

    # -- feedback ---------------------------------------------------------------------------------

    def create_feedback(
        self,
        run_id: str | UUID,
        key: str,
        score: float | bool | None = None,
        value: Any = None,
        comment: str | None = None,
        correction: Any = None,
        source: str = "sdk",
        author: str | None = None,
    ) -> Feedback:
        """Feedback on a run. A run traced a moment ago may still be queued for the background
        writer: then the queue is flushed and the run looked up again."""
        from .store.errors import NotFound

        arguments: dict[str, Any] = {"score": score, "value": value, "comment": comment, "correction": correction, "source": source, "author": author}
        try:
            return self._backend.create_feedback(run_id, key, **arguments)
        except NotFound:
            from .tracing import flush

            if not flush(timeout=30):
                raise
            return self._backend.create_feedback(run_id, key, **arguments)

    def read_feedback(self, feedback_id: str | UUID) -> Feedback:
        return self._backend.read_feedback(feedback_id)

    def update_feedback(
        self,
        feedback_id: str | UUID,
        *,
        score: float | bool | None = _UNSET,
        value: Any = _UNSET,
        comment: str | None = _UNSET,
        correction: Any = _UNSET,
        author: str | None = _UNSET,
    ) -> Feedback:
        """Change the fields given (None clears one)."""
        return self._backend.update_feedback(feedback_id, score=score, value=value, comment=comment, correction=correction, author=author)

    def delete_feedback(self, feedback_id: str | UUID) -> None:
        self._backend.delete_feedback(feedback_id)

    def list_feedback(self, run_ids: Sequence[str | UUID] | None = None, feedback_key: Sequence[str] | None = None) -> list[Feedback]:
        return self._backend.list_feedback(run_ids, feedback_key)

    # -- feedback keys ----------------------------------------------------------------------------

    def list_feedback_keys(self) -> list[FeedbackKey]:
        """The keys the viewer offers, in order (the defaults while none is configured)."""
        return self._backend.list_feedback_keys()

    def create_feedback_key(
        self,
        key: str,
        kind: str,
        *,
        description: str | None = None,
        min: float | None = None,
        max: float | None = None,
        categories: Sequence[str | Mapping[str, Any]] | None = None,
    ) -> FeedbackKey:
        """A new key, last in order: kind thumbs, stars, score (with `min` and `max`), categories
        (labels, or `{"label", "value"}` with a score) or text; `ValueError` if it exists."""
        if any(config.key == key.strip() for config in self.list_feedback_keys()):
            raise ValueError(f"A feedback key named {key!r} already exists; use update_feedback_key.")
        choices = [{"label": c} if isinstance(c, str) else dict(c) for c in categories or ()]
        config = FeedbackKey.model_validate({"key": key, "kind": kind, "description": description, "min": min, "max": max, "categories": choices})
        return self._backend.set_feedback_key(config)

    def update_feedback_key(self, key: str, **changes: Any) -> FeedbackKey:
        """Change fields of a key (`kind`, `description`, `min`, `max`, `categories`, `position`)."""
        current = self._backend.read_feedback_key(key)
        config = FeedbackKey.model_validate({**current.model_dump(), **changes, "key": current.key})
        return self._backend.set_feedback_key(config)

    def delete_feedback_key(self, key: str) -> None:
        """Stop offering a key; the feedback given with it stays."""
        self._backend.delete_feedback_key(key)

    # -- datasets ---------------------------------------------------------------------------------

    def create_dataset(self, name: str, description: str | None = None, metadata: Mapping[str, Any] | None = None) -> Dataset:
        return self._backend.create_dataset(name, description, metadata)

    def read_dataset(self, name: str) -> Dataset:
        return self._backend.read_dataset(name)

    def rename_dataset(self, name: str, new_name: str) -> Dataset:
        return self._backend.update_dataset(name, new_name=new_name, description=_UNSET)

    def update_dataset(self, name: str, *, new_name: str | None = None, description: str | None = _UNSET) -> Dataset:
        return self._backend.update_dataset(name, new_name=new_name, description=description)

    def delete_dataset(self, name: str) -> None:
        self._backend.delete_dataset(name)

    def list_datasets(self) -> list[Dataset]:
        return self._backend.list_datasets()

    def create_examples(self, dataset_name: str, examples: Iterable[Mapping[str, Any]]) -> int:
        """Add examples, each `{inputs, outputs, metadata, split}`; returns how many."""
        return self._backend.create_examples(dataset_name, examples)

    def create_example_from_run(self, run_id: str | UUID, dataset_name: str, split: str | None = None) -> Example:
        """An example from a run: its inputs, and as reference output its correction when it has one."""
        return self._backend.create_example_from_run(run_id, dataset_name, split)

    def create_examples_from_runs(self, dataset_name: str, run_ids: Iterable[str | UUID], split: str | None = None) -> int:
        """One example per run of a selection."""
        return self._backend.create_examples_from_runs(dataset_name, run_ids, split)

    def create_examples_from_filter(self, dataset_name: str, project_name: str, run_type: str | None = None, filter: RunFilter | None = None, split: str | None = None) -> int:
        """One example per run of the project matching the filter (oldest first)."""
        return self._backend.create_examples_from_filter(dataset_name, project_name, run_type, filter, split)

    def read_example(self, example_id: str | UUID) -> Example:
        return self._backend.read_example(example_id)

    def list_examples(self, dataset_name: str, split: str | None = None, limit: int | None = None, offset: int = 0) -> list[Example]:
        return self._backend.list_examples(dataset_name, split, limit, offset)

    def update_example(
        self,
        example_id: str | UUID,
        *,
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = _UNSET,
        metadata: Mapping[str, Any] | None = None,
        split: str | None = _UNSET,
    ) -> Example:
        return self._backend.update_example(example_id, inputs=inputs, outputs=outputs, metadata=metadata, split=split)

    def delete_example(self, example_id: str | UUID) -> None:
        self._backend.delete_example(example_id)

    # -- export / import --------------------------------------------------------------------------

    def export_dataset(self, name: str, format: str = "jsonl", path: str | os.PathLike[str] | None = None) -> int:
        """Write the dataset to `path` (default `NAME.jsonl` / `.csv`); returns how many examples."""
        target = path or f"{name}.{'csv' if format == 'csv' else 'jsonl'}"
        return self._backend.export_dataset(name, format, target)

    def export_runs(self, project_name: str, format: str = "jsonl", path: str | os.PathLike[str] | None = None, run_type: str | None = None, filter: RunFilter | None = None) -> int:
        target = path or f"{project_name}-runs.{format}"
        return self._backend.export_runs(project_name, format, target, run_type, filter)

    def import_dataset(self, path: str | os.PathLike[str], name: str | None = None, format: str | None = None) -> Dataset:
        """A new dataset from a file in any export format (detected when not given)."""
        return self._backend.import_dataset(path, name, format)


class _StoreBackend:
    """Local mode: the client's calls over a store (opened on first use)."""

    def __init__(self, url: str, store: Store | None) -> None:
        self._owned = store is None
        self._url = url
        self._store = store

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self._url)
        return self._store

    def close(self) -> None:
        if self._owned and self._store is not None:
            self._store.close()
            self._store = None

    def describe(self) -> str:
        return self._url

    def list_projects(self) -> list[Project]:
        return self.store.list_projects()

    def list_runs(
        self, project_name: str | None, run_type: str | None, filter: RunFilter | None, limit: int | None, *,
        status: str | None, trace_id: str | UUID | None, parent_run_id: str | UUID | None, offset: int,
    ) -> list[Run]:
        clause, predicate = self._filter(filter)
        if clause is None and predicate is None:
            return self.store.list_runs(
                project_name=project_name, run_type=run_type, status=status, trace_id=trace_id,
                parent_run_id=parent_run_id, limit=limit if limit is not None else 2**62, offset=offset,
            )
        if clause is not None:
            return self._select_runs(clause, project_name, run_type, status, trace_id, parent_run_id, limit, offset)
        found: list[Run] = []
        page, start = 500, 0
        while limit is None or len(found) < limit + offset:
            batch = self.store.list_runs(project_name=project_name, run_type=run_type, status=status, trace_id=trace_id, parent_run_id=parent_run_id, limit=page, offset=start)
            found.extend(r for r in batch if predicate is not None and predicate(r))
            if len(batch) < page:
                break
            start += page
        return found[offset:] if limit is None else found[offset : offset + limit]

    def _filter(self, filter: RunFilter | None) -> tuple[Any, Callable[[Run], bool] | None]:
        return filters.sql_or_test(filter, dialect_name=self.store.engines.reader.dialect.name)

    def _select_runs(self, clause: Any, project_name: str | None, run_type: str | None, status: str | None, trace_id: Any, parent_run_id: Any, limit: int | None, offset: int) -> list[Run]:
        from sqlalchemy import select

        from ._json import loads
        from .store.tables import projects, runs

        statement = select(runs.c.doc, projects.c.name).join(projects, projects.c.id == runs.c.project_id).where(clause)
        for column, wanted in ((projects.c.name, project_name), (runs.c.run_type, run_type), (runs.c.status, status), (runs.c.trace_id, trace_id), (runs.c.parent_run_id, parent_run_id)):
            if wanted is not None:
                statement = statement.where(column == str(wanted))
        statement = statement.order_by(runs.c.start_time.desc(), runs.c.id.desc()).offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        with self.store.engines.reader.connect() as connection:
            return [Run.from_doc(loads(doc), project=name) for doc, name in connection.execute(statement)]

    def read_run(self, run_id: str | UUID) -> Run:
        return self.store.read_run(run_id)

    def create_feedback(self, run_id: str | UUID, key: str, **fields: Any) -> Feedback:
        return _data.create_feedback(self.store, run_id, key, **fields)

    def read_feedback(self, feedback_id: str | UUID) -> Feedback:
        return _data.read_feedback(self.store, feedback_id)

    def update_feedback(self, feedback_id: str | UUID, **fields: Any) -> Feedback:
        return _data.update_feedback(self.store, feedback_id, **fields)

    def delete_feedback(self, feedback_id: str | UUID) -> None:
        _data.delete_feedback(self.store, feedback_id)

    def list_feedback(self, run_ids: Sequence[str | UUID] | None, feedback_key: Sequence[str] | None) -> list[Feedback]:
        return _data.list_feedback(self.store, run_ids, feedback_key)

    def list_feedback_keys(self) -> list[FeedbackKey]:
        return _keys.list_feedback_keys(self.store)

    def read_feedback_key(self, key: str) -> FeedbackKey:
        return _keys.read_feedback_key(self.store, key)

    def set_feedback_key(self, config: FeedbackKey) -> FeedbackKey:
        return _keys.set_feedback_key(self.store, config)

    def delete_feedback_key(self, key: str) -> None:
        _keys.delete_feedback_key(self.store, key)

    def create_dataset(self, name: str, description: str | None, metadata: Mapping[str, Any] | None) -> Dataset:
        return _data.create_dataset(self.store, name, description, metadata)

    def read_dataset(self, name: str) -> Dataset:
        return _data.read_dataset(self.store, name)

    def update_dataset(self, name: str, *, new_name: str | None, description: str | None) -> Dataset:
        return _data.update_dataset(self.store, name, new_name=new_name, description=description)

    def delete_dataset(self, name: str) -> None:
        _data.delete_dataset(self.store, name)

    def list_datasets(self) -> list[Dataset]:
        return _data.list_datasets(self.store)

    def create_examples(self, dataset_name: str, examples: Iterable[Mapping[str, Any]]) -> int:
        return _data.add_examples(self.store, dataset_name, examples)

    def create_example_from_run(self, run_id: str | UUID, dataset_name: str, split: str | None) -> Example:
        run = self.read_run(run_id)
        example = _data.example_from_run(run, self.list_feedback([run.id], None), split=split)
        example["id"] = str(_new_id())
        _data.add_examples(self.store, dataset_name, [example])
        return self.read_example(example["id"])

    def create_examples_from_runs(self, dataset_name: str, run_ids: Iterable[str | UUID], split: str | None) -> int:
        return _data.add_examples_from_runs(self.store, dataset_name, run_ids, split=split)

    def create_examples_from_filter(self, dataset_name: str, project_name: str, run_type: str | None, filter: RunFilter | None, split: str | None) -> int:
        clause, predicate = self._filter(filter)
        found = _export.iter_runs(self.store, project_name, run_type=run_type, clause=clause, predicate=predicate)
        return _data.add_examples_from_runs(self.store, dataset_name, (run.id for run in found), split=split)

    def read_example(self, example_id: str | UUID) -> Example:
        return _data.read_example(self.store, example_id)

    def list_examples(self, dataset_name: str, split: str | None, limit: int | None, offset: int) -> list[Example]:
        return _data.list_examples(self.store, dataset_name, split=split, limit=limit, offset=offset)

    def update_example(self, example_id: str | UUID, **fields: Any) -> Example:
        return _data.update_example(self.store, example_id, **fields)

    def delete_example(self, example_id: str | UUID) -> None:
        _data.delete_example(self.store, example_id)

    def export_dataset(self, name: str, fmt: str, path: str | os.PathLike[str]) -> int:
        return _export.export_dataset(self.store, name, fmt, path)

    def export_runs(self, project_name: str, fmt: str, path: str | os.PathLike[str], run_type: str | None, filter: RunFilter | None) -> int:
        clause, predicate = self._filter(filter)
        return _export.export_runs(self.store, project_name, fmt, path, run_type=run_type, clause=clause, predicate=predicate)

    def import_dataset(self, path: str | os.PathLike[str], name: str | None, fmt: str | None) -> Dataset:
        return _export.import_dataset(self.store, path, name=name, fmt=fmt)


def _new_id() -> UUID:
    from ._ids import uuid7

    return uuid7()
