"""Feedback from the browser: labels posted from a run's feedback section or the review queue.

    POST /runs/<run_id>/feedback          add feedback (form below)
    GET  /runs/<run_id>/feedback          the feedback section alone, an HTML fragment for scripts
    POST /feedback/<feedback_id>          change a feedback given in the viewer
    POST /feedback/<feedback_id>/delete   delete one

The form of a run's section carries, for each configured key (`tracer.feedback_keys`), a field
`label.<key>` with its control's raw input (a clicked button's value, a number, a text), read by
`score_for` and stored in the keys' order: a key that is not configured, or input its control
could not send, is a 400. The free fields `key` and `score` record any key with any number, as
the SDK can, and `thumb` is short for `label.thumbs`. `comment` and `correction` (JSON when it
parses as JSON, else the text) go with the first label of the submission, so they are stored
once; with no label they need `key`. Every write goes through `tracer.datasets` with source
"ui"; only feedback given in the viewer can be changed or deleted here (the SDK's and the API's
belong to the code that sent them).

The CSRF check (`viewer.security`) has run before these views. A browser is redirected (303)
to `next` when it is a path on this server (else to the run page); a client that prefers JSON
gets the stored feedback back (201 on creation).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request
from werkzeug.datastructures import MultiDict

from tracer import datasets
from tracer.feedback_keys import FeedbackKey, list_feedback_keys, score_for
from tracer.schemas import Feedback
from tracer.store import browse

from . import get_store
from .errors import BadRequest, Forbidden, wants_json
from .security import safe_next

__all__ = ["bp", "configured_keys", "labels_of"]

bp = Blueprint("feedback", __name__)

MAX_KEY = 100
MAX_TEXT = 100_000
LABEL_PREFIX = "label."
SOURCE = "ui"


@dataclass(frozen=True, slots=True)
class Label:
    """One feedback a submission asks for."""

    key: str
    score: float | None
    value: Any = None


@bp.app_template_global("feedback_keys")
def configured_keys() -> list[FeedbackKey]:
    """The keys whose controls the viewer shows, read once per request."""
    if "feedback_keys" not in g:
        g.feedback_keys = list_feedback_keys(get_store())
    return g.feedback_keys  # type: ignore[no-any-return]


@bp.app_template_global("feedback_raw")
def raw_of(item: Feedback, config: FeedbackKey | None) -> str:
    """The raw input that would give `item` again: what an edit form starts from."""
    if config is not None and config.kind in ("thumbs", "categories", "text") and item.value is not None:
        return str(item.value)
    if item.score is None:
        return ""
    return str(int(item.score)) if item.score.is_integer() else repr(item.score)


@bp.app_template_global("feedback_key_of")
def key_of(item: Feedback) -> FeedbackKey | None:
    return next((config for config in configured_keys() if config.key == item.key), None)


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"The score must be a number; got {text[:40]!r}.") from None
    if not math.isfinite(value):
        raise BadRequest("The score must be a finite number.")
    return value


def _label(config: FeedbackKey, raw: str) -> Label:
    try:
        score, value = score_for(config, raw)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise BadRequest(f"Texts are limited to {MAX_TEXT} characters.")
    return Label(config.key, score, value)


def labels_of(form: MultiDict[str, str], keys: list[FeedbackKey]) -> list[Label]:
    """The labels of a submission: configured keys in their order, then the free key."""
    raw: dict[str, str] = {}
    for name, text in form.items(multi=True):
        if name.startswith(LABEL_PREFIX) and text.strip():
            raw.setdefault(name[len(LABEL_PREFIX) :], text)
    if form.get("thumb", "").strip():
        raw.setdefault("thumbs", form["thumb"])
    unknown = set(raw) - {config.key for config in keys}
    if unknown:
        raise BadRequest(f"No feedback key named {min(unknown)[:MAX_KEY]!r} is configured; add it on the feedback keys page.")
    found = [_label(config, raw[config.key]) for config in keys if config.key in raw]
    key = form.get("key", "").strip()
    if len(key) > MAX_KEY:
        raise BadRequest(f"The feedback key is longer than {MAX_KEY} characters.")
    score = _number(form.get("score", ""))
    if score is not None and not key:
        raise BadRequest("Give the feedback a key (for example 'correctness').")
    if key and score is not None:
        found.append(Label(key, score))
    return found


def _correction(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _notes(form: MultiDict[str, str]) -> tuple[str | None, Any]:
    comment = form.get("comment", "").strip() or None
    correction = _correction(form.get("correction", ""))
    if (comment is not None and len(comment) > MAX_TEXT) or (isinstance(correction, str) and len(correction) > MAX_TEXT):
        raise BadRequest(f"Comments and corrections are limited to {MAX_TEXT} characters.")
    return comment, correction


def _done(stored: list[Feedback], fallback: str, status: int = 200) -> Any:
    if wants_json():
        items = [item.model_dump(mode="json") for item in stored]
        return jsonify({"feedback": items[0] if items else None, "created": items}), status
    return redirect(safe_next(request.form.get("next"), fallback), code=303)


@bp.post("/runs/<run_id>/feedback")
def add(run_id: str) -> Any:
    store = get_store()
    run = browse.run_detail(store, run_id)  # NotFound -> 404 before anything is written
    labels = labels_of(request.form, configured_keys())
    comment, correction = _notes(request.form)
    if not labels:
        key = request.form.get("key", "").strip()
        if comment is None and correction is None:
            raise BadRequest("Give a score, a comment or a correction.")
        if not key:
            raise BadRequest("Choose a label, or give a key for the comment.")
        labels = [Label(key, None)]
    stored = []
    for index, label in enumerate(labels):
        notes = {"comment": comment, "correction": correction} if index == 0 else {}
        stored.append(datasets.create_feedback(store, run.id, label.key, score=label.score, value=label.value, source=SOURCE, **notes))
    return _done(stored, f"/runs/{run.id}", 201)


@bp.get("/runs/<run_id>/feedback")
def section(run_id: str) -> Response:
    store = get_store()
    run = browse.run_detail(store, run_id)
    html = render_template(
        "_feedback.html",
        run=run,
        feedback=browse.run_feedback(store, str(run.id)),
        feedback_next=safe_next(request.args.get("next"), f"/runs/{run.id}"),
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _own(feedback_id: str) -> Feedback:
    item = datasets.read_feedback(get_store(), feedback_id)
    if item.source != SOURCE:
        raise Forbidden(f"This feedback came from the {item.source or 'unknown'} source; only feedback given in the viewer can be changed here.")
    return item


@bp.post("/feedback/<feedback_id>")
def edit(feedback_id: str) -> Any:
    item = _own(feedback_id)
    config = key_of(item)
    raw = request.form.get("raw", "")
    label: dict[str, Any] = {}
    if config is None:
        label = {"score": _number(raw)}
    elif raw.strip():  # an empty control keeps the label as it was
        chosen = _label(config, raw)
        label = {"score": chosen.score, "value": chosen.value}
    comment, correction = _notes(request.form)
    changed = datasets.update_feedback(get_store(), item.id, comment=comment, correction=correction, **label)
    return _done([changed], f"/runs/{item.run_id}")


@bp.post("/feedback/<feedback_id>/delete")
def remove(feedback_id: str) -> Any:
    item = _own(feedback_id)
    datasets.delete_feedback(get_store(), item.id)
    return _done([], f"/runs/{item.run_id}")
