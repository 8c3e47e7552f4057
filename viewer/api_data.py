"""The JSON API's feedback, datasets and examples (registered by `viewer.api.init_app`; the
conventions are in `viewer.api`'s docstring). Request bodies are pydantic models that refuse
unknown fields, so a misspelt field is a 400 naming it rather than silently ignored.

    POST   /api/v1/feedback                   feedback on a run (source "api")
    GET    /api/v1/feedback?run_id=&key=&limit=&offset=
    GET|PATCH|DELETE /api/v1/feedback/<id>
    GET    /api/v1/feedback-keys              the configured keys, in order
    PUT|DELETE /api/v1/feedback-keys/<key>   add or replace one; stop offering it
    GET|POST /api/v1/datasets
    GET|PATCH|DELETE /api/v1/datasets/<name>
    GET    /api/v1/datasets/<name>/examples?split=&limit=&offset=
    POST   /api/v1/datasets/<name>/examples   given examples, or from runs, or from a filter
    GET    /api/v1/datasets/<name>/export?format=jsonl|csv|openai|langsmith
    GET|PATCH|DELETE /api/v1/examples/<id>
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import TypedDict  # pydantic reads its fields on Python < 3.12

from tracer import datasets, export, feedback_keys
from tracer.schemas import Dataset, Example, Feedback
from tracer.store import browse
from tracer.store.browse_filters import MAX_FILTER, MAX_LIMIT, RUN_TYPES

from . import get_store
from .api import NDJSON, FeedbackList, download
from .errors import BadRequest
from .openapi import PREFIX, Query, route

__all__ = ["bp"]

bp = Blueprint("api_data", __name__, url_prefix=PREFIX)

Name = Annotated[str, Field(min_length=1, max_length=200)]
Split = Annotated[str, Field(min_length=1, max_length=200)]
JsonObject = dict[str, Any]
MAX_IDS = 100
MAX_EXAMPLES = 1000
#: The largest page of a list read by offset (examples, feedback).
MAX_PAGE = 1000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeedbackCreate(_Body):
    run_id: UUID
    #: For example "correctness" or "thumbs".
    key: Name
    #: A number, or a bool (stored as 1 or 0).
    score: bool | float | None = None
    #: Any JSON, e.g. a category.
    value: Any = None
    comment: str | None = None
    #: What the run should have answered (becomes an example's reference output).
    correction: Any = None
    author: Name | None = None


class FeedbackUpdate(_Body):
    """The fields given change (null clears one); the others stay."""

    score: bool | float | None = None
    value: Any = None
    comment: str | None = None
    correction: Any = None
    author: Name | None = None


class FeedbackKeyIn(_Body):
    """A key's kind and what the kind needs: `min` and `max` for score, `categories` for
    categories; `position` moves it (else a new key goes last and a replaced one stays)."""

    kind: feedback_keys.Kind
    description: str | None = None
    min: float | None = None
    max: float | None = None
    categories: Annotated[list[feedback_keys.Category], Field(max_length=feedback_keys.MAX_CATEGORIES)] = Field(default_factory=list)
    position: Annotated[int, Field(ge=0, le=10_000)] | None = None


class FeedbackKeyList(TypedDict):
    feedback_keys: list[feedback_keys.FeedbackKey]


class DatasetCreate(_Body):
    name: Name
    description: str | None = None
    metadata: JsonObject = Field(default_factory=dict)


class DatasetUpdate(_Body):
    """The fields given change; a null description clears it."""

    #: The new name (names are unique).
    name: Name | None = None
    description: str | None = None


class ExampleIn(_Body):
    inputs: JsonObject
    outputs: JsonObject | None = None
    metadata: JsonObject = Field(default_factory=dict)
    split: Split | None = None


class ExamplesCreate(_Body):
    """Exactly one source: `examples` as given; `run_ids`, one example per run; or `project`,
    one per run of the project matching `filter` and `run_type` (every run, not only roots,
    newest first). A run's example holds its inputs and, as reference outputs, its newest
    correction or else its outputs."""

    examples: Annotated[list[ExampleIn], Field(min_length=1, max_length=MAX_EXAMPLES)] | None = None
    run_ids: Annotated[list[UUID], Field(min_length=1, max_length=MAX_LIMIT)] | None = None
    project: Name | None = None
    filter: Annotated[str, Field(max_length=MAX_FILTER)] | None = None
    run_type: Literal[RUN_TYPES] | None = None
    #: The split of the examples made from runs.
    split: Split | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ExamplesCreate:
        given = [name for name in ("examples", "run_ids", "project") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of examples, run_ids or project")
        if self.project is None and (self.filter is not None or self.run_type is not None):
            raise ValueError("filter and run_type go with project")
        if self.examples is not None and self.split is not None:
            raise ValueError("split goes with run_ids or project; each given example has its own")
        return self


class ExampleUpdate(_Body):
    """The fields given change; `inputs` and `metadata` stay when absent or null, `outputs` and
    `split` are cleared by null."""

    inputs: JsonObject | None = None
    outputs: JsonObject | None = None
    metadata: JsonObject | None = None
    split: Split | None = None


class DatasetList(TypedDict):
    datasets: list[Dataset]


class ExampleList(TypedDict):
    examples: list[Example]


class Added(TypedDict):
    #: How many examples were added.
    added: int


RUN_IDS = Query("run_id", Annotated[list[UUID], Field(max_length=MAX_IDS)], "Only feedback on these runs (repeat it for several); default: every run.", many=True)
KEYS = Query("key", Annotated[list[Name], Field(max_length=MAX_IDS)], "Only feedback with one of these keys.", many=True)
SPLIT = Query("split", Split, "Only examples of this split.")
LIMIT = Query("limit", Annotated[int, Field(ge=1, le=MAX_PAGE)], "How many at most; a shorter page is the last.", default=100)
OFFSET = Query("offset", Annotated[int, Field(ge=0, le=2**31)], "How many to skip.", default=0)
DATASET_FORMAT = Query("format", Literal[export.FORMATS], "jsonl (the default), csv, openai or langsmith.", default="jsonl")


# -- feedback ----------------------------------------------------------------------------------


@route(bp, "POST", "/feedback", summary="Leave feedback on a run", tag="feedback", body=FeedbackCreate, response=Feedback, status=201, errors=(404,))
def create_feedback(body: FeedbackCreate) -> Feedback:
    """Recorded with source "api"; 404 when the run is not stored."""
    fields = body.model_dump(exclude={"run_id", "key"})
    return datasets.create_feedback(get_store(), body.run_id, body.key, source="api", **fields)


@route(bp, "GET", "/feedback", summary="List feedback, oldest first, a page at a time", tag="feedback", query=(RUN_IDS, KEYS, LIMIT, OFFSET), response=FeedbackList)
def list_feedback() -> FeedbackList:
    """On the runs given, or on every run (LangSmith's `list_feedback` without run ids); pages
    by `offset` in a total order (creation time, then id), so new feedback only adds pages."""
    found = datasets.list_feedback(get_store(), RUN_IDS.read(), KEYS.read(), limit=LIMIT.read(), offset=OFFSET.read())
    return {"feedback": found}


@route(bp, "GET", "/feedback/<feedback_id>", summary="Read one feedback", tag="feedback", response=Feedback)
def read_feedback(feedback_id: str) -> Feedback:
    return datasets.read_feedback(get_store(), feedback_id)


@route(bp, "PATCH", "/feedback/<feedback_id>", summary="Change a feedback", tag="feedback", body=FeedbackUpdate, response=Feedback)
def update_feedback(feedback_id: str, body: FeedbackUpdate) -> Feedback:
    return datasets.update_feedback(get_store(), feedback_id, **body.model_dump(include=body.model_fields_set))


@route(bp, "DELETE", "/feedback/<feedback_id>", summary="Delete a feedback", tag="feedback")
def delete_feedback(feedback_id: str) -> None:
    datasets.delete_feedback(get_store(), feedback_id)


# -- feedback keys -----------------------------------------------------------------------------


@route(bp, "GET", "/feedback-keys", summary="List the configured feedback keys, in order", tag="feedback", response=FeedbackKeyList)
def list_feedback_keys() -> FeedbackKeyList:
    """The viewer shows a control for each (thumbs, stars, score, categories, text); with none
    configured, the defaults (`thumbs` and `correctness` stars)."""
    return {"feedback_keys": feedback_keys.list_feedback_keys(get_store())}


@route(bp, "PUT", "/feedback-keys/<path:key>", summary="Add a feedback key, or replace the one of that name", tag="feedback", body=FeedbackKeyIn, response=feedback_keys.FeedbackKey)
def put_feedback_key(key: str, body: FeedbackKeyIn) -> feedback_keys.FeedbackKey:
    try:
        config = feedback_keys.FeedbackKey(key=key, **body.model_dump())
    except ValidationError as exc:
        raise BadRequest(feedback_keys.problem(exc)) from None
    return feedback_keys.set_feedback_key(get_store(), config)


@route(bp, "DELETE", "/feedback-keys/<path:key>", summary="Stop offering a feedback key (its feedback stays)", tag="feedback")
def delete_feedback_key(key: str) -> None:
    feedback_keys.delete_feedback_key(get_store(), key)


# -- datasets ----------------------------------------------------------------------------------


@route(bp, "GET", "/datasets", summary="List datasets by name", tag="datasets", response=DatasetList)
def list_datasets() -> DatasetList:
    return {"datasets": datasets.list_datasets(get_store())}


@route(bp, "POST", "/datasets", summary="Create an empty dataset", tag="datasets", body=DatasetCreate, response=Dataset, status=201)
def create_dataset(body: DatasetCreate) -> Dataset:
    """400 when the name is taken."""
    return datasets.create_dataset(get_store(), body.name, body.description, body.metadata)


@route(bp, "GET", "/datasets/<path:name>", summary="Read a dataset", tag="datasets", response=Dataset)
def read_dataset(name: str) -> Dataset:
    return datasets.read_dataset(get_store(), name)


@route(bp, "PATCH", "/datasets/<path:name>", summary="Rename a dataset or change its description", tag="datasets", body=DatasetUpdate, response=Dataset)
def update_dataset(name: str, body: DatasetUpdate) -> Dataset:
    """400 when the new name is taken."""
    changes = body.model_dump(include=body.model_fields_set)
    return datasets.update_dataset(get_store(), name, new_name=changes.pop("name", None), **changes)


@route(bp, "DELETE", "/datasets/<path:name>", summary="Delete a dataset and its examples", tag="datasets")
def delete_dataset(name: str) -> None:
    datasets.delete_dataset(get_store(), name)


@route(bp, "GET", "/datasets/<path:name>/examples", summary="List a dataset's examples in the order they were added", tag="datasets", query=(SPLIT, LIMIT, OFFSET), response=ExampleList)
def list_examples(name: str) -> ExampleList:
    found = datasets.list_examples(get_store(), name, split=SPLIT.read(), limit=LIMIT.read(), offset=OFFSET.read())
    return {"examples": found}


@route(bp, "POST", "/datasets/<path:name>/examples", summary="Add examples: given, from runs, or from the runs matching a filter", tag="datasets", body=ExamplesCreate, response=Added, status=201)
def add_examples(name: str, body: ExamplesCreate) -> Added:
    """404 for a dataset, run or project that is not stored; 400 for a bad filter."""
    store = get_store()
    if body.examples is not None:
        added = datasets.add_examples(store, name, [example.model_dump() for example in body.examples])
    elif body.run_ids is not None:
        added = datasets.add_examples_from_runs(store, name, body.run_ids, split=body.split)
    else:
        assert body.project is not None
        f = browse.RunFilter(project=body.project, scope="all", run_type=body.run_type, filter=body.filter)
        added = datasets.add_examples_from_runs(store, name, browse.matching_run_ids(store, f), split=body.split)
    return {"added": added}


@route(
    bp, "GET", "/datasets/<path:name>/export", summary="Download a dataset", tag="datasets", query=(DATASET_FORMAT,),
    stream=(NDJSON, "text/csv"),
)
def export_dataset(name: str) -> Response:
    """The formats of `tracer export dataset`: jsonl (`{inputs, outputs, metadata, feedback}`),
    csv, openai (chat fine-tuning JSONL) and langsmith; `tracer import dataset` reads them back."""
    fmt = DATASET_FORMAT.read()
    return download(export.dataset_text(get_store(), name, fmt), name, fmt)


# -- examples ----------------------------------------------------------------------------------


@route(bp, "GET", "/examples/<example_id>", summary="Read an example", tag="examples", response=Example)
def read_example(example_id: str) -> Example:
    return datasets.read_example(get_store(), example_id)


@route(bp, "PATCH", "/examples/<example_id>", summary="Change an example", tag="examples", body=ExampleUpdate, response=Example)
def update_example(example_id: str, body: ExampleUpdate) -> Example:
    return datasets.update_example(get_store(), example_id, **body.model_dump(include=body.model_fields_set))


@route(bp, "DELETE", "/examples/<example_id>", summary="Delete an example", tag="examples")
def delete_example(example_id: str) -> None:
    datasets.delete_example(get_store(), example_id)
