"""One filter language for runs: `list_runs`, export, the API and the viewer's URL (issue #5).

LangSmith's style: `eq`, `neq`, `gt`, `gte`, `lt`, `lte` over a field and a value, `has(tags, "x")`,
`search("words")`, and `and(...)`, `or(...)`, `not(...)`. For example::

    and(eq(run_type, "llm"), gt(latency, 2.5), has(tags, "prod"), eq(metadata.user, "u1"))
    and(eq(feedback_key, "correctness"), gte(feedback_score, 0.5))

`parse_filter(text)` gives a small typed AST (frozen dataclasses) or a `FilterError` with the
0-based `.position` of the problem; `to_sqlalchemy(f)` turns it into a boolean SQLAlchemy
expression over `tracer.store.tables.runs` (never SQL text: every value is a bound parameter);
`matches(f, run, feedback)` evaluates it in plain Python, with the same answers.

Semantics (the same in SQL and in Python):

- Every comparison is two-valued: a missing value (NULL) is never `eq`, `gt`... to anything but
  `null`, and `neq(f, v)` is exactly `not(eq(f, v))`. `eq(parent_run_id, null)` = root runs.
- `gt`... order numbers and times only. Times are ISO 8601 strings (no zone = UTC).
  `latency` is in seconds (compared as the stored milliseconds). `is_root` and `error`
  (the run has an error) take `true`/`false`.
- `metadata.<key>` (key of letters, digits, `_`, `-`) compares the JSON value typed: a string
  equals only a string, a number only a number (booleans are not numbers), `eq(.., null)` is a
  missing key or a JSON null; `gt`... need a number.
- LangSmith's pairs: `eq(metadata_key, K)` (the run's metadata has key K), `eq(metadata_value, V)`
  (some metadata value is the string V), `eq(feedback_key, K)` (a feedback with key K) and
  `feedback_score` comparisons (a feedback with such a score). When exactly one
  `eq(metadata_key, K)` is a direct child of an `and`, every `eq(metadata_value, V)` beside it
  applies to that same key; when exactly one `eq(feedback_key, K)` is, every `feedback_score`
  comparison beside it applies to that same feedback. Otherwise each stands alone.
- `search("words")` is the store's full-text search (`tracer.store.search`): every word and
  "phrase" must occur (a trailing `*` is a prefix), ignoring case and accents. On SQLite it
  reads the FTS5 index; elsewhere (or `fts=False`) each word is matched with ILIKE over the run
  document (which also sees JSON keys). `matches` follows the FTS semantics.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Float, Text, and_, cast, column, exists, func, literal, not_, or_, select, table, true

from ._filter_parse import (
    COMPARISONS,
    FIELDS,
    And,
    Compare,
    Filter,
    FilterError,
    Has,
    Not,
    Or,
    Search,
    Value,
    field_kind,
    parse_filter,
    parse_time,
    render_filter,
)
from .store.search import FTS_TABLE, TEXT_TABLE, search_terms, searchable_text
from .store.tables import feedback as feedback_table
from .store.tables import runs

__all__ = [
    "Filter",
    "FilterError",
    "Compare",
    "Has",
    "Search",
    "And",
    "Or",
    "Not",
    "Value",
    "COMPARISONS",
    "FIELDS",
    "parse_filter",
    "render_filter",
    "to_sqlalchemy",
    "matches",
    "RunTest",
    "sql_or_test",
]

_COLUMNS = {
    "name": runs.c.name,
    "run_type": runs.c.run_type,
    "status": runs.c.status,
    "model_name": runs.c.model_name,
    "id": runs.c.id,
    "trace_id": runs.c.trace_id,
    "parent_run_id": runs.c.parent_run_id,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "latency": runs.c.latency_ms,
    "prompt_tokens": runs.c.prompt_tokens,
    "completion_tokens": runs.c.completion_tokens,
    "total_tokens": runs.c.total_tokens,
    "cost": runs.c.cost,
}


# -- grouping of LangSmith's key/value pairs (shared by both evaluations) ----------------------------


@dataclass(frozen=True)
class _MetaGroup:
    key: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class _FeedbackGroup:
    key: str | None
    scores: tuple[Compare, ...]


def _lone(f: Filter) -> Any:
    if isinstance(f, Compare):
        if f.field == "metadata_key":
            return _MetaGroup(f.value, ())  # type: ignore[arg-type]
        if f.field == "metadata_value":
            return _MetaGroup(None, (f.value,))  # type: ignore[arg-type]
        if f.field == "feedback_key":
            return _FeedbackGroup(f.value, ())  # type: ignore[arg-type]
        if f.field == "feedback_score":
            return _FeedbackGroup(None, (f,))
    return f


def _and_parts(items: Iterable[Filter]) -> list[Any]:
    """The conditions of an `and`: its children, with the pairs of LangSmith's style grouped."""
    items = list(items)
    meta_keys = [f for f in items if isinstance(f, Compare) and f.field == "metadata_key"]
    fb_keys = [f for f in items if isinstance(f, Compare) and f.field == "feedback_key"]
    parts: list[Any] = []
    if len(meta_keys) == 1:
        values = tuple(f.value for f in items if isinstance(f, Compare) and f.field == "metadata_value")
        parts.append(_MetaGroup(meta_keys[0].value, values))  # type: ignore[arg-type]
    if len(fb_keys) == 1:
        scores = tuple(f for f in items if isinstance(f, Compare) and f.field == "feedback_score")
        parts.append(_FeedbackGroup(fb_keys[0].value, scores))  # type: ignore[arg-type]
    for f in items:
        if isinstance(f, Compare):
            if len(meta_keys) == 1 and f.field in ("metadata_key", "metadata_value"):
                continue
            if len(fb_keys) == 1 and f.field in ("feedback_key", "feedback_score"):
                continue
        parts.append(_lone(f))
    return parts


def _id_value(value: Value) -> Value:
    """A UUID in its canonical text (as stored); anything else as given."""
    if isinstance(value, str):
        try:
            return str(UUID(value))
        except ValueError:
            return value
    return value


# -- SQL -------------------------------------------------------------------------------------------


#: A filter as the client takes it: filter-language text, or a test on each run in Python.
RunTest = Callable[[Any], bool]


def sql_or_test(f: str | RunTest | None, *, dialect_name: str = "sqlite") -> tuple[ColumnElement[bool] | None, RunTest | None]:
    """A filter as (SQL condition over `runs`, Python test): text becomes SQL (`FilterError` if it
    does not parse), a callable stays a test; None is neither."""
    if f is None:
        return None, None
    if callable(f):
        return None, f
    return to_sqlalchemy(parse_filter(f), dialect_name=dialect_name), None


def to_sqlalchemy(f: Filter, *, dialect_name: str = "sqlite", fts: bool | None = None) -> ColumnElement[bool]:
    """`f` as a boolean expression over `tracer.store.tables.runs`, for `dialect_name`
    ("sqlite" or "postgresql"). `fts`: whether `search` may use SQLite's FTS5 tables (default:
    on SQLite); without them it matches words with ILIKE over the run document."""
    use_fts = dialect_name == "sqlite" if fts is None else fts
    return _Sql(dialect_name, use_fts).node(f)


def _compare(column_: Any, op: str, value: Any) -> ColumnElement[bool]:
    """A two-valued comparison: NULL is equal only to null and never ordered."""
    if value is None:
        return column_.is_(None) if op == "eq" else column_.is_not(None)
    if op == "eq":
        return and_(column_.is_not(None), column_ == value)
    if op == "neq":
        return or_(column_.is_(None), column_ != value)
    ordered = {"gt": column_ > value, "gte": column_ >= value, "lt": column_ < value, "lte": column_ <= value}[op]
    return and_(column_.is_not(None), ordered)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Sql:
    def __init__(self, dialect_name: str, fts: bool) -> None:
        self.postgres = dialect_name.startswith("postgres")
        self.fts = fts and not self.postgres

    def node(self, f: Any) -> ColumnElement[bool]:
        if isinstance(f, And):
            return and_(*(self.node(part) for part in _and_parts(f.items)))
        if isinstance(f, Or):
            return or_(*(self.node(_lone(item)) for item in f.items))
        if isinstance(f, Not):
            return not_(self.node(_lone(f.item)))
        if isinstance(f, (_MetaGroup, _FeedbackGroup)):
            return self.metadata_group(f) if isinstance(f, _MetaGroup) else self.feedback_group(f)
        if isinstance(f, Has):
            return self.has_tag(f.value)
        if isinstance(f, Search):
            return self.search(f.query)
        if isinstance(f, Compare):
            lone = _lone(f)
            if lone is not f:
                return self.node(lone)
            return self.compare(f)
        raise TypeError(f"not a filter: {f!r}")

    def compare(self, f: Compare) -> ColumnElement[bool]:
        kind = field_kind(f.field)
        value: Any = f.value
        if kind == "bool":
            column_ = runs.c.parent_run_id if f.field == "is_root" else runs.c.error
            # is_root: no parent; error: an error text.
            present = (column_.is_(None) if f.field == "is_root" else column_.is_not(None))
            wanted = value if f.op == "eq" else not value
            return present if wanted else not_(present)
        if kind == "metadata":
            return self.metadata_compare(f.field[len("metadata.") :], f.op, value)
        column_ = _COLUMNS[f.field]
        if kind == "time" and value is not None:
            value = parse_time(value)
        elif kind == "id":
            value = _id_value(value)
        elif f.field == "latency" and value is not None:
            value = float(value) * 1000.0
        return _compare(column_, f.op, value)

    # tags are a JSON array of strings in `runs.tags`
    def has_tag(self, tag: str) -> ColumnElement[bool]:
        if self.postgres:
            from sqlalchemy.dialects.postgresql import JSONB

            return cast(runs.c.tags, JSONB).contains([tag])
        each = func.json_each(runs.c.tags).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value == tag)).correlate(runs)

    # metadata is `extra.metadata` in the run document `runs.doc`
    def _pg_metadata(self) -> Any:
        from sqlalchemy.dialects.postgresql import JSONB

        return cast(runs.c.doc, JSONB)["extra"]["metadata"]

    def metadata_compare(self, key: str, op: str, value: Value) -> ColumnElement[bool]:
        if op == "neq":
            return not_(self.metadata_compare(key, "eq", value))
        if self.postgres:
            node = self._pg_metadata()[key]
            kind = func.jsonb_typeof(node)
            text_ = node.astext
            types = {"text": ("string",), "number": ("number",), "true": ("boolean",), "false": ("boolean",)}
        else:
            path = f'$.extra.metadata."{key}"'
            kind = func.json_type(runs.c.doc, path)
            text_ = func.json_extract(runs.c.doc, path)
            types = {"text": ("text",), "number": ("integer", "real"), "true": ("true",), "false": ("false",)}
        if value is None:
            return func.coalesce(kind, "null") == "null"
        if isinstance(value, bool):
            name = "true" if value else "false"
            if self.postgres:
                return and_(func.coalesce(kind, "") == "boolean", func.coalesce(text_, "") == name)
            return func.coalesce(kind, "") == name
        if isinstance(value, str):
            return and_(func.coalesce(kind, "").in_(types["text"]), func.coalesce(text_, "") == value)
        number: Any = cast(text_, Float) if self.postgres else text_
        in_type = func.coalesce(kind, "").in_(types["number"])
        ordered = {"eq": number == value, "gt": number > value, "gte": number >= value, "lt": number < value, "lte": number <= value}[op]
        return and_(in_type, func.coalesce(ordered, False))

    def metadata_group(self, g: _MetaGroup) -> ColumnElement[bool]:
        if self.postgres:
            from sqlalchemy.dialects.postgresql import JSONB

            meta = self._pg_metadata()
            each = func.jsonb_each(meta).table_valued(column("key", Text), column("value", JSONB))
            where: list[Any] = [] if g.key is None else [each.c.key == g.key]
            # jsonb equality with a JSON string: the same type and text.
            where.extend(each.c.value == func.to_jsonb(cast(literal(value), Text)) for value in g.values)
            return exists(select(literal(1)).select_from(each).where(*where)).correlate(runs) if where else true()
        each = func.json_each(runs.c.doc, "$.extra.metadata").table_valued("key", "value", "type")
        where = [] if g.key is None else [each.c.key == g.key]
        for value in g.values:
            where.extend((each.c.type == "text", each.c.value == value))
        return exists(select(literal(1)).select_from(each).where(*where)).correlate(runs) if where else true()

    def feedback_group(self, g: _FeedbackGroup) -> ColumnElement[bool]:
        where: list[Any] = [feedback_table.c.run_id == runs.c.id]
        if g.key is not None:
            where.append(feedback_table.c.key == g.key)
        for score in g.scores:
            where.append(_compare(feedback_table.c.score, score.op, None if score.value is None else float(score.value)))
        return exists(select(literal(1)).select_from(feedback_table).where(*where)).correlate(runs)

    def search(self, query: str) -> ColumnElement[bool]:
        terms = search_terms(query)
        if not terms:
            return true()
        if not self.fts:
            return and_(*(runs.c.doc.ilike(f"%{_escape_like(word)}%", escape="\\") for word, _prefix in terms))
        from .store.search import fts_query

        text_rows = table(TEXT_TABLE, column("id"), column("run_id"))
        index = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
        matching = select(index.c.rowid).where(index.c[FTS_TABLE].match(fts_query(query)))
        return runs.c.id.in_(select(text_rows.c.run_id).where(text_rows.c.id.in_(matching)))


# -- plain Python ----------------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return parse_time(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class _View:
    """What a filter sees of a run, from a `Run`, its `model_dump()` or a stored run document,
    derived as the store derives its columns (`writes.py`)."""

    def __init__(self, run: Any) -> None:
        data: Mapping[str, Any] = run if isinstance(run, Mapping) else run.model_dump()
        self.data = data
        metadata = data.get("metadata")
        if metadata is None:
            metadata = (data.get("extra") or {}).get("metadata")
        self.metadata: dict[str, Any] = metadata if isinstance(metadata, dict) else {}
        self.start = _time(data.get("start_time"))
        self.end = _time(data.get("end_time"))
        error = data.get("error")
        self.values: dict[str, Any] = {
            "name": data.get("name") or "",
            "run_type": data.get("run_type") or "chain",
            "status": data.get("status") or ("error" if error else "success" if self.end else "running"),
            "model_name": data.get("model_name"),
            "id": None if data.get("id") is None else str(data["id"]),
            "trace_id": str(data.get("trace_id") or data.get("id")),
            "parent_run_id": None if data.get("parent_run_id") is None else str(data["parent_run_id"]),
            "start_time": self.start,
            "end_time": self.end,
            "latency": None if self.start is None or self.end is None else (self.end - self.start).total_seconds() * 1000.0,
            "prompt_tokens": data.get("prompt_tokens"),
            "completion_tokens": data.get("completion_tokens"),
            "total_tokens": data.get("total_tokens"),
            "cost": data.get("cost"),
        }
        self.error = error
        self.tags = list(data.get("tags") or [])
        self._words: list[str] | None = None

    def words(self) -> list[str]:
        if self._words is None:
            self._words = _tokens(searchable_text(dict(self.data)))
        return self._words


def _fold(char: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", char.lower()) if unicodedata.category(c) != "Mn")


def _tokens(text: str) -> list[str]:
    """Words as SQLite's `unicode61 remove_diacritics 2` tokenizer cuts them: runs of letters,
    digits (and marks), lower-cased, without diacritics."""
    words: list[str] = []
    current: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] in "LN" or category in ("Co", "Mn"):
            current.append(char)
        elif current:
            words.append(_fold("".join(current)))
            current = []
    if current:
        words.append(_fold("".join(current)))
    return [word for word in words if word]


def _phrase_in(words: list[str], phrase: list[str], prefix: bool) -> bool:
    if not phrase:
        return False
    size = len(phrase)
    for start in range(len(words) - size + 1):
        window = words[start : start + size]
        if window[:-1] == phrase[:-1] and (window[-1].startswith(phrase[-1]) if prefix else window[-1] == phrase[-1]):
            return True
    return False


def _py_compare(actual: Any, op: str, value: Any) -> bool:
    if value is None:
        return (actual is None) == (op == "eq")
    if op == "neq":
        return not _py_compare(actual, "eq", value)
    if actual is None:
        return False
    if op == "eq":
        return actual == value
    return {"gt": actual > value, "gte": actual >= value, "lt": actual < value, "lte": actual <= value}[op]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _score(item: Any) -> tuple[Any, Any]:
    if isinstance(item, Mapping):
        return item.get("key"), item.get("score")
    if isinstance(item, tuple):
        return item[0], item[1]
    return item.key, item.score


def matches(f: Filter, run: Any, feedback: Iterable[Any] = ()) -> bool:
    """Whether `run` (a `Run`, a dict of its fields, or a stored run document) with its
    `feedback` (`Feedback` objects, dicts with `key`/`score`, or `(key, score)` pairs) passes
    `f`: the same answer as `to_sqlalchemy(f)` gives in the store."""
    view = run if isinstance(run, _View) else _View(run)
    return _Python(view, [_score(item) for item in feedback]).node(f)


class _Python:
    def __init__(self, view: _View, feedback: list[tuple[Any, Any]]) -> None:
        self.view = view
        self.feedback = feedback

    def node(self, f: Any) -> bool:
        if isinstance(f, And):
            return all(self.node(part) for part in _and_parts(f.items))
        if isinstance(f, Or):
            return any(self.node(_lone(item)) for item in f.items)
        if isinstance(f, Not):
            return not self.node(_lone(f.item))
        if isinstance(f, _MetaGroup):
            return any(
                (f.key is None or key == f.key) and all(isinstance(value, str) and value == wanted for wanted in f.values)
                for key, value in self.view.metadata.items()
            )
        if isinstance(f, _FeedbackGroup):
            return any(
                (f.key is None or key == f.key)
                and all(_py_compare(score, c.op, None if c.value is None else float(c.value)) for c in f.scores)
                for key, score in self.feedback
            )
        if isinstance(f, Has):
            return f.value in self.view.tags
        if isinstance(f, Search):
            terms = search_terms(f.query)
            words = self.view.words() if terms else []
            return all(_phrase_in(words, _tokens(text), prefix) for text, prefix in terms)
        if isinstance(f, Compare):
            lone = _lone(f)
            return self.node(lone) if lone is not f else self.compare(f)
        raise TypeError(f"not a filter: {f!r}")

    def compare(self, f: Compare) -> bool:
        kind = field_kind(f.field)
        value: Any = f.value
        if kind == "bool":
            present = self.view.values["parent_run_id"] is None if f.field == "is_root" else self.view.error is not None
            return present == (value if f.op == "eq" else not value)
        if kind == "metadata":
            return self.metadata_compare(f.field[len("metadata.") :], f.op, value)
        actual = self.view.values[f.field]
        if kind == "time" and value is not None:
            value = parse_time(value)
        elif kind == "id":
            value = _id_value(value)
        elif f.field == "latency" and value is not None:
            value = float(value) * 1000.0
        return _py_compare(actual, f.op, value)

    def metadata_compare(self, key: str, op: str, value: Value) -> bool:
        if op == "neq":
            return not self.metadata_compare(key, "eq", value)
        actual = self.view.metadata.get(key)
        if value is None:
            return actual is None
        if isinstance(value, bool):
            return isinstance(actual, bool) and actual == value
        if isinstance(value, str):
            return isinstance(actual, str) and actual == value
        return _is_number(actual) and not (isinstance(actual, float) and math.isnan(actual)) and _py_compare(actual, op, value)
