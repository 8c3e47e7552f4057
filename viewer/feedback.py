"""Feedback from the browser: `POST /runs/<run_id>/feedback`, a form from the run page or panel.

Fields: `thumb` ("up"/"down": key `thumbs`, score 1 or 0), or `key` with an optional `score`;
then `comment` and `correction` (JSON when it parses as JSON, else the text). At least a
score, a comment or a correction is needed. The CSRF check (`viewer.security`) has run before
this view: the form carries `csrf_token`, a script the `X-CSRF-Token` header.

A browser is redirected (303) to `next` when it is a path on this server (else to the run
page); a client that prefers JSON gets the stored feedback back, 201.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, redirect, request

from tracer.store import browse

from . import get_store
from .errors import BadRequest, wants_json

__all__ = ["bp"]

bp = Blueprint("feedback", __name__)

MAX_KEY = 100
MAX_TEXT = 100_000
THUMBS = {"up": 1.0, "down": 0.0}


def _score(text: str) -> float | None:
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


def _correction(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _safe_next(target: str | None, fallback: str) -> str:
    """A path on this server, never another site (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    parts = urlsplit(target)
    return fallback if parts.scheme or parts.netloc else target


@bp.post("/runs/<run_id>/feedback")
def add(run_id: str) -> Any:
    form = request.form
    store = get_store()
    run = browse.run_detail(store, run_id)  # NotFound -> 404 before anything is written
    comment = form.get("comment", "").strip() or None
    correction = _correction(form.get("correction", ""))
    thumb = form.get("thumb", "").strip()
    if thumb:
        if thumb not in THUMBS:
            raise BadRequest("A thumb is either up or down.")
        key, score, value = "thumbs", THUMBS[thumb], thumb
    else:
        key = form.get("key", "").strip()
        if not key:
            raise BadRequest("Give the feedback a key (for example 'correctness').")
        score, value = _score(form.get("score", "")), None
        if score is None and comment is None and correction is None:
            raise BadRequest("Give a score, a comment or a correction.")
    if len(key) > MAX_KEY:
        raise BadRequest(f"The feedback key is longer than {MAX_KEY} characters.")
    if (comment is not None and len(comment) > MAX_TEXT) or (isinstance(correction, str) and len(correction) > MAX_TEXT):
        raise BadRequest(f"Comments and corrections are limited to {MAX_TEXT} characters.")
    stored = browse.add_feedback(
        store, str(run.id), key, score=score, value=value, comment=comment, correction=correction, source="viewer"
    )
    if wants_json():
        return jsonify({"feedback": _as_json(stored)}), 201
    return redirect(_safe_next(form.get("next"), f"/runs/{run.id}"), code=303)


def _as_json(feedback: Any) -> Any:
    if hasattr(feedback, "model_dump"):
        return feedback.model_dump(mode="json")
    if hasattr(feedback, "__dataclass_fields__"):
        from dataclasses import asdict

        return json.loads(json.dumps(asdict(feedback), default=str))
    return str(feedback)
