"""JSON for run documents, written off the caller's thread.

`pydantic_core.to_json` (Rust) serializes a run payload in under a microsecond where
`json.dumps` takes about 9; it also knows pydantic models, dataclasses, UUIDs and datetimes.
Anything it cannot serialize falls back to its `repr`, so a strange object in a trace is shown,
never an error.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core

__all__ = ["dumps", "loads", "to_jsonable"]


def _fallback(value: Any) -> Any:
    return repr(value)


def dumps(value: Any) -> str:
    return pydantic_core.to_json(value, fallback=_fallback, serialize_unknown=False).decode()


def loads(text: str | bytes) -> Any:
    return json.loads(text)


def to_jsonable(value: Any) -> Any:
    """Plain dicts, lists, strings and numbers with the same content as `value`."""
    return pydantic_core.to_jsonable_python(value, fallback=_fallback)
