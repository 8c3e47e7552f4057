"""Remote mode of `tracer.Client`: each call made through a server's JSON API (`/api/v1`, see its
`openapi.json`), returning the same models as local mode.

Errors read as local mode's: 404 is `tracer.store.NotFound`, 400 a `ValueError`, both with the
server's message; 401/403 and anything else a `RemoteError` that says what to do (which
variables hold the API key). Lists the API pages (runs by cursor, examples by offset) are read
to the end or to `limit`; `list_runs` reads whole runs a page at a time (`/runs/full`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import islice
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from . import export as _export
from .errors import TracerError
from .feedback_keys import FeedbackKey
from .remote_http import API_KEY_VARIABLES, headers, http_client, server_message
from .schemas import Dataset, Example, Feedback, Project, Run
from .store.errors import NotFound

__all__ = ["RemoteBackend", "RemoteError"]

#: The API's largest pages and bodies (`viewer.api_data`, `tracer.store.browse_filters`).
_RUNS_PAGE = 200
_IDS_PER_CALL = 100
_EXAMPLES_PER_CALL = 1000
_OFFSET_PAGE = 1000
#: Reads may scan a large store; writes are small.
_TIMEOUT = httpx.Timeout(60.0, connect=3.0)


class RemoteError(TracerError):
    """The server could not be reached, refused the key, or failed; `status` is None when there
    was no answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_base(endpoint: str) -> str:
    """The JSON API under an endpoint given for ingestion (also `http://host:port/langsmith`)."""
    base = endpoint.rstrip("/")
    base = base.removesuffix("/api/v1").removesuffix("/langsmith")
    return base + "/api/v1"


def _segment(value: str | UUID) -> str:
    return quote(str(value), safe="")


class RemoteBackend:
    """The client's calls as requests to `endpoint`'s JSON API."""

    def __init__(self, endpoint: str, api_key: str | None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._api = api_base(endpoint)
        self._headers = headers(api_key)

    def close(self) -> None:
        """Nothing to release: the HTTP client is the process's (`remote_http`)."""

    def describe(self) -> str:
        return self.endpoint

    # -- HTTP -------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        """The answer's JSON (None for an empty one), or the error it stands for."""
        with self._open(method, path, params=params, json=json) as response:
            response.read()
            return response.json() if response.content else None

    @contextmanager
    def _open(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Iterator[httpx.Response]:
        """A streamed response, checked: an error answer raises what it stands for."""
        try:
            with http_client().stream(method, self._api + path, params=params, json=json, headers=self._headers, timeout=_TIMEOUT) as response:
                if not response.is_success:
                    response.read()
                    raise self._error(response)
                yield response
        except httpx.TransportError as exc:
            raise RemoteError(f"Could not reach {self.endpoint} ({type(exc).__name__}: {exc}).") from exc

    def _error(self, response: httpx.Response) -> Exception:
        status, message = response.status_code, server_message(response)
        if status == 404:
            return NotFound(message)
        if status in (400, 422):
            return ValueError(message)
        if status in (401, 403):
            return RemoteError(f"{self.endpoint} refused the request ({status}: {message}); set {API_KEY_VARIABLES} to the server's API key.", status)
        return RemoteError(f"{self.endpoint} answered {status}: {message}", status)

    # -- runs -------------------------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        found = self._call("GET", "/projects")["projects"]
        # A project's figures have no creation time: its last run's stands in (or now).
        return [
            Project(id=p["id"], name=p["name"], description=p.get("description"), created_at=p.get("last_run_time") or datetime.now(timezone.utc), run_count=p["run_count"], last_run_time=p.get("last_run_time"))
            for p in found
        ]

    def _rows(
        self, project_name: str | None, run_type: str | None, text: str | None, status: str | None = None, *,
        path: str = "/runs", page_size: int = _RUNS_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Items of the runs list (every run, newest first), page after page: table rows, or
        whole runs from `/runs/full`."""
        params: dict[str, Any] = {"scope": "all", "limit": page_size}
        for name, value in (("project", project_name), ("run_type", run_type), ("status", status), ("filter", text)):
            if value is not None:
                params[name] = value
        while True:
            page = self._call("GET", path, params=params)
            yield from page["runs"]
            if not page["next_cursor"]:
                return
            params["cursor"] = page["next_cursor"]

    def list_runs(
        self, project_name: str | None, run_type: str | None, filter: Any, limit: int | None, *,
        status: str | None, trace_id: str | UUID | None, parent_run_id: str | UUID | None, offset: int,
    ) -> list[Run]:
        test = filter if callable(filter) else None
        clauses = [f'eq({name}, "{value}")' for name, value in (("trace_id", trace_id), ("parent_run_id", parent_run_id)) if value is not None]
        if isinstance(filter, str):
            clauses.append(filter)
        text = clauses[0] if len(clauses) == 1 else f"and({', '.join(clauses)})" if clauses else None
        stop = None if limit is None else offset + limit
        # Without a callable, no page need be larger than the runs wanted.
        page_size = _RUNS_PAGE if test is not None or stop is None else max(1, min(_RUNS_PAGE, stop))
        found = (Run.model_validate(run) for run in self._rows(project_name, run_type, text, status, path="/runs/full", page_size=page_size))
        return list(islice((run for run in found if test is None or test(run)), offset, stop))

    def read_run(self, run_id: str | UUID) -> Run:
        return Run.model_validate(self._call("GET", f"/runs/{_segment(run_id)}"))

    # -- feedback ---------------------------------------------------------------------------------

    def create_feedback(self, run_id: str | UUID, key: str, *, source: str = "sdk", **fields: Any) -> Feedback:
        """`source` is the server's to set ("api")."""
        return Feedback.model_validate(self._call("POST", "/feedback", json={"run_id": str(run_id), "key": key, **_jsonable(fields)}))

    def read_feedback(self, feedback_id: str | UUID) -> Feedback:
        return Feedback.model_validate(self._call("GET", f"/feedback/{_segment(feedback_id)}"))

    def update_feedback(self, feedback_id: str | UUID, **fields: Any) -> Feedback:
        return Feedback.model_validate(self._call("PATCH", f"/feedback/{_segment(feedback_id)}", json=_given(fields)))

    def delete_feedback(self, feedback_id: str | UUID) -> None:
        self._call("DELETE", f"/feedback/{_segment(feedback_id)}")

    def list_feedback(self, run_ids: Sequence[str | UUID] | None, feedback_key: Sequence[str] | None) -> list[Feedback]:
        """Every feedback (on every run when `run_ids` is None), oldest first."""
        keys = [("key", k) for k in feedback_key or ()]
        ids = [str(r) for r in run_ids or ()]
        by_run = [[("run_id", r) for r in ids[start : start + _IDS_PER_CALL]] for start in range(0, len(ids), _IDS_PER_CALL)]
        chunks = [[]] if run_ids is None else by_run
        found = [Feedback.model_validate(f) for chunk in chunks for f in self._offset_pages("/feedback", chunk + keys, "feedback", None, 0)]
        return sorted(found, key=lambda f: (f.created_at, str(f.id)))

    def list_feedback_keys(self) -> list[FeedbackKey]:
        return [FeedbackKey.model_validate(k) for k in self._call("GET", "/feedback-keys")["feedback_keys"]]

    def read_feedback_key(self, key: str) -> FeedbackKey:
        for config in self.list_feedback_keys():
            if config.key == key:
                return config
        raise NotFound(f"No feedback key named {key!r} on {self.endpoint}.")

    def set_feedback_key(self, config: FeedbackKey) -> FeedbackKey:
        body = config.model_dump(mode="json", exclude={"key", "created_at", "modified_at"})
        return FeedbackKey.model_validate(self._call("PUT", f"/feedback-keys/{_segment(config.key)}", json=body))

    def delete_feedback_key(self, key: str) -> None:
        self._call("DELETE", f"/feedback-keys/{_segment(key)}")

    # -- datasets ---------------------------------------------------------------------------------

    def create_dataset(self, name: str, description: str | None, metadata: Mapping[str, Any] | None) -> Dataset:
        body = {"name": name, "description": description, "metadata": _jsonable(dict(metadata or {}))}
        return Dataset.model_validate(self._call("POST", "/datasets", json=body))

    def read_dataset(self, name: str) -> Dataset:
        return Dataset.model_validate(self._call("GET", f"/datasets/{_segment(name)}"))

    def update_dataset(self, name: str, *, new_name: str | None, description: str | None) -> Dataset:
        body = _given({"name": new_name, "description": description})
        if body.get("name") is None:
            body.pop("name", None)
        return Dataset.model_validate(self._call("PATCH", f"/datasets/{_segment(name)}", json=body))

    def delete_dataset(self, name: str) -> None:
        self._call("DELETE", f"/datasets/{_segment(name)}")

    def list_datasets(self) -> list[Dataset]:
        return [Dataset.model_validate(d) for d in self._call("GET", "/datasets")["datasets"]]

    def _add(self, dataset_name: str, body: dict[str, Any]) -> int:
        return int(self._call("POST", f"/datasets/{_segment(dataset_name)}/examples", json=body)["added"])

    def create_examples(self, dataset_name: str, examples: Iterable[Mapping[str, Any]]) -> int:
        fields = ("inputs", "outputs", "metadata", "split")
        items = [{key: example[key] for key in fields if example.get(key) is not None} for example in examples]
        chunks = [items[start : start + _EXAMPLES_PER_CALL] for start in range(0, len(items), _EXAMPLES_PER_CALL)]
        return sum(self._add(dataset_name, {"examples": _jsonable(chunk)}) for chunk in chunks)

    def create_examples_from_runs(self, dataset_name: str, run_ids: Iterable[str | UUID], split: str | None) -> int:
        ids = [str(r) for r in run_ids]
        return sum(self._add(dataset_name, {"run_ids": ids[start : start + _RUNS_PAGE], "split": split}) for start in range(0, len(ids), _RUNS_PAGE))

    def create_example_from_run(self, run_id: str | UUID, dataset_name: str, split: str | None) -> Example:
        """Added by the server (which picks the reference output), then read back: the
        dataset's newest example made from this run."""
        self.create_examples_from_runs(dataset_name, [run_id], split)
        count = self.read_dataset(dataset_name).example_count
        wanted = UUID(str(run_id))
        for example in reversed(self.list_examples(dataset_name, None, 100, max(0, count - 100))):
            if example.source_run_id == wanted:
                return example
        raise NotFound(f"The example made from run {run_id} is not in dataset {dataset_name!r} any more.")

    def create_examples_from_filter(self, dataset_name: str, project_name: str, run_type: str | None, filter: Any, split: str | None) -> int:
        """The matching runs, oldest first as in local mode."""
        if callable(filter):
            ids = [str(run.id) for run in self.list_runs(project_name, run_type, filter, None, status=None, trace_id=None, parent_run_id=None, offset=0)]
        else:
            ids = [row["id"] for row in self._rows(project_name, run_type, filter)]
        return self.create_examples_from_runs(dataset_name, reversed(ids), split)

    def read_example(self, example_id: str | UUID) -> Example:
        return Example.model_validate(self._call("GET", f"/examples/{_segment(example_id)}"))

    def list_examples(self, dataset_name: str, split: str | None, limit: int | None, offset: int) -> list[Example]:
        params = [("split", split)] if split is not None else []
        return [Example.model_validate(e) for e in self._offset_pages(f"/datasets/{_segment(dataset_name)}/examples", params, "examples", limit, offset)]

    def _offset_pages(self, path: str, params: list[tuple[str, Any]], name: str, limit: int | None, offset: int) -> list[Any]:
        """The items (`name`) of a list paged by offset, from `offset` to its end or `limit`
        items; a page shorter than asked is the last."""
        found: list[Any] = []
        while limit is None or len(found) < limit:
            size = _OFFSET_PAGE if limit is None else min(_OFFSET_PAGE, limit - len(found))
            batch = self._call("GET", path, params=[*params, ("limit", size), ("offset", offset + len(found))])[name]
            found += batch
            if len(batch) < size:
                break
        return found

    def update_example(self, example_id: str | UUID, **fields: Any) -> Example:
        body = {key: value for key, value in _given(fields).items() if value is not None or key in ("outputs", "split")}
        return Example.model_validate(self._call("PATCH", f"/examples/{_segment(example_id)}", json=_jsonable(body)))

    def delete_example(self, example_id: str | UUID) -> None:
        self._call("DELETE", f"/examples/{_segment(example_id)}")

    # -- export / import --------------------------------------------------------------------------

    def _download(self, path: str, params: dict[str, Any], target: str | os.PathLike[str]) -> None:
        with self._open("GET", path, params=params) as response, open(target, "wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)

    def export_dataset(self, name: str, fmt: str, path: str | os.PathLike[str]) -> int:
        self._download(f"/datasets/{_segment(name)}/export", {"format": fmt}, path)
        return sum(1 for _ in _export.read_records(path, fmt))

    def export_runs(self, project_name: str, fmt: str, path: str | os.PathLike[str], run_type: str | None, filter: Any) -> int:
        if callable(filter):
            raise ValueError("In remote mode, export_runs takes a filter string (the server selects the runs), not a callable.")
        params = {"project": project_name, "scope": "all", "format": fmt, "sort": "start", "direction": "asc"}
        params.update({name: value for name, value in (("run_type", run_type), ("filter", filter)) if value is not None})
        self._download("/runs/export", params, path)
        with open(path, encoding="utf-8", newline="") as written:
            if fmt == "csv":
                import csv

                return sum(1 for _ in csv.DictReader(written))
            return sum(1 for line in written if line.strip())

    def import_dataset(self, path: str | os.PathLike[str], name: str | None, fmt: str | None) -> Dataset:
        """The file is read here, the examples sent; a file that fails midway leaves no dataset."""
        from pathlib import Path

        if not Path(path).is_file():
            raise FileNotFoundError(f"No file {os.fspath(path)!r} to import.")
        records = list(_export.read_records(path, fmt))
        name = name or Path(path).stem
        self.create_dataset(name, f"Imported from {Path(path).name}", None)
        try:
            self.create_examples(name, records)
        except (ValueError, RemoteError):
            self.delete_dataset(name)
            raise
        return self.read_dataset(name)


def _given(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a caller gave (local mode's `_UNSET` marks the others)."""
    from .datasets import _UNSET

    return {key: value for key, value in fields.items() if value is not _UNSET}


def _jsonable(value: Any) -> Any:
    from ._json import to_jsonable

    return to_jsonable(value)
