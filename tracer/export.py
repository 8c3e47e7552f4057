"""Exporting and importing datasets and runs, streamed: one page of rows in memory at a time.

Formats (`FORMATS`):

- `jsonl`: one object a line, `{"inputs", "outputs", "metadata", "feedback"}` (and `"split"`
  when the example has one); the feedback of an example lives in `metadata["feedback"]` in the
  store and is lifted out to its own key here.
- `csv`: one row a record, flattened one level: `split`, `inputs.<key>`, `outputs.<key>`,
  `metadata.<key>`, `feedback`. A cell holds a string as is, anything else as JSON (and a string
  that would read as JSON, or the empty string, as JSON too), so reading it back is exact. The
  header needs every key, so a CSV export reads the rows twice (still one page at a time).
- `openai`: OpenAI's chat fine-tuning JSONL, `{"messages": [...], "tools": [...]?}`: the run's
  prompt (system prompt and tool calls kept) then the reference reply (the correction, when an
  example has one). Tool calls are `{"id", "type": "function", "function": {"name", "arguments"}}`
  with the arguments as a JSON string; tool results are `{"role": "tool", "tool_call_id", ...}`.
- `langsmith`: JSONL of LangSmith `Example` objects (`id`, `dataset_id`, `inputs`, `outputs`,
  `metadata` with the split as `dataset_split` as LangSmith returns it, `split` as its
  `ExampleCreate` takes it, `source_run_id`, `created_at`, `modified_at`).

`read_records` reads any of them back as the dicts `datasets.add_examples` takes. The record
conversions are in `export_formats.py`; this module streams them to and from files.
`dataset_text` and `runs_text` are the same exports as text chunks (a line each), for an HTTP
response to stream: they check the format and the name before they return, so an error can
still be answered before the first chunk.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, tuple_

from ._json import loads
from .datasets import add_examples, create_dataset, iter_examples, list_feedback, read_dataset
from .export_formats import (
    check_format,
    csv_columns,
    csv_record,
    csv_row,
    dumps_line,
    example_record,
    from_langsmith,
    from_openai,
    run_record,
    to_example,
    to_langsmith,
    to_openai,
)
from .schemas import Dataset, Run
from .store.browse_common import project_id
from .store.errors import StoreError
from .store.store import Store
from .store.tables import runs

__all__ = [
    "FORMATS",
    "RUN_FORMATS",
    "export_dataset",
    "export_runs",
    "dataset_text",
    "runs_text",
    "selected_runs_text",
    "record_text",
    "import_dataset",
    "iter_runs",
    "read_records",
    "write_records",
    "detect_format",
]

FORMATS = ("jsonl", "csv", "openai", "langsmith")
RUN_FORMATS = ("jsonl", "csv")
Progress = Callable[[int], None]


# -- writing -------------------------------------------------------------------------------------


def _jsonl_line(record: Mapping[str, Any]) -> dict[str, Any]:
    line = {"inputs": record.get("inputs"), "outputs": record.get("outputs"), "metadata": record.get("metadata") or {}, "feedback": record.get("feedback") or []}
    if record.get("split") is not None:
        line["split"] = record["split"]
    return line


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


def _encode(record: Mapping[str, Any], fmt: str, columns: list[str]) -> str:
    if fmt == "csv":
        return _csv_line(csv_row(record, columns))
    if fmt == "openai":
        return dumps_line(to_openai(record)) + "\n"
    return dumps_line(_jsonl_line(record)) + "\n"


def record_text(records: Iterable[Mapping[str, Any]], fmt: str, *, columns: list[str] | None = None, progress: Progress | None = None) -> Iterator[str]:
    """Records (see `example_record`) as text, a chunk each: `jsonl` or `openai` lines, or `csv`
    rows (which need `columns`) after the header."""
    if fmt == "csv":
        if columns is None:
            raise ValueError("A CSV export needs its columns.")
        yield _csv_line(columns)
    for record in records:
        yield _encode(record, fmt, columns or [])
        if progress is not None:
            progress(1)


class _Counter:
    """A progress callback that also counts the records, for what the writers return."""

    def __init__(self, progress: Progress | None) -> None:
        self.count = 0
        self._progress = progress

    def __call__(self, done: int) -> None:
        self.count += done
        if self._progress is not None:
            self._progress(done)


def write_records(records: Iterable[Mapping[str, Any]], fmt: str, out: IO[str], *, columns: list[str] | None = None, progress: Progress | None = None) -> int:
    """Write records (see `example_record`) as `jsonl`, `csv` (needs `columns`) or `openai`."""
    counter = _Counter(progress)
    out.writelines(record_text(records, fmt, columns=columns, progress=counter))
    return counter.count


def _open_out(path: str | os.PathLike[str]) -> IO[str]:
    return open(path, "w", encoding="utf-8", newline="")


def _langsmith_text(store: Store, name: str, progress: Progress | None) -> Iterator[str]:
    for example in iter_examples(store, name):
        yield dumps_line(to_langsmith(example)) + "\n"
        if progress is not None:
            progress(1)


def dataset_text(store: Store, name: str, fmt: str, *, progress: Progress | None = None) -> Iterator[str]:
    """Dataset `name` in `fmt` as text chunks; `ValueError` (format) or `NotFound` at once."""
    check_format(fmt, FORMATS)
    read_dataset(store, name)
    if fmt == "langsmith":
        return _langsmith_text(store, name, progress)
    columns = csv_columns(example_record(e) for e in iter_examples(store, name)) if fmt == "csv" else None
    return record_text((example_record(e) for e in iter_examples(store, name)), fmt, columns=columns, progress=progress)


def export_dataset(store: Store, name: str, fmt: str, path: str | os.PathLike[str], *, progress: Progress | None = None) -> int:
    """Write dataset `name` to `path` in `fmt`; returns how many examples."""
    counter = _Counter(progress)
    chunks = dataset_text(store, name, fmt, progress=counter)  # errors before the file is created
    with _open_out(path) as out:
        out.writelines(chunks)
    return counter.count


def iter_runs(
    store: Store,
    project_name: str,
    *,
    run_type: str | None = None,
    clause: Any = None,
    predicate: Callable[[Run], bool] | None = None,
    page_size: int = 500,
) -> Iterator[Run]:
    """A project's runs, oldest first, read a page at a time (keyset on start time and id);
    `clause` is a SQLAlchemy condition on `runs`, `predicate` a test in Python."""
    with store.engines.reader.connect() as connection:
        project = project_id(connection, project_name)
    after: tuple[Any, str] | None = None
    while True:
        statement = select(runs.c.doc, runs.c.start_time, runs.c.id).where(runs.c.project_id == project)
        if run_type is not None:
            statement = statement.where(runs.c.run_type == run_type)
        if clause is not None:
            statement = statement.where(clause)
        if after is not None:
            statement = statement.where(tuple_(runs.c.start_time, runs.c.id) > tuple_(*after))
        statement = statement.order_by(runs.c.start_time, runs.c.id).limit(page_size)
        with store.engines.reader.connect() as connection:
            rows = list(connection.execute(statement))
        for doc, _, _ in rows:
            run = Run.from_doc(loads(doc), project=project_name)
            if predicate is None or predicate(run):
                yield run
        if len(rows) < page_size:
            return
        after = (rows[-1][1], rows[-1][2])


def _run_records(store: Store, found: Iterable[Run], page: int = 200) -> Iterator[dict[str, Any]]:
    batch: list[Run] = []

    def flush_batch() -> Iterator[dict[str, Any]]:
        by_run: dict[str, list[dict[str, Any]]] = {}
        for item in list_feedback(store, [r.id for r in batch]):
            entry = {"key": item.key, "score": item.score, "value": item.value, "comment": item.comment, "correction": item.correction}
            by_run.setdefault(str(item.run_id), []).append({k: v for k, v in entry.items() if v is not None})
        for run in batch:
            yield run_record(run, by_run.get(str(run.id), []))

    for run in found:
        batch.append(run)
        if len(batch) >= page:
            yield from flush_batch()
            batch = []
    if batch:
        yield from flush_batch()


def runs_text(
    store: Store,
    project_name: str,
    fmt: str,
    *,
    run_type: str | None = None,
    clause: Any = None,
    predicate: Callable[[Run], bool] | None = None,
    progress: Progress | None = None,
) -> Iterator[str]:
    """A project's runs (with their feedback) as `jsonl` or `csv` text chunks, oldest first;
    `ValueError` (format) or `NotFound` (project) at once."""
    with store.engines.reader.connect() as connection:
        project_id(connection, project_name)
    return selected_runs_text(
        store, lambda: iter_runs(store, project_name, run_type=run_type, clause=clause, predicate=predicate), fmt, progress=progress
    )


def selected_runs_text(store: Store, found: Callable[[], Iterable[Run]], fmt: str, *, progress: Progress | None = None) -> Iterator[str]:
    """The runs `found()` yields (with their feedback) as `jsonl` or `csv` text chunks. CSV reads
    them twice, once for its columns, hence a callable; `ValueError` for the format at once."""
    check_format(fmt, RUN_FORMATS)
    columns = csv_columns(_run_records(store, found())) if fmt == "csv" else None
    return record_text(_run_records(store, found()), fmt, columns=columns, progress=progress)


def export_runs(
    store: Store,
    project_name: str,
    fmt: str,
    path: str | os.PathLike[str],
    *,
    run_type: str | None = None,
    clause: Any = None,
    predicate: Callable[[Run], bool] | None = None,
    progress: Progress | None = None,
) -> int:
    """Write a project's runs (with their feedback) to `path` as `jsonl` or `csv`."""
    counter = _Counter(progress)
    chunks = runs_text(store, project_name, fmt, run_type=run_type, clause=clause, predicate=predicate, progress=counter)
    with _open_out(path) as out:
        out.writelines(chunks)
    return counter.count


# -- reading -------------------------------------------------------------------------------------


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of a file: `.csv` is CSV; a JSONL file by the keys of its first line."""
    if str(path).lower().endswith(".csv"):
        return "csv"
    with open(path, encoding="utf-8") as source:
        for text in source:
            if text.strip():
                first = json.loads(text)
                if "messages" in first and "inputs" not in first:
                    return "openai"
                if "dataset_id" in first:
                    return "langsmith"
                return "jsonl"
    return "jsonl"


def read_records(path: str | os.PathLike[str], fmt: str | None = None) -> Iterator[dict[str, Any]]:
    """The examples a file holds, one at a time (`fmt` detected when None)."""
    fmt = check_format(fmt or detect_format(path), FORMATS)
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as source:
            for row in csv.DictReader(source):
                yield to_example(csv_record(row))
        return
    convert = {"jsonl": to_example, "openai": lambda line: to_example(from_openai(line)), "langsmith": from_langsmith}[fmt]
    with open(path, encoding="utf-8") as source:
        for number, text in enumerate(source, 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: not JSON ({exc}).") from None
            if not isinstance(line, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object.")
            yield convert(line)


def import_dataset(store: Store, path: str | os.PathLike[str], name: str | None = None, fmt: str | None = None, *, progress: Progress | None = None) -> Dataset:
    """Create dataset `name` (default: the file's name without extension) from a file."""
    name = name or Path(path).stem
    if not Path(path).is_file():
        raise FileNotFoundError(f"No file {os.fspath(path)!r} to import.")
    fmt = fmt or detect_format(path)
    create_dataset(store, name, description=f"Imported from {Path(path).name}")

    def counted() -> Iterator[dict[str, Any]]:
        for record in read_records(path, fmt):
            yield record
            if progress is not None:
                progress(1)

    try:
        add_examples(store, name, counted())
    except (ValueError, StoreError):
        from .datasets import delete_dataset

        delete_dataset(store, name)
        raise
    return read_dataset(store, name)

