"""The review queue, and the settings page of the feedback keys it labels with.

    GET  /feedback-keys                  the configured keys; `?edit=<key>` fills the form with one
    POST /feedback-keys                  `action`: save (add or replace), delete, up, down
    GET  /projects/<name>/review         the runs of a runs-page filter, one at a time (`?run=<id>`)

The queue's query string is the runs table's (`RunFilter`, its cursor ignored): the queue walks
that list in its order, from its first run, with `run_neighbors` for "previous" and "next". A
label is posted to the run's feedback form (`viewer.feedback`) with `next` set to the following
run, so saving moves on; the last run comes back to itself. "N of M" comes from one read of the
list's first `MAX_LIMIT` rows (the most a runs page shows, an index range read): a longer list
says "of 500+" rather than count every match, which for a search or a filter expression over a
big project would scan it.

Keyboard shortcuts (`shortcuts`) are given out here, so the page can print them beside the
buttons and review.js only binds what it finds: 1-5 for the first stars key, u / d for the first
thumbs key, a free letter (the label's own first, if it can) for each category; j / k move,
c goes to the comment, Enter saves, ? lists them.
"""

from __future__ import annotations

import string
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request
from pydantic import ValidationError

from tracer.feedback_keys import (
    KINDS,
    FeedbackKey,
    delete_feedback_key,
    list_feedback_keys,
    problem,
    read_feedback_key,
    reorder_feedback_keys,
    set_feedback_key,
)
from tracer.store import browse
from tracer.store.browse_filters import MAX_LIMIT

from . import get_store, path_segment
from .conversation import conversation
from .errors import BadRequest, NotFound
from .feedback import configured_keys

__all__ = ["bp", "shortcuts"]

bp = Blueprint("review", __name__)

#: Letters the queue keeps for itself: next, previous, comment (u / d go to a thumbs key).
_MOVES = frozenset("jkc")


# -- feedback keys ----------------------------------------------------------------------------


@bp.get("/feedback-keys")
def keys() -> str:
    store = get_store()
    configured = list_feedback_keys(store)
    editing = read_feedback_key(store, request.args["edit"]) if request.args.get("edit") else None
    return render_template(
        "feedback_keys.html",
        keys=configured,
        defaults=all(config.created_at is None for config in configured),
        editing=editing,
        kinds=KINDS,
        categories_text=_categories_text(editing) if editing is not None else "",
    )


@bp.post("/feedback-keys")
def change_keys() -> Any:
    store = get_store()
    action = request.form.get("action", "save")
    key = request.form.get("key", "").strip()
    if action == "save":
        config = _key_of_form(request.form)
        original = request.form.get("original", "").strip()
        if original and original != config.key:  # a rename keeps the key's place
            config = config.model_copy(update={"position": read_feedback_key(store, original).position})
        set_feedback_key(store, config)
        if original and original != config.key:
            delete_feedback_key(store, original)
        flash(f"Saved the feedback key {config.key!r}.", "success")
    elif action == "delete":
        delete_feedback_key(store, key)
        flash(f"Deleted the feedback key {key!r}; its feedback stays on the runs.", "success")
    elif action in ("up", "down"):
        order = [config.key for config in list_feedback_keys(store)]
        if key not in order:
            raise NotFound(f"No feedback key named {key!r} is configured.")
        at = order.index(key)
        to = at - 1 if action == "up" else at + 1
        if 0 <= to < len(order):
            order[at], order[to] = order[to], order[at]
            reorder_feedback_keys(store, order)
    else:
        raise BadRequest("The action must be save, delete, up or down.")
    return redirect("/feedback-keys", code=303)


def _bound(form: Any, name: str, what: str) -> float | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise BadRequest(f"The {what} must be a number, not {text[:40]!r}.") from None


def _categories(text: str) -> list[dict[str, Any]]:
    """One category a line: `label`, or `label = score`."""
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        label, _, score = line.rpartition("=")
        try:
            found.append({"label": label, "value": float(score)} if label.strip() else {"label": line})
        except ValueError:
            found.append({"label": line})
    return found


def _categories_text(config: FeedbackKey) -> str:
    return "\n".join(c.label if c.value is None else f"{c.label} = {c.value:g}" for c in config.categories)


def _key_of_form(form: Any) -> FeedbackKey:
    kind = form.get("kind", "")
    data: dict[str, Any] = {"key": form.get("key", ""), "kind": kind, "description": form.get("description") or None}
    if kind == "score":
        data["min"], data["max"] = _bound(form, "min", "minimum"), _bound(form, "max", "maximum")
    if kind == "categories":
        data["categories"] = _categories(form.get("categories", ""))
    try:
        return FeedbackKey.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(problem(exc)) from None


# -- the review queue -------------------------------------------------------------------------


def shortcuts(configured: list[FeedbackKey]) -> dict[tuple[str, str], str]:
    """(key, raw input) -> the keyboard key that chooses it (see the module docstring)."""
    found: dict[tuple[str, str], str] = {}
    stars = next((config for config in configured if config.kind == "stars"), None)
    if stars is not None:
        found.update({(stars.key, raw): raw for raw, _label in stars.choices()})
    thumbs = next((config for config in configured if config.kind == "thumbs"), None)
    if thumbs is not None:
        found.update({(thumbs.key, "up"): "u", (thumbs.key, "down"): "d"})
    taken = set(_MOVES) | set(found.values())
    for config in configured:
        if config.kind != "categories":
            continue
        for raw, label in config.choices():
            letter = next((ch for ch in label.lower() + string.ascii_lowercase if ch in string.ascii_lowercase and ch not in taken), None)
            if letter is not None:
                found[(config.key, raw)] = letter
                taken.add(letter)
    return found


def _position(store: Any, f: browse.RunFilter, run_id: str) -> tuple[int | None, int | None]:
    """(place of the run in the list, length of the list), each None past the first page."""
    page = browse.list_run_rows(store, replace(f, limit=MAX_LIMIT))
    ids = [row.id for row in page.rows]
    return (ids.index(run_id) + 1 if run_id in ids else None), (len(ids) if page.next_cursor is None else None)


@bp.get("/projects/<path:name>/review")
def review(name: str) -> str:
    store = get_store()
    f = replace(browse.RunFilter.from_query(request.args, project=name), cursor=None)
    query = f.to_query()
    base = f"/projects/{path_segment(name)}"

    def at(run_id: str | None) -> str | None:
        return None if run_id is None else f"{base}/review?{urlencode({**query, 'run': run_id})}"

    runs_url = f"{base}?{urlencode(query)}" if query else base
    chosen = request.args.get("run", "").strip()
    if chosen:
        run = browse.run_detail(store, chosen)
        if run.project != name:
            raise NotFound(f"The run {chosen[:60]!r} is not part of the project {name!r}.")
    else:
        first = browse.list_run_rows(store, replace(f, limit=1)).rows
        if not first:
            return render_template("review.html", run=None, project=name, current_project=name, runs_url=runs_url)
        run = browse.run_detail(store, first[0].id)
    run_id = str(run.id)
    previous, following = browse.run_neighbors(store, run_id, f)
    position, total = _position(store, f, run_id)
    return render_template(
        "review.html",
        run=run,
        project=name,
        current_project=name,
        runs_url=runs_url,
        conversation=conversation(run.run_type, run.inputs, run.outputs, run.events),
        feedback=browse.run_feedback(store, run_id),
        prev_url=at(previous),
        next_url=at(following),
        here_url=at(run_id),
        position=position,
        total=total,
        limit=MAX_LIMIT,
        shortcuts=shortcuts(configured_keys()),
    )
