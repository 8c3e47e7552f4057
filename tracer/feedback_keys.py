"""Feedback keys: which labels people give runs, and how each is entered and scored.

A key's `kind` decides the viewer's control and how a control's raw input becomes a feedback's
`score` and `value` (`score_for`), so every face stores the same numbers for the same choice:

    thumbs      two buttons; up -> score 1, down -> score 0 (value "up" / "down")
    stars       five buttons; n stars -> score n (1..5)
    score       a number input within [min, max] -> that score
    categories  a button per category; its label is the value, its optional number the score
    text        a text box; the text is the value, no score

Keys live in the store's `feedback_keys` table, ordered by `position`. While none is configured
the viewer shows `DEFAULT_KEYS` (thumbs as `thumbs`, `correctness` as stars): a store works
out of the box. The first change writes the defaults before applying itself, so adding a key
keeps the two the person was already using; deleting every key brings the defaults back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from ._json import dumps, loads
from .store.browse_common import utc
from .store.errors import NotFound, StoreError
from .store.tables import feedback_keys

if TYPE_CHECKING:
    from .store.store import Store

__all__ = [
    "KINDS",
    "Category",
    "FeedbackKey",
    "DEFAULT_KEYS",
    "list_feedback_keys",
    "read_feedback_key",
    "set_feedback_key",
    "delete_feedback_key",
    "reorder_feedback_keys",
    "score_for",
    "problem",
]

Kind = Literal["thumbs", "stars", "score", "categories", "text"]
KINDS: tuple[str, ...] = ("thumbs", "stars", "score", "categories", "text")
MAX_KEY = 100
MAX_LABEL = 100
MAX_CATEGORIES = 26  # one letter each in the review queue
STARS = 5
THUMBS = {"up": 1.0, "down": 0.0}
_THUMB_WORDS = {"up": "up", "+": "up", "1": "up", "true": "up", "down": "down", "-": "down", "0": "down", "false": "down"}


def _finite(value: float | None, name: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number.")
    return value


def _name(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit or any(ord(char) < 32 for char in value):
        raise ValueError(f"{what} must be 1 to {limit} characters of text on one line.")
    return value


class Category(BaseModel):
    """One choice of a categories key: its label (stored as the feedback's value) and an
    optional score."""

    model_config = ConfigDict(frozen=True)

    label: str
    value: float | None = None

    @field_validator("label")
    @classmethod
    def _label(cls, label: str) -> str:
        return _name(label, "A category's label", MAX_LABEL)

    @field_validator("value")
    @classmethod
    def _value(cls, value: float | None) -> float | None:
        return _finite(value, "A category's score")


class FeedbackKey(BaseModel):
    """A configured feedback key: its name, kind, and what the kind needs (see the module)."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: Kind
    description: str | None = None
    #: Bounds of a `score` key (both needed, min < max); None for the other kinds.
    min: float | None = None
    max: float | None = None
    #: The choices of a `categories` key (at least one, labels unique); empty for the others.
    categories: tuple[Category, ...] = ()
    #: Order among the keys; None when setting a new key puts it last.
    position: int | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None

    _utc_times = field_validator("created_at", "modified_at")(utc)

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        return _name(key, "A feedback key", MAX_KEY)

    @field_validator("description")
    @classmethod
    def _description(cls, description: str | None) -> str | None:
        return description.strip() or None if description is not None else None

    @model_validator(mode="after")
    def _fits_kind(self) -> FeedbackKey:
        if self.kind == "score":
            if self.min is None or self.max is None:
                raise ValueError("A score key needs a minimum and a maximum.")
            _finite(self.min, "The minimum")
            _finite(self.max, "The maximum")
            if self.min >= self.max:
                raise ValueError("A score key's minimum must be less than its maximum.")
        elif self.min is not None or self.max is not None:
            raise ValueError(f"Only score keys have a minimum and a maximum, not {self.kind} keys.")
        if self.kind == "categories":
            labels = [category.label for category in self.categories]
            if not labels:
                raise ValueError("A categories key needs at least one category.")
            if len(labels) > MAX_CATEGORIES:
                raise ValueError(f"A categories key has at most {MAX_CATEGORIES} categories.")
            if len(set(labels)) != len(labels):
                raise ValueError("A categories key's labels must all be different.")
        elif self.categories:
            raise ValueError(f"Only categories keys have categories, not {self.kind} keys.")
        return self

    def choices(self) -> list[tuple[str, str]]:
        """(raw input, label) of each button of a thumbs, stars or categories control."""
        if self.kind == "thumbs":
            return [("up", "Thumbs up"), ("down", "Thumbs down")]
        if self.kind == "stars":
            return [(str(n), f"{n} star{'s' if n > 1 else ''}") for n in range(1, STARS + 1)]
        return [(category.label, category.label) for category in self.categories]


DEFAULT_KEYS: tuple[FeedbackKey, ...] = (
    FeedbackKey(key="thumbs", kind="thumbs", description="Was the reply good?", position=0),
    FeedbackKey(key="correctness", kind="stars", description="How correct was the reply, 1 to 5 stars?", position=1),
)


def problem(error: ValidationError) -> str:
    """The first problem pydantic found, as the sentence a person reads."""
    first = error.errors()[0]
    message = str(first.get("msg", "The feedback key is not valid."))
    message = message.removeprefix("Value error, ")
    field = ".".join(str(part) for part in first.get("loc", ()))
    if first.get("type") != "value_error" and field:
        message = f"{field}: {message}"
    return message if message.endswith(".") else message + "."


def score_for(config: FeedbackKey, raw: Any) -> tuple[float | None, Any]:
    """(score, value) of a control's raw input for `config`'s kind; `ValueError` with a
    sentence for input the control could not have sent."""
    text = raw.strip() if isinstance(raw, str) else raw
    if text is None or text == "":
        raise ValueError(f"Give a value for {config.key!r}.")
    if config.kind == "thumbs":
        word = _THUMB_WORDS.get(str(text).lower())
        if word is None:
            raise ValueError(f"{config.key!r} is thumbs up or down, not {str(text)[:40]!r}.")
        return THUMBS[word], word
    if config.kind == "text":
        return None, str(text)
    if config.kind == "categories":
        for category in config.categories:
            if category.label == text:
                return category.value, category.label
        labels = ", ".join(category.label for category in config.categories)
        raise ValueError(f"{config.key!r} is one of {labels}; not {str(text)[:40]!r}.")
    number = _number(config, text)
    if config.kind == "stars":
        if number not in range(1, STARS + 1):
            raise ValueError(f"{config.key!r} is 1 to {STARS} stars, not {str(text)[:40]!r}.")
        return number, None
    assert config.min is not None and config.max is not None
    if not config.min <= number <= config.max:
        raise ValueError(f"{config.key!r} is a score from {config.min:g} to {config.max:g}, not {number:g}.")
    return number, None


def _number(config: FeedbackKey, raw: Any) -> float:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(raw, bool) or not math.isfinite(number):
        raise ValueError(f"{config.key!r} needs a number, not {str(raw)[:40]!r}.")
    return number


# -- the store --------------------------------------------------------------------------------


def _from_row(row: Any) -> FeedbackKey:
    data = dict(row._mapping)
    data["min"], data["max"] = data.pop("min_score"), data.pop("max_score")
    data["categories"] = loads(data["categories"]) if data["categories"] else ()
    return FeedbackKey.model_validate(data)


def _to_row(config: FeedbackKey) -> dict[str, Any]:
    categories = [category.model_dump() for category in config.categories]
    return {
        "kind": config.kind,
        "description": config.description,
        "min_score": config.min,
        "max_score": config.max,
        "categories": dumps(categories) if categories else None,
    }


def _failed(exc: SQLAlchemyError, doing: str) -> StoreError:
    return StoreError(f"Could not {doing}: {getattr(exc, 'orig', None) or exc}")


def _stored(connection: Connection) -> list[FeedbackKey]:
    statement = select(*feedback_keys.c).order_by(feedback_keys.c.position, feedback_keys.c.key)
    return [_from_row(row) for row in connection.execute(statement)]


def list_feedback_keys(store: Store) -> list[FeedbackKey]:
    """The configured keys in order, or `DEFAULT_KEYS` while none is."""
    try:
        with store.engines.reader.connect() as connection:
            return _stored(connection) or list(DEFAULT_KEYS)
    except SQLAlchemyError as exc:
        raise _failed(exc, "read the feedback keys") from exc


def read_feedback_key(store: Store, key: str) -> FeedbackKey:
    """One key of `list_feedback_keys` (`NotFound` when there is none of that name)."""
    for config in list_feedback_keys(store):
        if config.key == key:
            return config
    raise NotFound(f"No feedback key named {key!r} is configured.")


def _materialize_defaults(connection: Connection, now: datetime) -> None:
    """Write the defaults when the table is empty: the list the viewer showed becomes real."""
    if connection.execute(select(func.count()).select_from(feedback_keys)).scalar():
        return
    for index, config in enumerate(DEFAULT_KEYS):
        connection.execute(feedback_keys.insert(), {"key": config.key, "position": index, "created_at": now, "modified_at": now, **_to_row(config)})


def set_feedback_key(store: Store, config: FeedbackKey) -> FeedbackKey:
    """Add the key, or replace the one of that name (keeping its place unless `position` is
    given); returns it as stored."""
    now = datetime.now(timezone.utc)
    try:
        with store.engines.writer.begin() as connection:
            _materialize_defaults(connection, now)
            found = connection.execute(select(feedback_keys.c.position).where(feedback_keys.c.key == config.key)).first()
            if found is None:
                last = connection.execute(select(func.max(feedback_keys.c.position))).scalar()
                position = config.position if config.position is not None else (-1 if last is None else last) + 1
                connection.execute(feedback_keys.insert(), {"key": config.key, "position": position, "created_at": now, "modified_at": now, **_to_row(config)})
            else:
                position = config.position if config.position is not None else found.position
                connection.execute(update(feedback_keys).where(feedback_keys.c.key == config.key).values(position=position, modified_at=now, **_to_row(config)))
            return _from_row(connection.execute(select(*feedback_keys.c).where(feedback_keys.c.key == config.key)).one())
    except SQLAlchemyError as exc:
        raise _failed(exc, "save the feedback key") from exc


def delete_feedback_key(store: Store, key: str) -> None:
    """Stop offering the key (its feedback stays); `NotFound` when there is none of that name."""
    try:
        with store.engines.writer.begin() as connection:
            _materialize_defaults(connection, datetime.now(timezone.utc))
            if connection.execute(delete(feedback_keys).where(feedback_keys.c.key == key)).rowcount == 0:
                raise NotFound(f"No feedback key named {key!r} is configured.")
    except SQLAlchemyError as exc:
        raise _failed(exc, "delete the feedback key") from exc


def reorder_feedback_keys(store: Store, keys: Sequence[str]) -> list[FeedbackKey]:
    """Put the keys in this order (every configured key, each once; `ValueError` otherwise)."""
    now = datetime.now(timezone.utc)
    try:
        with store.engines.writer.begin() as connection:
            _materialize_defaults(connection, now)
            known = set(connection.execute(select(feedback_keys.c.key)).scalars())
            if sorted(keys) != sorted(known):
                raise ValueError("Reordering needs every configured feedback key, each once.")
            for position, key in enumerate(keys):
                connection.execute(update(feedback_keys).where(feedback_keys.c.key == key).values(position=position, modified_at=now))
            return _stored(connection)
    except SQLAlchemyError as exc:
        raise _failed(exc, "reorder the feedback keys") from exc
