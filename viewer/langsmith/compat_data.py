"""Feedback, datasets and examples as LangSmith's client manages them, through `tracer.datasets`
(the one writer of feedback, datasets and examples) with the conventions of `compat.py`.

    POST /feedback   GET /feedback?run=&key=&source=   GET|PATCH|DELETE /feedback/<id>
    GET|POST /datasets (?name=&name_contains=&id=&metadata=)   GET|PATCH|DELETE /datasets/<id>
    GET|POST /examples (?dataset=&id=&splits=&metadata=)   POST|PATCH /examples/bulk
    GET|PATCH|DELETE /examples/<id>

Feedback keeps the id the client chose (it reads, updates and deletes by that id), with source
"api" and `feedback_source.user_name` as its author. The client sends it right after tracing,
when its run may still be on the way (in its own queue, or in this server's ingestion): it is
stored at once, run or no run (`create_feedback(require_run=False)`), and joins the run by
`run_id` when the run lands. Feedback on a whole project (no `run_id`) is a 400: ours judges runs.

A dataset is found by id or name; `data_type` is always "kv" (inputs and outputs are objects),
`extra.metadata` is its metadata. An example has one split or none: LangSmith's list of splits
is taken when it has one item, and answered as `metadata.dataset_split` as LangSmith does.
Bulk creation assigns the ids the client did not send and answers the created examples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Annotated, Any, TypeVar
from uuid import UUID

from flask import Blueprint, Response, request
from pydantic import BaseModel, ConfigDict, Field, RootModel

from tracer import datasets
from tracer._ids import uuid7
from tracer.schemas import Dataset, Example, Feedback
from tracer.store import NotFound, Store, browse

from .. import get_store
from ..errors import BadRequest
from . import PREFIX
from .compat import MAX_PAGE, arg_ids, arg_int, arg_metadata, body, conflict, page, reply, route

__all__ = ["bp"]

bp = Blueprint("langsmith_data", __name__, url_prefix=PREFIX)

#: A bulk upload's body may be this large (the client sends batches of up to 20 MB).
BULK_BYTES = 32 * 1024 * 1024
Key = Annotated[str, Field(min_length=1, max_length=datasets.MAX_KEY)]
T = TypeVar("T")


# -- feedback ---------------------------------------------------------------------------------


def _feedback(item: Feedback) -> dict[str, Any]:
    return {
        **item.model_dump(exclude={"source", "author"}),
        "feedback_source": {"type": item.source or "api", "metadata": {}, "user_id": None, "user_name": item.author},
        "session_id": None,
        "extra": None,
    }


class FeedbackSource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_name: str | None = None


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: UUID | None = None
    run_id: UUID | None = None
    trace_id: UUID | None = None
    key: Key
    score: bool | float | None = None
    value: Any = None
    comment: str | None = None
    correction: Any = None
    feedback_source: FeedbackSource | None = None


class FeedbackChange(BaseModel):
    """Only the fields sent change; null clears one."""

    model_config = ConfigDict(extra="ignore")

    score: bool | float | None = None
    value: Any = None
    comment: str | None = None
    correction: Any = None


def _find(read: Callable[[Store, Any], T], key: Any) -> T | None:
    """What `read` finds for `key` (None for a None key, or when there is none)."""
    if key is None:
        return None
    try:
        return read(get_store(), key)
    except NotFound:
        return None


@route(bp, "POST", "/feedback")
def create_feedback() -> Response:
    given = body(FeedbackIn)
    run_id = given.run_id or given.trace_id
    if run_id is None:
        raise BadRequest("Feedback here is on a run: send run_id (or trace_id).")
    if _find(datasets.read_feedback, given.id) is not None:
        raise conflict(f"There is already feedback with id {given.id}.")
    created = datasets.create_feedback(
        get_store(),
        run_id,
        given.key,
        score=given.score,
        value=given.value,
        comment=given.comment,
        correction=given.correction,
        source="api",
        author=given.feedback_source.user_name if given.feedback_source else None,
        feedback_id=given.id,
        trace_id=given.trace_id,
        require_run=False,
    )
    return reply(_feedback(created), 201)


@route(bp, "GET", "/feedback")
def list_feedback() -> Response:
    """Oldest first; `source` is our source (api, sdk or ui)."""
    found = datasets.list_feedback(get_store(), arg_ids("run"), request.args.getlist("key") or None)
    sources = request.args.getlist("source")
    if sources:
        found = [item for item in found if item.source in sources]
    return reply([_feedback(item) for item in page(found)])


@route(bp, "GET", "/feedback/<feedback_id>")
def read_feedback(feedback_id: str) -> Response:
    return reply(_feedback(datasets.read_feedback(get_store(), feedback_id)))


@route(bp, "PATCH", "/feedback/<feedback_id>")
def update_feedback(feedback_id: str) -> Response:
    change = body(FeedbackChange)
    updated = datasets.update_feedback(get_store(), feedback_id, **change.model_dump(include=change.model_fields_set))
    return reply(_feedback(updated))


@route(bp, "DELETE", "/feedback/<feedback_id>")
def delete_feedback(feedback_id: str) -> Response:
    datasets.delete_feedback(get_store(), feedback_id)
    return Response(status=204)


# -- datasets ---------------------------------------------------------------------------------


def _dataset(item: Dataset) -> dict[str, Any]:
    return {**item.model_dump(), "data_type": "kv", "session_count": 0, "inputs_schema_definition": None, "outputs_schema_definition": None}


def _dataset_by_id(dataset_id: str | UUID) -> Dataset:
    try:
        key = UUID(str(dataset_id))
    except ValueError:
        raise NotFound(f"No dataset with id {dataset_id!r}: that is not a UUID.") from None
    for item in datasets.list_datasets(get_store()):
        if item.id == key:
            return item
    raise NotFound(f"No dataset with id {key} in the store.")


@route(bp, "GET", "/datasets")
def list_datasets() -> Response:
    """By name; `data_type` other than "kv" finds none."""
    found = datasets.list_datasets(get_store())
    names, ids, contains = request.args.getlist("name"), arg_ids("id"), request.args.get("name_contains")
    wanted = arg_metadata()
    found = [
        item
        for item in found
        if (not names or item.name in names)
        and (ids is None or str(item.id) in ids)
        and (not contains or contains.lower() in item.name.lower())
        and (wanted is None or all(item.metadata.get(k) == v for k, v in wanted.items()))
        and request.args.get("data_type", "kv") == "kv"
    ]
    return reply([_dataset(item) for item in page(found)])


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=1000)]
    description: str | None = None
    extra: dict[str, Any] | None = None


class DatasetChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    description: str | None = None


@route(bp, "POST", "/datasets")
def create_dataset() -> Response:
    """409 when the name is taken."""
    given = body(DatasetIn)
    if _find(datasets.read_dataset, given.name) is not None:
        raise conflict(f"A dataset named {given.name!r} already exists.")
    metadata = (given.extra or {}).get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("extra.metadata must be an object.")
    return reply(_dataset(datasets.create_dataset(get_store(), given.name, given.description, metadata)), 201)


@route(bp, "GET", "/datasets/<dataset_id>")
def read_dataset(dataset_id: str) -> Response:
    return reply(_dataset(_dataset_by_id(dataset_id)))


@route(bp, "PATCH", "/datasets/<dataset_id>")
def update_dataset(dataset_id: str) -> Response:
    """Renames (409 when the name is taken) and describes."""
    change = body(DatasetChange)
    name = _dataset_by_id(dataset_id).name
    if change.name is not None and change.name != name and _find(datasets.read_dataset, change.name) is not None:
        raise conflict(f"A dataset named {change.name!r} already exists.")
    fields = change.model_dump(include=change.model_fields_set - {"name"})
    return reply(_dataset(datasets.update_dataset(get_store(), name, new_name=change.name, **fields)))


@route(bp, "DELETE", "/datasets/<dataset_id>")
def delete_dataset(dataset_id: str) -> Response:
    """The dataset and its examples."""
    datasets.delete_dataset(get_store(), _dataset_by_id(dataset_id).name)
    return Response(status=204)


# -- examples ---------------------------------------------------------------------------------


def _example(item: Example) -> dict[str, Any]:
    data = item.model_dump(exclude={"split"})
    if item.split is not None:
        data["metadata"] = {**item.metadata, "dataset_split": [item.split]}
    return {**data, "attachment_urls": None}


def _split(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        if len(value) > 1:
            raise BadRequest("An example here belongs to one split at most.")
        return value[0] if value else None
    return value


class ExampleIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: UUID | None = None
    dataset_id: UUID
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    split: str | list[str] | None = None
    source_run_id: UUID | None = None
    use_source_run_io: bool = False


class ExamplesIn(RootModel[Annotated[list[ExampleIn], Field(max_length=10_000)]]):
    pass


class ExampleChange(BaseModel):
    """The client sends only what changes (and the example's dataset)."""

    model_config = ConfigDict(extra="ignore")

    id: UUID | None = None
    dataset_id: UUID | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    split: str | list[str] | None = None


class ExampleChanges(RootModel[Annotated[list[ExampleChange], Field(max_length=10_000)]]):
    pass


def _new_example(given: ExampleIn) -> dict[str, Any]:
    """What `datasets.add_examples` takes, with an id (the client's, else a new one); 409
    when the id is taken."""
    if _find(datasets.read_example, given.id) is not None:
        raise conflict(f"There is already an example with id {given.id}.")
    item: dict[str, Any] = {"inputs": given.inputs, "outputs": given.outputs, "metadata": given.metadata or {}}
    if given.use_source_run_io and given.source_run_id is not None:
        store = get_store()
        run = browse.run_detail(store, given.source_run_id)
        made = datasets.example_from_run(run, browse.run_feedback(store, run.id))
        item = {**made, "metadata": {**made["metadata"], **item["metadata"]}}
    elif given.inputs is None:
        raise BadRequest("An example needs inputs (or use_source_run_io with a source_run_id).")
    return {**item, "id": str(given.id or uuid7()), "split": _split(given.split), "source_run_id": given.source_run_id}


def _add(given: Iterable[ExampleIn]) -> list[dict[str, Any]]:
    """Add the examples (each to its dataset), and answer them as stored."""
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    ids = []
    for example in given:
        item = _new_example(example)
        by_dataset.setdefault(_dataset_by_id(example.dataset_id).name, []).append(item)
        ids.append(item["id"])
    store = get_store()
    for name, items in by_dataset.items():
        datasets.add_examples(store, name, items)
    return [_example(datasets.read_example(store, example_id)) for example_id in ids]


@route(bp, "POST", "/examples")
def create_example() -> Response:
    return reply(_add([body(ExampleIn)])[0], 201)


@route(bp, "POST", "/examples/bulk")
def create_examples() -> Response:
    """Examples without ids get new ones; the answer lists them all, as stored."""
    request.max_content_length = BULK_BYTES
    return reply(_add(body(ExamplesIn).root), 201)


def _change(example_id: str | UUID, change: ExampleChange) -> Example:
    current = datasets.read_example(get_store(), example_id)
    if change.dataset_id is not None and change.dataset_id != current.dataset_id:
        raise BadRequest("An example stays in its dataset here: dataset_id cannot change.")
    fields = change.model_dump(include=change.model_fields_set - {"id", "dataset_id"})
    if "split" in fields:
        fields["split"] = _split(fields["split"])
    return datasets.update_example(get_store(), current.id, **fields)


@route(bp, "PATCH", "/examples/bulk")
def update_examples() -> Response:
    request.max_content_length = BULK_BYTES
    changes = body(ExampleChanges).root
    if any(change.id is None for change in changes):
        raise BadRequest("Each example to change needs its id.")
    updated = [str(_change(change.id, change).id) for change in changes if change.id is not None]
    return reply({"message": f"{len(updated)} examples updated", "count": len(updated), "example_ids": updated})


@route(bp, "GET", "/examples")
def list_examples() -> Response:
    """The examples of `dataset` in the order they were added, or those of `id`."""
    if request.args.get("filter") or request.args.get("as_of"):
        raise BadRequest("Example filters and dataset versions (filter, as_of) are not supported here.")
    dataset, ids = request.args.get("dataset"), arg_ids("id")
    store = get_store()
    if dataset is not None:
        found: Iterable[Example] = datasets.iter_examples(store, _dataset_by_id(dataset).name)
    elif ids is not None:
        found = [item for item in (_find(datasets.read_example, example_id) for example_id in ids) if item is not None]
    else:
        raise BadRequest("Name the dataset (dataset=<id>) or the examples (id=...).")
    splits, wanted = set(request.args.getlist("splits")), arg_metadata()
    chosen = (
        item
        for item in found
        if (ids is None or str(item.id) in ids)
        and (not splits or item.split in splits)
        and (wanted is None or all(item.metadata.get(k) == v for k, v in wanted.items()))
    )
    offset = arg_int("offset", 0, 2**31)
    return reply([_example(item) for item in islice(chosen, offset, offset + arg_int("limit", MAX_PAGE, MAX_PAGE))])


@route(bp, "GET", "/examples/<example_id>")
def read_example(example_id: str) -> Response:
    return reply(_example(datasets.read_example(get_store(), example_id)))


@route(bp, "PATCH", "/examples/<example_id>")
def update_example(example_id: str) -> Response:
    return reply(_example(_change(example_id, body(ExampleChange))))


@route(bp, "DELETE", "/examples/<example_id>")
def delete_example(example_id: str) -> Response:
    datasets.delete_example(get_store(), example_id)
    return Response(status=204)
