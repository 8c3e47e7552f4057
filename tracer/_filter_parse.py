"""The run filter language: its typed AST, its parser and its printer (see `tracer.filters`).

A filter is text in LangSmith's style, e.g. `and(eq(run_type, "llm"), gt(latency, 2))`. It is
parsed by hand (recursive descent over the characters, no regular expression over the whole
text), and every check that can be made without a database is made here: a field the operator
does not apply to, a value of the wrong type, a time that is not ISO 8601. Each failure is a
`FilterError` whose `.position` is the 0-based offset where something else was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Union

__all__ = [
    "FilterError",
    "Filter",
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
    "parse_time",
]

Value = Union[str, int, float, bool, None]

#: Comparison operators, and those that order values (numbers and times only).
COMPARISONS = ("eq", "neq", "gt", "gte", "lt", "lte")
_ORDERING = frozenset(("gt", "gte", "lt", "lte"))
_MAX_DEPTH = 64

# Field kinds: which operators and values each field takes.
_TEXT, _ID, _TIME, _NUMBER, _BOOL, _TAGS, _META, _META_KEY, _FB_KEY, _FB_SCORE = (
    "text", "id", "time", "number", "bool", "tags", "metadata", "metadata_key", "feedback_key", "feedback_score",
)  # fmt: skip
#: Every field name (besides `metadata.<key>`) and its kind.
FIELDS: dict[str, str] = {
    "name": _TEXT,
    "run_type": _TEXT,
    "status": _TEXT,
    "model_name": _TEXT,
    "id": _ID,
    "trace_id": _ID,
    "parent_run_id": _ID,
    "start_time": _TIME,
    "end_time": _TIME,
    "latency": _NUMBER,
    "prompt_tokens": _NUMBER,
    "completion_tokens": _NUMBER,
    "total_tokens": _NUMBER,
    "cost": _NUMBER,
    "is_root": _BOOL,
    "error": _BOOL,
    "tags": _TAGS,
    "metadata_key": _META_KEY,
    "metadata_value": _META_KEY,
    "feedback_key": _FB_KEY,
    "feedback_score": _FB_SCORE,
}
_METADATA_PREFIX = "metadata."


class FilterError(ValueError):
    """A filter that does not parse: `.position` is the 0-based offset of the problem in the
    text, and the message says what was expected there."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Compare:
    """`op(field, value)` with op one of `COMPARISONS`."""

    op: str
    field: str
    value: Value


@dataclass(frozen=True, slots=True)
class Has:
    """`has(tags, "x")`: the run carries that tag."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class Search:
    """`search("words")`: full-text search over the run's name, inputs, outputs and error."""

    query: str


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Filter


Filter = Union[Compare, Has, Search, And, Or, Not]


def field_kind(name: str) -> str | None:
    """The kind of a field name, None when it is not one."""
    if name.startswith(_METADATA_PREFIX):
        key = name[len(_METADATA_PREFIX) :]
        return _META if key and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in key) else None
    return FIELDS.get(name)


def parse_time(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text (a date alone is its midnight; no zone is UTC)."""
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())  # ValueError again if not
    try:
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} is out of the range of times") from None


# -- parser ----------------------------------------------------------------------------------------

_SPACE = " \t\r\n"
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_LOGICAL = ("and", "or", "not")
_OPERATORS = COMPARISONS + ("has", "search") + _LOGICAL


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, position: int | None = None) -> FilterError:
        return FilterError(message, self.pos if position is None else position)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1

    def expect(self, char: str, what: str) -> None:
        self.skip()
        if self.pos >= len(self.text) or self.text[self.pos] != char:
            found = "the end of the filter" if self.pos >= len(self.text) else repr(self.text[self.pos])
            raise self.fail(f"expected {what}, found {found}")
        self.pos += 1

    def name(self, allow_dots: bool = False) -> tuple[str, int]:
        self.skip()
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos].isascii() and (
            text[self.pos].isalnum() or text[self.pos] == "_" or (allow_dots and text[self.pos] in ".-")
        ):
            self.pos += 1
        return text[start : self.pos], start

    def filter(self, depth: int = 0) -> Filter:
        op, start = self.name()
        if not op:
            raise self.fail(f"expected an operator ({', '.join(_OPERATORS)})")
        if op not in _OPERATORS:
            raise self.fail(f"expected an operator ({', '.join(_OPERATORS)}), not {op!r}", start)
        if depth >= _MAX_DEPTH:
            raise self.fail(f"filters nest at most {_MAX_DEPTH} deep", start)
        self.expect("(", f"'(' after {op}")
        result: Filter
        if op in ("and", "or"):
            items = [self.filter(depth + 1)]
            while self.comma_or_close(op):
                items.append(self.filter(depth + 1))
            result = And(tuple(items)) if op == "and" else Or(tuple(items))
            return result
        if op == "not":
            result = Not(self.filter(depth + 1))
        elif op == "search":
            query, query_start = self.value()
            if not isinstance(query, str):
                raise self.fail("expected a quoted string to search for", query_start)
            result = Search(query)
        else:
            field, field_start = self.name(allow_dots=True)
            kind = field_kind(field)
            if kind is None:
                what = f"not {field!r}" if field else "found none"
                raise self.fail(f"expected a field name ({', '.join(FIELDS)} or metadata.<key>), {what}", field_start)
            self.expect(",", f"',' after the field {field}")
            self.skip()
            value, value_start = self.value()
            result = _checked(op, field, kind, value, field_start, value_start)
        self.expect(")", f"')' to close {op}(")
        return result

    def comma_or_close(self, op: str) -> bool:
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] == ",":
            self.pos += 1
            return True
        self.expect(")", f"',' or ')' to close {op}(")
        return False

    def value(self) -> tuple[Value, int]:
        self.skip()
        start = self.pos
        text = self.text
        if start >= len(text):
            raise self.fail("expected a value (a quoted string, a number, true, false or null), found the end of the filter")
        char = text[start]
        if char in "\"'":
            return self.string(char), start
        if char == "-" or char.isdigit():
            return self.number(), start
        word, _ = self.name()
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word], start
        raise self.fail("expected a value (a quoted string, a number, true, false or null)", start)

    def string(self, quote: str) -> str:
        text = self.text
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(text):
                raise self.fail(f"expected {quote} to close the string opened at position {start}")
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char == "\\":
                self.pos += 1
                code = text[self.pos] if self.pos < len(text) else ""
                if code in _ESCAPES:
                    out.append(_ESCAPES[code])
                    self.pos += 1
                elif code == "u":
                    digits = text[self.pos + 1 : self.pos + 5]
                    if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                        raise self.fail("expected four hex digits after \\u", self.pos + 1)
                    point = int(digits, 16)
                    if 0xD800 <= point <= 0xDFFF:
                        raise self.fail("expected a character, not a surrogate, after \\u", self.pos + 1)
                    out.append(chr(point))
                    self.pos += 5
                else:
                    raise self.fail('expected an escape (\\" \\\' \\\\ \\/ \\n \\t \\r \\b \\f \\uXXXX) after \\')
            else:
                out.append(char)
                self.pos += 1

    def number(self) -> int | float:
        text = self.text
        start = self.pos
        if text[self.pos] == "-":
            self.pos += 1
        digits = self.pos
        while self.pos < len(text) and text[self.pos].isascii() and text[self.pos].isdigit():
            self.pos += 1
        if self.pos == digits:
            raise self.fail("expected a digit")
        is_float = False
        if self.pos < len(text) and text[self.pos] == ".":
            self.pos += 1
            fraction = self.pos
            while self.pos < len(text) and text[self.pos].isascii() and text[self.pos].isdigit():
                self.pos += 1
            if self.pos == fraction:
                raise self.fail("expected a digit after '.'")
            is_float = True
        if self.pos < len(text) and text[self.pos] in "eE":
            self.pos += 1
            if self.pos < len(text) and text[self.pos] in "+-":
                self.pos += 1
            exponent = self.pos
            while self.pos < len(text) and text[self.pos].isascii() and text[self.pos].isdigit():
                self.pos += 1
            if self.pos == exponent:
                raise self.fail("expected a digit in the exponent")
            is_float = True
        literal = text[start : self.pos]
        if not is_float:
            number = int(literal) if len(literal) <= 20 else 1 << 63
            if not -(1 << 63) <= number < 1 << 63:
                raise self.fail("expected a whole number within a 64-bit integer's range (or write it as 1e20)", start)
            return number
        value = float(literal)
        if not math.isfinite(value):
            raise self.fail("expected a finite number", start)
        return value


def _checked(op: str, field: str, kind: str, value: Value, field_start: int, value_start: int) -> Filter:
    """The node for `op(field, value)`, or a `FilterError` if the field or value does not fit."""

    def bad(message: str, position: int = value_start) -> FilterError:
        return FilterError(message, position)

    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if op == "has":
        if kind != _TAGS:
            raise bad(f"expected the field tags for has(), not {field!r}", field_start)
        if not isinstance(value, str):
            raise bad("expected a quoted tag")
        return Has(field, value)
    if kind == _TAGS:
        raise bad(f"expected has(tags, ...): tags take no {op}()", field_start)
    if op in _ORDERING and kind not in (_TIME, _NUMBER, _META, _FB_SCORE):
        raise bad(f"expected a number or time field for {op}(), not {field!r}", field_start)
    if kind in (_META_KEY, _FB_KEY) and op != "eq":
        raise bad(f"expected eq() with {field}, not {op}() (use not(eq(...)) to exclude)", field_start)
    if value is None:
        if op in _ORDERING:
            raise bad(f"expected a number or a time for {op}(), not null")
        if kind in (_BOOL, _META_KEY, _FB_KEY):
            raise bad(f"expected {'true or false' if kind == _BOOL else 'a quoted string'} for {field}, not null")
        return Compare(op, field, None)
    if kind in (_TEXT, _ID, _META_KEY, _FB_KEY):
        if not isinstance(value, str):
            raise bad(f"expected a quoted string for {field}")
    elif kind == _TIME:
        if not isinstance(value, str):
            raise bad(f'expected an ISO 8601 time as a string for {field}, like "2025-03-01T12:00:00Z"')
        try:
            parse_time(value)
        except ValueError:
            raise bad(f"expected an ISO 8601 time for {field}, like \"2025-03-01T12:00:00Z\", not {value!r}") from None
    elif kind in (_NUMBER, _FB_SCORE):
        if not is_number:
            raise bad(f"expected a number for {field}")
    elif kind == _BOOL:
        if not isinstance(value, bool):
            raise bad(f"expected true or false for {field}")
    elif kind == _META and op in _ORDERING and not is_number:
        raise bad(f"expected a number for {op}({field}, ...)")
    return Compare(op, field, value)


def parse_filter(text: str) -> Filter:
    """The filter written in `text`; `FilterError` (with `.position`) when it is not one."""
    if not isinstance(text, str):
        raise TypeError(f"a filter is text, not {type(text).__name__}")
    parser = _Parser(text)
    parser.skip()
    if parser.pos >= len(text):
        raise parser.fail("expected a filter such as eq(run_type, \"llm\"), found nothing")
    result = parser.filter()
    parser.skip()
    if parser.pos < len(text):
        raise parser.fail("expected the end of the filter after its closing ')'")
    return result


# -- printer ---------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _value(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return _quote(value)


def render_filter(f: Filter) -> str:
    """`f` as filter text: `parse_filter(render_filter(f)) == f`."""
    if isinstance(f, Compare):
        return f"{f.op}({f.field}, {_value(f.value)})"
    if isinstance(f, Has):
        return f"has({f.field}, {_quote(f.value)})"
    if isinstance(f, Search):
        return f"search({_quote(f.query)})"
    if isinstance(f, (And, Or)):
        return f"{'and' if isinstance(f, And) else 'or'}({', '.join(render_filter(item) for item in f.items)})"
    if isinstance(f, Not):
        return f"not({render_filter(f.item)})"
    raise TypeError(f"not a filter: {f!r}")
