"""Datasets in the viewer: list, create, rename and delete them; read and edit their examples;
turn runs into examples from the run page, from a selection of the runs table, or from every
run matching the table's filter.

    GET  /datasets                                   the datasets, a create form, downloads
    POST /datasets                                   create one (name, description)
    GET  /datasets/<name>                            its examples (?split=, ?page=), add one by hand
    POST /datasets/<name>/rename                     new_name
    GET  /datasets/<name>/delete                     asks for confirmation (a page, not a dialog)
    POST /datasets/<name>/delete                     deletes it and its examples
    POST /datasets/<name>/examples                   add an example by hand
    POST /datasets/<name>/examples/<id>              edit one (inputs, outputs, metadata as JSON; split)
    POST /datasets/<name>/examples/<id>/delete       delete one
    GET  /runs/add-to-dataset?run=...                choose the dataset for runs ticked in the table
    GET  /runs/add-to-dataset?project=P&<filter>     ... for every run matching the table's filter
    POST /runs/add-to-dataset                        add them; a dataset name not taken yet is created

The runs table's checkboxes belong to its compare form, a GET, and a CSRF token must never ride
in a URL: so "Add selected…" GETs a page that carries the selection into a POST form. The run
page posts directly. After adding, the browser goes back (303, `next`) with a flash message
saying how many examples were added, linking the dataset.

Names are matched as paths: a dataset name may hold "/" (one ending in "/rename", "/delete" or
"/examples/..." has its page shadowed by those actions). Store work goes through
`tracer.datasets`; downloads link to the JSON API's
streaming exports, `/api/v1/datasets/<name>/export` and `/api/v1/runs/export`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request
from markupsafe import Markup
from werkzeug.wrappers import Response

from tracer import datasets as data
from tracer.export import FORMATS
from tracer.schemas import Example, Run
from tracer.store import NotFound, Store, browse
from tracer.store.browse_filters import MAX_LIMIT

from . import get_store, path_segment
from .conversation import pretty_json
from .errors import BadRequest
from .security import safe_next

__all__ = ["bp"]

bp = Blueprint("datasets", __name__)

PAGE_SIZE = 25
#: At most this many runs ticked at once: one runs page at its largest.
MAX_SELECTED = MAX_LIMIT
MAX_NAME = 200
MAX_TEXT = 10_000
MAX_SPLIT = 100
#: Splits offered as you type (any other may be typed).
COMMON_SPLITS = ("train", "test", "validation")


# -- template helpers ---------------------------------------------------------------------------


@bp.app_template_global()
def dataset_names() -> list[str]:
    """Names offered by the "add to dataset" fields (a datalist: any new name may be typed)."""
    return [dataset.name for dataset in data.list_datasets(get_store())]


@bp.app_template_global()
def common_splits() -> tuple[str, ...]:
    return COMMON_SPLITS


@bp.app_template_global()
def dataset_export_url(name: str, fmt: str) -> str:
    return f"/api/v1/datasets/{path_segment(name)}/export?{urlencode({'format': fmt})}"


@bp.app_template_global()
def runs_export_url(project: str, query: Mapping[str, str], fmt: str) -> str:
    """The runs download of a runs page: every run of its list (all pages), in a format."""
    return f"/api/v1/runs/export?{urlencode({**_without_cursor(query), 'project': project, 'format': fmt})}"


@bp.app_template_global()
def add_matching_url(project: str, query: Mapping[str, str], back: str) -> str:
    """The page adding every run that a runs page's filter matches (on any page of it)."""
    return f"/runs/add-to-dataset?{urlencode({**_without_cursor(query), 'project': project, 'next': back})}"


def _without_cursor(query: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in query.items() if key != "cursor"}


# -- form values --------------------------------------------------------------------------------


def _text(field: str, label: str, limit: int, *, required: bool = False) -> str:
    """A form field's text, stripped ("" when absent)."""
    value = request.form.get(field, "").strip()
    if len(value) > limit:
        raise BadRequest(f"The {label} is longer than {limit} characters.")
    if required and not value:
        raise BadRequest(f"Give the {label}.")
    return value


def _json_object(field: str, label: str, *, required: bool = False) -> dict[str, Any] | None:
    """A JSON object typed into a text area; empty is None (unless `required`)."""
    text = request.form.get(field, "").strip()
    if not text:
        if required:
            raise BadRequest(f"The {label} are required: a JSON object such as {{\"question\": \"...\"}}.")
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"The {label} are not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except RecursionError:
        raise BadRequest(f"The {label} are nested too deeply.") from None
    if not isinstance(value, dict):
        raise BadRequest(f"The {label} must be a JSON object ({{...}}), not {type(value).__name__}.")
    return value


def _split() -> str | None:
    return _text("split", "split", MAX_SPLIT) or None


def _back(fallback: str) -> Response:
    return redirect(safe_next(request.form.get("next"), fallback), code=303)


def _url(dataset_name: str) -> str:
    return f"/datasets/{path_segment(dataset_name)}"


# -- datasets -----------------------------------------------------------------------------------


@bp.get("/datasets")
def index() -> str:
    return render_template("datasets.html", datasets=data.list_datasets(get_store()), formats=FORMATS)


@bp.post("/datasets")
def create() -> Response:
    name = _text("name", "dataset's name", MAX_NAME, required=True)
    created = data.create_dataset(get_store(), name, _text("description", "description", MAX_TEXT) or None)
    flash(f"Created the dataset {created.name}.", "success")
    return redirect(_url(created.name), code=303)


@bp.post("/datasets/<path:name>/rename")
def rename(name: str) -> Response:
    new_name = _text("new_name", "new name", MAX_NAME, required=True)
    renamed = data.rename_dataset(get_store(), name, new_name)
    flash(f"Renamed the dataset {name} to {renamed.name}.", "success")
    return _back("/datasets")


@bp.get("/datasets/<path:name>/delete")
def confirm_delete(name: str) -> str:
    return render_template("dataset_delete.html", dataset=data.read_dataset(get_store(), name))


@bp.post("/datasets/<path:name>/delete")
def delete(name: str) -> Response:
    store = get_store()
    count = data.read_dataset(store, name).example_count
    data.delete_dataset(store, name)
    flash(f"Deleted the dataset {name} and its {_examples(count)}.", "success")
    return redirect("/datasets", code=303)


# -- examples -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedbackNote:
    """One feedback of an example's source run, as its metadata holds it (edited text may hold
    anything, so every part is checked)."""

    key: str
    score: float | None
    value: str | None
    comment: str | None

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> FeedbackNote:
        score, value, comment = item.get("score"), item.get("value"), item.get("comment")
        return cls(
            key=str(item.get("key", "")),
            score=float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
            value=None if value is None else value if isinstance(value, str) else json.dumps(value, default=str),
            comment=None if comment is None else str(comment),
        )


@dataclass(frozen=True, slots=True)
class ExampleView:
    """An example as its page shows it: JSON texts to edit, and what its metadata says of its run."""

    example: Example
    inputs_json: str
    outputs_json: str
    metadata_json: str
    source_run_id: str | None
    feedback: list[FeedbackNote]


def _view(example: Example) -> ExampleView:
    source = example.source_run_id or example.metadata.get("source_run_id")
    found = example.metadata.get("feedback")
    return ExampleView(
        example=example,
        inputs_json=pretty_json(example.inputs),
        outputs_json="" if example.outputs is None else pretty_json(example.outputs),
        metadata_json=pretty_json(example.metadata),
        source_run_id=None if source is None else str(source),
        feedback=[FeedbackNote.of(item) for item in found if isinstance(item, Mapping)] if isinstance(found, list) else [],
    )


def _page_number() -> int:
    text = request.args.get("page", "1").strip() or "1"
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(f"The page must be a whole number from 1; got {text[:40]!r}.")
    return int(text)


@bp.get("/datasets/<path:name>")
def dataset(name: str) -> str:
    store = get_store()
    found = data.read_dataset(store, name)
    split = request.args.get("split", "").strip() or None
    number = _page_number()
    examples = data.list_examples(store, found.name, split=split, limit=PAGE_SIZE + 1, offset=(number - 1) * PAGE_SIZE)
    query = {"split": split} if split else {}
    here = _url(found.name) + "?" + urlencode({**query, "page": number})
    return render_template(
        "dataset.html",
        dataset=found,
        examples=[_view(example) for example in examples[:PAGE_SIZE]],
        split=split,
        page_number=number,
        previous_url=_url(found.name) + "?" + urlencode({**query, "page": number - 1}) if number > 1 else None,
        next_url=_url(found.name) + "?" + urlencode({**query, "page": number + 1}) if len(examples) > PAGE_SIZE else None,
        here=here,
        formats=FORMATS,
    )


@bp.post("/datasets/<path:name>/examples")
def add_example(name: str) -> Response:
    store = get_store()
    found = data.read_dataset(store, name)
    example = {
        "inputs": _json_object("inputs", "inputs", required=True),
        "outputs": _json_object("outputs", "reference outputs"),
        "metadata": _json_object("metadata", "metadata") or {},
        "split": _split(),
    }
    data.add_examples(store, found.name, [example])
    flash("Added an example.", "success")
    return redirect(_url(found.name), code=303)


def _example_of(store: Store, dataset_name: str, example_id: str) -> Example:
    """The example, when it belongs to this dataset (`NotFound` otherwise)."""
    found = data.read_dataset(store, dataset_name)
    example = data.read_example(store, example_id)
    if example.dataset_id != found.id:
        raise NotFound(f"The dataset {dataset_name!r} has no example with id {example_id}.")
    return example


@bp.post("/datasets/<path:name>/examples/<example_id>")
def edit_example(name: str, example_id: str) -> Response:
    store = get_store()
    example = _example_of(store, name, example_id)
    data.update_example(
        store,
        example.id,
        inputs=_json_object("inputs", "inputs", required=True),
        outputs=_json_object("outputs", "reference outputs"),
        metadata=_json_object("metadata", "metadata") or {},
        split=_split(),
    )
    flash("Saved the example.", "success")
    return _back(_url(name))


@bp.post("/datasets/<path:name>/examples/<example_id>/delete")
def delete_example(name: str, example_id: str) -> Response:
    store = get_store()
    data.delete_example(store, _example_of(store, name, example_id).id)
    flash("Deleted the example.", "success")
    return _back(_url(name))


# -- runs into examples -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """The runs to add: the ones ticked (`runs`), or every run of `project` matching `filter`."""

    project: str
    runs: list[Run]
    filter: browse.RunFilter | None = None

    def fields(self) -> list[tuple[str, str]]:
        """The hidden fields that carry this source through the form."""
        if self.filter is None:
            return [("run", str(run.id)) for run in self.runs]
        return [*self.filter.to_query().items(), ("project", self.project)]


def _source(values: Any) -> Source:
    """The runs a request names: `run` (repeated), or `project` with the runs table's filter."""
    ids = list(dict.fromkeys(value.strip() for value in values.getlist("run") if value.strip()))
    if ids:
        if len(ids) > MAX_SELECTED:
            raise BadRequest(f"Add at most {MAX_SELECTED} ticked runs at a time; {len(ids)} were ticked.")
        store = get_store()
        runs = [browse.run_detail(store, run_id) for run_id in ids]
        return Source(runs[0].project, runs)
    project = values.get("project", "").strip()
    if not project:
        raise BadRequest("Tick at least one run in the runs table to add it to a dataset.")
    # A bad filter value raises ValueError: a 400 naming it (`viewer.errors`).
    return Source(project, [], replace(browse.RunFilter.from_query(values, project=project), cursor=None))


@bp.get("/runs/add-to-dataset")
def choose_dataset() -> str:
    source = _source(request.args)
    back = safe_next(request.args.get("next"), f"/projects/{path_segment(source.project)}")
    return render_template("dataset_add.html", source=source, back=back)


@bp.post("/runs/add-to-dataset")
def add_runs() -> Response:
    store = get_store()
    source = _source(request.form)
    name = _text("dataset", "dataset's name", MAX_NAME, required=True)
    split = _split()
    ids = [str(run.id) for run in source.runs] if source.filter is None else list(browse.matching_run_ids(store, source.filter))
    if not ids:
        raise BadRequest("No run matches this filter, so there is nothing to add.")
    created = _dataset_or_new(store, name)
    added = data.add_examples_from_runs(store, name, ids, split=split)
    # Markup.format escapes the name and the count: the message is HTML only for the link.
    message = "Created the dataset {0} and added {1} to it." if created else "Added {1} to the dataset {0}."
    flash(Markup(message).format(Markup('<a href="{}">{}</a>').format(_url(name), name), _examples(added)), "success")
    return _back(_url(name))


def _dataset_or_new(store: Store, name: str) -> bool:
    """Make sure a dataset named `name` exists; True when it had to be created."""
    try:
        data.read_dataset(store, name)
    except NotFound:
        data.create_dataset(store, name)
        return True
    return False


def _examples(count: int) -> str:
    return f"{count} example" if count == 1 else f"{count} examples"
