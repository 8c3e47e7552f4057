"""`RunFilter`: what the viewer's runs table shows, as it travels in a URL's query string.

A filter is a frozen value checked when it is made: a bad value raises `ValueError` with one
sentence naming the parameter and what it accepts, which the viewer turns into a 400 page.
`RunFilter.from_query(args)` reads query arguments (empty values count as absent, unknown
names are ignored: the page has arguments of its own); `to_query()` writes back only what
differs from the defaults, so `from_query(f.to_query(), project=f.project) == f`. The project
is not part of the query: it is in the page's path (`/projects/<name>`).

`filter` is a filter-language expression (`tracer.filters`); one that does not parse raises
`FilterError`, a `ValueError` whose `.position` the viewer and the API report.

The page cursor is opaque to the viewer: URL-safe base64 of a small JSON array with the sort it
belongs to and the last row's sort key and id (see `browse.py`). A cursor from another sort or
direction, or one that does not decode, is a `ValueError` too.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from typing import Any

from .._filter_parse import parse_filter

__all__ = ["RunFilter", "Position", "SCOPES", "SORTS", "DIRECTIONS", "RUN_TYPES", "STATUSES", "MAX_LIMIT"]

SCOPES = ("root", "all", "llm")
SORTS = ("start", "latency", "tokens", "cost")
DIRECTIONS = ("desc", "asc")
RUN_TYPES = ("llm", "chain", "tool", "retriever", "embedding", "prompt", "parser")
STATUSES = ("success", "error", "running", "pending")
MAX_LIMIT = 500
MAX_SEARCH = 500
MAX_FILTER = 4_000
_TEXT_LIMIT = 1_000  # model names, tags, feedback keys


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")
    return value


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}.") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {text!r}.")
    return value


def _time(name: str, value: str | datetime) -> datetime:
    """An aware UTC datetime from ISO 8601 text (a date alone is its midnight; no zone is UTC)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"{name} must be a date or a date and time like 2025-03-01T12:00:00Z, not {value!r}."
                ) from None
            parsed = datetime(day.year, day.month, day.day)
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _text(name: str, value: str) -> str:
    if len(value) > _TEXT_LIMIT:
        raise ValueError(f"{name} must be at most {_TEXT_LIMIT} characters long.")
    return value


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a row stands in a sorted list: its segment (0: rows with a value to sort on,
    1: rows without, listed after, by start time), its key in that segment, and its id."""

    segment: int
    key: Any  # datetime for "start" and segment 1, else a number
    id: str


@dataclass(frozen=True)
class RunFilter:
    """Which runs of a project to list, in what order, from which page."""

    project: str | None = None
    #: "root": traces (runs without a parent); "all": every run; "llm": model calls only.
    scope: str = "root"
    run_type: str | None = None
    status: str | None = None
    model: str | None = None
    tag: str | None = None
    #: Runs with a feedback of this key, with a score within [feedback_min, feedback_max].
    feedback_key: str | None = None
    feedback_min: float | None = None
    feedback_max: float | None = None
    #: Runs started at or after `since` and before `until` (aware; naive ones are taken as UTC).
    since: datetime | None = None
    until: datetime | None = None
    min_latency_ms: float | None = None
    #: Words and "phrases" to find in the runs' inputs, outputs and errors (see `search.py`).
    search: str | None = None
    #: An expression of the filter language (`tracer.filters`), e.g. `gt(latency, 2)`.
    filter: str | None = None
    sort: str = "start"
    direction: str = "desc"
    limit: int = 50
    #: The page after this one's: `RunPage.next_cursor` of the previous page.
    cursor: str | None = None

    def __post_init__(self) -> None:
        _one_of("scope", self.scope, SCOPES)
        _one_of("sort", self.sort, SORTS)
        _one_of("direction", self.direction, DIRECTIONS)
        if self.run_type is not None:
            _one_of("run_type", self.run_type, RUN_TYPES)
        if self.status is not None:
            _one_of("status", self.status, STATUSES)
        for name in ("project", "model", "tag", "feedback_key"):
            value = getattr(self, name)
            if value is not None:
                _text(name, value)
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {self.limit!r}.")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _time(name, value))
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be earlier than until.")
        if (self.feedback_min is not None or self.feedback_max is not None) and self.feedback_key is None:
            raise ValueError("feedback_min and feedback_max need feedback_key, the key of the feedback to filter on.")
        if self.feedback_min is not None and self.feedback_max is not None and self.feedback_min > self.feedback_max:
            raise ValueError("feedback_min must not be greater than feedback_max.")
        if self.min_latency_ms is not None and self.min_latency_ms < 0:
            raise ValueError("min_latency_ms must be zero or more.")
        if self.search is not None and len(self.search) > MAX_SEARCH:
            raise ValueError(f"search must be at most {MAX_SEARCH} characters long.")
        if self.filter is not None:
            if len(self.filter) > MAX_FILTER:
                raise ValueError(f"filter must be at most {MAX_FILTER} characters long.")
            parse_filter(self.filter)  # a FilterError (a ValueError) names the position
        if self.cursor is not None:
            self.position()  # Raises for a cursor that is not one of this sort's.

    # -- the URL --------------------------------------------------------------------------------

    @classmethod
    def from_query(cls, args: Mapping[str, str], *, project: str | None = None) -> RunFilter:
        """The filter of a page's query arguments (`project` comes from the page's path)."""
        values: dict[str, Any] = {}
        for name in _QUERY_FIELDS:
            raw = args.get(name)
            if raw is None or not str(raw).strip():
                continue
            # A filter expression stays as typed: the position of an error counts from its start.
            text = str(raw) if name == "filter" else str(raw).strip()
            if name in ("feedback_min", "feedback_max", "min_latency_ms"):
                values[name] = _number(name, text)
            elif name == "limit":
                if not text.isdigit():
                    raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {text!r}.")
                values[name] = int(text)
            elif name in ("since", "until"):
                values[name] = _time(name, text)
            else:
                values[name] = text
        if project is not None:
            values["project"] = project
        elif args.get("project"):
            values["project"] = str(args["project"])
        return cls(**values)

    def to_query(self) -> dict[str, str]:
        """The query arguments of this filter: only what differs from the defaults."""
        query: dict[str, str] = {}
        for name in _QUERY_FIELDS:
            value = getattr(self, name)
            if value == _DEFAULTS[name]:
                continue
            if isinstance(value, datetime):
                query[name] = value.isoformat().replace("+00:00", "Z")
            elif isinstance(value, float):
                query[name] = _format_number(value)
            else:
                query[name] = str(value)
        return query

    # -- the cursor -----------------------------------------------------------------------------

    def position(self) -> Position | None:
        """Where the page starts (after this position), from the cursor; None: the first page."""
        if self.cursor is None:
            return None
        return decode_cursor(self.cursor, self.sort, self.direction)


_QUERY_FIELDS = tuple(field.name for field in fields(RunFilter) if field.name != "project")
_DEFAULTS = {field.name: field.default for field in fields(RunFilter)}


def encode_cursor(sort: str, direction: str, position: Position) -> str:
    key = position.key
    if isinstance(key, datetime):
        key = ["t", key.astimezone(timezone.utc).isoformat()]
    payload = json.dumps([sort, direction, position.segment, key, position.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, direction: str) -> Position:
    bad = ValueError("cursor is not a page of this list; start again from the first page.")
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        cursor_sort, cursor_direction, segment, key, run_id = payload
    except (ValueError, TypeError, binascii.Error):
        raise bad from None
    if (cursor_sort, cursor_direction) != (sort, direction):
        raise ValueError(
            f"cursor belongs to a list sorted by {cursor_sort} ({cursor_direction}), not by {sort} ({direction}); "
            "start again from the first page."
        )
    if segment not in (0, 1) or not isinstance(run_id, str):
        raise bad
    try:
        if sort == "start" or segment == 1:
            if not (isinstance(key, list) and len(key) == 2 and key[0] == "t"):
                raise bad
            key = _time("cursor", key[1])
        elif isinstance(key, bool) or not isinstance(key, (int, float)):
            raise bad
    except ValueError:
        raise bad from None
    return Position(segment, key, run_id)
