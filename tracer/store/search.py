"""Full-text search over runs: the words of a run, and a user's query as an FTS5 expression.

What is searchable is what a person reads in a run: its name, the text inside its inputs and
outputs (message contents, tool-call arguments, chain inputs...) and its error with traceback.
Not JSON keys or punctuation, and not the values that only describe structure (a message's
`type`, ids, provider metadata, token counts) or that would flood the index (inline base64
images). `searchable_text` walks a run document (its pydantic objects as their fields, which
is what their JSON holds) and keeps those strings, each once, one per line: a few microseconds,
without serializing anything again.

On SQLite the words live in `run_text` (one row per run: `id` INTEGER PRIMARY KEY
AUTOINCREMENT, `run_id` unique, `body`) and an external-content FTS5 table `run_text_fts`
indexes `body` under the row's `id`. `run_text` has an integer key of its own rather than
reusing `runs`' rowid because SQLite's VACUUM may renumber the implicit rowids of a table whose
key is not an INTEGER PRIMARY KEY. The writer keeps the index itself, with set-wise statements
(`INDEX_STATEMENTS`), not triggers: FTS5 flushes its pending terms at every statement
savepoint, so a trigger per row made indexing three times slower. Per batch, under the write
lock: a run whose words changed has its index entries deleted (FTS5's 'delete' command, with
the old words) and its `run_text` row removed; every run of the batch is inserted (a run with
the same words is left alone), then the rows with a new id are indexed in one
INSERT ... SELECT. Ids are never reused (AUTOINCREMENT), so runs deleted with their project
(a cascade from `runs`) only leave index entries that point at no `run_text` row and match
nothing, until FTS5's 'rebuild' drops them. Both tables are created by migration 0002 on SQLite
only (and skipped where SQLite was built without FTS5); PostgreSQL, or a SQLite without them,
matches each word with ILIKE over `runs.doc` instead: slower (a scan of the project's runs), and
it also sees JSON keys.

A query is words and "quoted phrases", all required (AND); a word ending in `*` matches as a
prefix. Everything is quoted before it reaches FTS5, so no input is an FTS5 syntax error.
Matching ignores case and diacritics (`unicode61 remove_diacritics 2`). Results are ordered by
the runs list's own sort, never by relevance, so the index keeps no token counts
(`columnsize=0`, a b-tree write less per run).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import Connection

__all__ = [
    "TEXT_TABLE",
    "FTS_TABLE",
    "MAX_TEXT",
    "searchable_text",
    "search_terms",
    "fts_query",
    "has_fts",
    "include_name",
    "IndexStatements",
    "INDEX_STATEMENTS",
]

TEXT_TABLE = "run_text"
FTS_TABLE = "run_text_fts"
#: Characters of a run's words that are indexed (a run's text beyond that is not searchable).
MAX_TEXT = 100_000

# Keys whose values are structure or metadata, not text someone would search for.
_SKIP = frozenset(
    {
        "type",
        "id",
        "tool_call_id",
        "response_metadata",
        "usage_metadata",
        "additional_kwargs",
        "generation_info",
        "llm_output",
        "tool_call_chunks",
        "run",
        "mime_type",
        "source_type",
    }
)
_SCALARS = frozenset({int, float, bool, type(None)})
_MAX_DEPTH = 64
_OPAQUE_AFTER = 256
# Per type: the attribute dict to walk for a pydantic model, else False. Looked up once per
# type: `isinstance` against pydantic's metaclass costs more than the rest of a visit.
_model_types: dict[type, bool] = {}


def _is_model(kind: type) -> bool:
    known = _model_types.get(kind)
    if known is None:
        known = _model_types[kind] = issubclass(kind, BaseModel)
    return known


def _walk(value: Any, out: list[str], seen: set[str], depth: int) -> None:
    # Strings are handled inline, not by a call each: this runs for every run the writer stores.
    kind = type(value)
    if kind is dict:
        items = value.items()
    elif _model_types.get(kind) or (kind not in _model_types and _is_model(kind)):
        # Its fields, as its JSON would have them (our models have no computed fields).
        items = value.__dict__.items()
    elif kind is list or kind is tuple:
        if depth < _MAX_DEPTH:
            for item in value:
                kind = type(item)
                if kind is str:
                    if item and item not in seen and (len(item) <= _OPAQUE_AFTER or not _opaque(item)):
                        seen.add(item)
                        out.append(item)
                elif kind not in _SCALARS:
                    _walk(item, out, seen, depth + 1)
        return
    elif kind is str:
        if value and value not in seen and (len(value) <= _OPAQUE_AFTER or not _opaque(value)):
            seen.add(value)
            out.append(value)
        return
    elif kind in _SCALARS:
        return
    else:
        _walk(to_jsonable_python(value, fallback=repr), out, seen, depth)
        return
    if depth >= _MAX_DEPTH:
        return
    for key, item in items:
        kind = type(item)
        if kind is str:
            if item and key not in _SKIP and item not in seen and (len(item) <= _OPAQUE_AFTER or not _opaque(item)):
                seen.add(item)
                out.append(item)
        elif kind not in _SCALARS and key not in _SKIP:
            _walk(item, out, seen, depth + 1)


def _opaque(value: str) -> bool:
    """A long string without a space in its first 256 characters (base64, a data: URL), not
    prose."""
    return len(value) > _OPAQUE_AFTER and (value.startswith("data:") or " " not in value[:_OPAQUE_AFTER])


def searchable_text(doc: dict[str, Any]) -> str:
    """The words of a run document: its name, the strings inside its inputs and outputs, and
    its error, one per line. Inputs and outputs may be plain JSON values or still the caller's
    objects (messages, an `LLMResult`), as in a `RunChange`."""
    out: list[str] = []
    seen: set[str] = set()
    name = doc.get("name")
    if type(name) is str and name:
        out.append(name)
        seen.add(name)
    _walk(doc.get("inputs"), out, seen, 0)
    _walk(doc.get("outputs"), out, seen, 0)
    error = doc.get("error")
    if error:
        out.append(str(error))
    text = "\n".join(out)
    return text[:MAX_TEXT] if len(text) > MAX_TEXT else text


class IndexStatements(NamedTuple):
    """The writer's SQL (SQLite, qmark parameters), in the order it runs them."""

    #: (run_id, words): drop the index entries of a run whose words changed...
    unindex_changed: str
    #: (run_id, words): ... and its row, so it is inserted again with a new id.
    delete_changed: str
    #: The highest id now: the rows inserted next have greater ones.
    last_id: str
    #: (run_id, words) for every run of the batch; a run already there is left alone.
    insert: str
    #: (last_id,): index the rows inserted since.
    index_new: str


INDEX_STATEMENTS = IndexStatements(
    unindex_changed=(
        f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, body) "
        f"SELECT 'delete', id, body FROM {TEXT_TABLE} WHERE run_id = ? AND body <> ?"
    ),
    delete_changed=f"DELETE FROM {TEXT_TABLE} WHERE run_id = ? AND body <> ?",
    last_id=f"SELECT coalesce(max(id), 0) FROM {TEXT_TABLE}",
    insert=f"INSERT INTO {TEXT_TABLE} (run_id, body) VALUES (?, ?) ON CONFLICT (run_id) DO NOTHING",
    index_new=f"INSERT INTO {FTS_TABLE} (rowid, body) SELECT id, body FROM {TEXT_TABLE} WHERE id > ?",
)


_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"\w")


def search_terms(query: str) -> list[tuple[str, bool]]:
    """The words and phrases of a user's query, each with whether it is a prefix (`word*`);
    pieces without a letter or digit are dropped (they match nothing useful)."""
    terms: list[tuple[str, bool]] = []
    for phrase, word in _TERM.findall(query):
        text, prefix = (phrase, False) if phrase else (word, word.endswith("*"))
        text = text.rstrip("*") if prefix else text
        if _WORD.search(text):
            terms.append((text, prefix))
    return terms


def fts_query(query: str) -> str | None:
    """`query` as an FTS5 MATCH expression (every term quoted), or None without any word."""
    parts = []
    for text, prefix in search_terms(query):
        quoted = '"' + text.replace('"', '""') + '"'
        parts.append(quoted + "*" if prefix else quoted)
    return " AND ".join(parts) if parts else None


def has_fts(connection: Connection) -> bool:
    """Whether this database has the FTS5 search tables (SQLite with FTS5, after 0002)."""
    if connection.dialect.name != "sqlite":
        return False
    found = connection.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", (TEXT_TABLE, FTS_TABLE)
    ).scalar()
    return found == 2


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic's `include_name` hook: the search tables (`run_text`, `run_text_fts` and its
    shadow tables), made by the migrations on SQLite only, are not in `tables.metadata` and are
    left out of schema comparisons."""
    return not (type_ == "table" and name is not None and name.startswith(TEXT_TABLE))
