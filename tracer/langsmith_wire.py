"""LangSmith run payloads <-> our run documents, so runs sent by the official client (or by our
SDK in remote mode) are stored exactly like the runs our tracer records locally.

The official client sends each run as ops: a `post` when it starts, a `patch` when it ends, or
the two already merged (see the protocol notes, §4-§5). `to_doc` turns one op into a partial
document of our schema: only what the op carries, since a null in a patch means "unchanged".
`merge` folds such a partial document into the stored one (upsert semantics, §11) and derives
what LangSmith leaves to the server: status, first-token time, model name, token counts and
cost, with the same helpers our tracer uses (`tracer._rundoc`). `from_doc` goes the other way,
for our SDK's remote mode; `merge(None, to_doc(from_doc(doc)))` gives `doc` back.

LangChain serializes messages in its `lc` constructor form; they become our compact message
JSON (what `tracer.messages` models dump). Other `lc` objects (`not_implemented`, `secret`, ...)
are kept as they are: they hold a repr or an environment variable's name, never a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from . import messages
from ._json import to_jsonable
from ._rundoc import dotted_segment, params_model_name, redact, result_model_name, run_usage
from .messages import BaseMessage, PromptValue, message_from_dict
from .outputs import ChatGeneration, Generation, LLMResult
from .pricing import cost

__all__ = ["PayloadError", "to_doc", "merge", "from_doc", "wire_payload", "canonical_uuid", "DOC_KEYS"]

#: Every key of a run document, in the order our tracer writes them.
DOC_KEYS = (
    "id",
    "trace_id",
    "parent_run_id",
    "dotted_order",
    "name",
    "run_type",
    "project",
    "start_time",
    "end_time",
    "status",
    "inputs",
    "outputs",
    "error",
    "extra",
    "tags",
    "events",
    "first_token_time",
    "model_name",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "reference_example_id",
)

_IDS = ("trace_id", "parent_run_id", "reference_example_id")
_TIMES = ("start_time", "end_time", "first_token_time")
_TEXTS = ("name", "run_type", "dotted_order")
# Metadata keys `from_doc` adds for LangSmith's sake, listed under this `extra` key so that
# `merge` derives from them and then removes them: our own runs come back as they were.
_ADDED = "tracer_added_metadata"
# Ids and times already in the form `to_doc` writes them (the official client's): kept as they
# are, which costs a tenth of parsing and formatting them again.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}\+00:00")
# What `_from_lc` walks into; every other value is kept as it is.
_CONTAINERS = (dict, list)
# Keys LangChain puts on serialized messages that mean nothing to ours.
_LANGCHAIN_ONLY = frozenset({"example", "chunk_position"})
# Keys every LangChain message's `model_dump()` has. The client sends messages in that form,
# not the `lc` one, inside chain inputs and outputs (a prompt's value, a parser's input, a
# tool's ToolMessage): a dict with these keys and a message `type` is such a message.
_DUMPED_MESSAGE_KEYS = frozenset({"content", "additional_kwargs", "response_metadata", "type"})
# What a failed run's outputs hold on the wire (langchain `{}`, traceable `{"output": null}`):
# our failed runs have no outputs.
_FAILED_PLACEHOLDERS = ({}, {"output": None})
# Fields `merge` computes (LangSmith servers compute them too), so `from_doc` does not send
# them; the first-token time is sent, since the events alone do not always pin it down.
_DERIVED = frozenset({"status", "model_name", "prompt_tokens", "completion_tokens", "total_tokens", "cost"})


class PayloadError(ValueError):
    """A run payload that cannot be stored; says which run and which field."""

    def __init__(self, run_id: Any, field: str, problem: str) -> None:
        super().__init__(f"Run {run_id!s}: {field} {problem}.")
        self.run_id = run_id
        self.field = field


# -- LangSmith -> ours ----------------------------------------------------------------------------


def to_doc(payload: Mapping[str, Any], *, project: str | None = None) -> dict[str, Any]:
    """The part of a run document that one LangSmith op (post, patch, or both merged) carries."""
    raw_id = payload.get("id")
    run_id = _uuid(raw_id, raw_id, "id")
    if run_id is None:
        raise PayloadError(raw_id, "id", "is missing")
    doc: dict[str, Any] = {"id": run_id}
    for key in _IDS:
        value = _uuid(payload.get(key), run_id, key)
        if value is not None:
            doc[key] = value
    for key in _TIMES:
        value = _time(payload.get(key), run_id, key)
        if value is not None:
            doc[key] = value
    for key in _TEXTS:
        value = payload.get(key)
        if value is not None:
            doc[key] = _typed(value, str, run_id, key)
    name = payload.get("session_name") or payload.get("project") or project
    if name is not None:
        doc["project"] = _typed(name, str, run_id, "session_name")
    for key in ("inputs", "outputs"):
        value = payload.get(key)
        if value is not None:
            doc[key] = _from_lc(value)
    if payload.get("error") is not None:
        doc["error"] = str(payload["error"])
    if payload.get("tags") is not None:
        doc["tags"] = [str(tag) for tag in _typed(payload["tags"], list, run_id, "tags")]
    if payload.get("events") is not None:
        doc["events"] = _typed(payload["events"], list, run_id, "events")
    if payload.get("extra") is not None:
        doc["extra"] = redact(_typed(payload["extra"], dict, run_id, "extra"))
    return doc


def canonical_uuid(value: Any) -> str | None:
    """`value` as `str(UUID(value))`, None when it is not a UUID; the client's own form (already
    canonical) passes unchanged without building a UUID."""
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    except ValueError:
        return None


def _uuid(value: Any, run_id: Any, field: str) -> str | None:
    if value is None:
        return None
    canonical = canonical_uuid(value)
    if canonical is None:
        raise PayloadError(run_id, field, f"is not a UUID: {str(value)[:60]!r}")
    return canonical


def _time(value: Any, run_id: Any, field: str) -> str | None:
    """An ISO-8601 time as our tracer writes it: UTC, microseconds, `+00:00`."""
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise PayloadError(run_id, field, f"is not an ISO-8601 time: {str(value)[:60]!r}") from None
    if type(value) is str and _CANONICAL_TIME.fullmatch(value):
        return value  # valid (it parsed), and already what the formatting below would make
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _typed(value: Any, kind: type, run_id: Any, field: str) -> Any:
    if not isinstance(value, kind):
        raise PayloadError(run_id, field, f"must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _from_lc(value: Any) -> Any:
    """`value` with LangChain's serialized messages and prompt values turned into ours.
    Scalars are kept without a call: they are most of what a run's inputs and outputs hold."""
    if isinstance(value, list):
        return [_from_lc(item) if isinstance(item, _CONTAINERS) else item for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("lc") == 1 and value.get("type") == "constructor":
        converted = _lc_object(value)
        if converted is not None:
            return converted
    if _DUMPED_MESSAGE_KEYS <= value.keys():
        converted = _dumped_message(value)
        if converted is not None:
            return converted
    return {key: _from_lc(item) if isinstance(item, _CONTAINERS) else item for key, item in value.items()}


def _dumped_message(value: dict[str, Any]) -> dict[str, Any] | None:
    """Our JSON for a LangChain message in its `model_dump()` form; None when its `type` is
    not a message's (or it does not validate), and it is then kept as it came."""
    fields = {key: _from_lc(item) for key, item in value.items() if key not in _LANGCHAIN_ONLY}
    try:
        return dict(message_from_dict(fields).model_dump())
    except ValueError:
        return None


def _lc_object(value: dict[str, Any]) -> dict[str, Any] | None:
    """Our JSON for a LangChain message or prompt value; None for anything else (or anything
    that does not validate), which is then kept as it came."""
    path, kwargs = value.get("id"), value.get("kwargs")
    if not isinstance(path, list) or not path or not isinstance(kwargs, dict):
        return None
    cls = getattr(messages, str(path[-1]), None)
    if not (isinstance(cls, type) and issubclass(cls, (BaseMessage, PromptValue))):
        return None
    fields = {key: _from_lc(item) for key, item in kwargs.items() if key not in _LANGCHAIN_ONLY}
    plain = _plain_dump(cls, fields)
    if plain is not None:
        return plain
    try:
        return dict(cls.model_validate({**fields, "type": cls.model_fields["type"].default}).model_dump())
    except ValueError:
        return None


# The message classes `_plain_dump` builds directly: their `type`, and the fields it knows;
# every other class, or field, goes through pydantic.
_BASE_FIELDS = frozenset({"content", "additional_kwargs", "response_metadata", "type", "name", "id"})
_PLAIN: dict[type, tuple[str, frozenset[str]]] = {
    messages.HumanMessage: ("human", _BASE_FIELDS),
    messages.SystemMessage: ("system", _BASE_FIELDS),
    messages.AIMessage: ("ai", _BASE_FIELDS | {"tool_calls", "invalid_tool_calls", "usage_metadata"}),
}
_USAGE_COUNTS = ("input_tokens", "output_tokens", "total_tokens")
_USAGE_DETAILS = ("input_token_details", "output_token_details")


def _plain_dump(cls: type, fields: dict[str, Any]) -> dict[str, Any] | None:
    """`cls.model_validate(fields).model_dump()`, built directly (about 8x faster) for the usual
    message: text content, known fields of the types validation keeps, no tool calls. None for
    anything else, which validation then decides. Keys come in the dump's order."""
    kind, known = _PLAIN.get(cls, ("", frozenset()))
    content = fields.get("content")
    if not kind or type(content) is not str or not known.issuperset(fields):
        return None
    dump: dict[str, Any] = {"content": content}
    for key in ("additional_kwargs", "response_metadata"):
        if key in fields:
            value = fields[key]
            if type(value) is not dict or not all(type(name) is str for name in value):
                return None
            if value:
                dump[key] = value
    dump["type"] = kind
    for key in ("name", "id"):
        value = fields.get(key)
        if value is not None:
            if type(value) is not str:
                return None
            dump[key] = value
    for key in ("tool_calls", "invalid_tool_calls"):
        if key in fields and fields[key] != []:
            return None
    usage = fields.get("usage_metadata")
    if usage is not None:
        usage = _plain_usage(usage)
        if usage is None:
            return None
        dump["usage_metadata"] = usage
    return dump


def _plain_usage(usage: Any) -> dict[str, Any] | None:
    """A `UsageMetadata` as validation dumps it (declared key order), or None unless every
    count is an int and there is no other key."""
    if type(usage) is not dict or any(type(usage.get(key)) is not int for key in _USAGE_COUNTS):
        return None
    dump = {key: usage[key] for key in _USAGE_COUNTS}
    for key in _USAGE_DETAILS:
        if key in usage:
            details = usage[key]
            if type(details) is not dict or not all(type(name) is str and type(count) is int for name, count in details.items()):
                return None
            dump[key] = dict(details)
    return dump if len(dump) == len(usage) else None


# -- merging and derived fields -------------------------------------------------------------------


def merge(existing: dict[str, Any] | None, update: dict[str, Any]) -> dict[str, Any]:
    """`existing` (a stored document, or None) with `update` (from `to_doc`) folded in, and the
    derived fields recomputed: a whole document, ready for the store's writer.

    Non-null fields of `update` win, except that an op cannot take back what a later one already
    said: a post arriving after its patch carries `outputs: {}` and only its start event, so
    empty outputs never replace outputs (nor the no-outputs of a run that ended) and a shorter
    event list never replaces a longer one.
    `extra` and its `metadata` merge key by key (the patch adds `usage_metadata`)."""
    base = existing or {}
    doc = dict(base)
    for key, value in update.items():
        if value is None or key not in DOC_KEYS:
            continue
        if key == "outputs" and not value and (base.get("outputs") or base.get("end_time")):
            continue
        if key == "events" and len(value) < len(base.get("events") or ()):
            continue
        if key == "extra":
            value = _merge_extra(base.get("extra"), value)
        doc[key] = value
    return _complete(doc, base)


def _merge_extra(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    if not old:
        return dict(new)
    merged = {**old, **new}
    if isinstance(old.get("metadata"), dict) and isinstance(new.get("metadata"), dict):
        merged["metadata"] = {**old["metadata"], **new["metadata"]}
    return merged


def _complete(doc: dict[str, Any], existing: dict[str, Any]) -> dict[str, Any]:
    run_id = doc["id"]
    extra = doc.get("extra") or {}
    params = extra.get("invocation_params") or {}
    metadata = extra.get("metadata") or {}
    outputs = doc.get("outputs")
    if outputs == {} and not doc.get("end_time"):
        outputs = None  # a LangSmith post's placeholder: our running runs have no outputs yet
    if doc.get("error") and outputs in _FAILED_PLACEHOLDERS:
        outputs = None
    dotted = doc.get("dotted_order") or (dotted_segment(doc["start_time"], run_id) if doc.get("start_time") else None)
    error = doc.get("error")
    usage = metadata.get("usage_metadata") if isinstance(metadata.get("usage_metadata"), dict) else None
    llm = doc.get("run_type") == "llm"
    result = _as_result(outputs) if llm and (usage is None or _may_name_model(outputs)) else outputs
    if usage is None and llm:
        usage = run_usage(result)
    model = result_model_name(result) or metadata.get("ls_model_name") or params_model_name(params)
    counts = _counts(usage)
    provider = params.get("provider") or metadata.get("ls_provider")
    price = usage.get("total_cost") if usage and usage.get("total_cost") is not None else cost(provider, model, usage)
    added = extra.get(_ADDED)
    if added:
        extra = {**{k: v for k, v in extra.items() if k != _ADDED}, "metadata": {k: v for k, v in metadata.items() if k not in added}}
    derived = {
        "trace_id": doc.get("trace_id") or run_id,
        "parent_run_id": doc.get("parent_run_id") or _parent_from(dotted),
        "dotted_order": dotted,
        # What the store's writer assumes of a run an op named without saying what it is.
        "name": doc.get("name") or "",
        "run_type": doc.get("run_type") or "chain",
        "project": doc.get("project") or "default",
        "end_time": doc.get("end_time"),
        "status": "error" if error else "success" if doc.get("end_time") else "running",
        "inputs": doc.get("inputs") or {},
        "outputs": outputs,
        "error": error,
        "extra": {"invocation_params": {}, "metadata": {}, "runtime": {}, **extra},
        "tags": doc.get("tags") or [],
        "events": doc.get("events") or [],
        "first_token_time": doc.get("first_token_time") or _first_token(doc.get("events")) or existing.get("first_token_time"),
        "model_name": str(model) if model else existing.get("model_name"),
        "prompt_tokens": counts[0] if usage else existing.get("prompt_tokens"),
        "completion_tokens": counts[1] if usage else existing.get("completion_tokens"),
        "total_tokens": counts[2] if usage else existing.get("total_tokens"),
        "cost": price if price is not None else existing.get("cost"),
    }
    return {key: derived[key] if key in derived else doc.get(key) for key in DOC_KEYS}


def _as_result(outputs: Any) -> Any:
    """Chat-model outputs as our `LLMResult`, so the tracer's own helpers read usage and model
    from them; anything else (a traceable's dict) as it is."""
    if not isinstance(outputs, dict) or not isinstance(outputs.get("generations"), list):
        return outputs
    try:
        generations = [[_generation(item) for item in batch] for batch in outputs["generations"]]
        return LLMResult(generations=generations, llm_output=outputs.get("llm_output"))
    except (ValueError, TypeError, AttributeError):
        return outputs


def _may_name_model(outputs: Any) -> bool:
    """Whether chat-model outputs hold a model name where `result_model_name` would find it
    once `_as_result` validated them. When they do not (and the usage came in the metadata),
    validating them (~6 µs) would change nothing: the model name comes from elsewhere."""
    if not isinstance(outputs, dict):
        return False
    llm_output = outputs.get("llm_output")
    if isinstance(llm_output, dict) and llm_output.get("model_name"):
        return True
    generations = outputs.get("generations")
    for batch in generations if isinstance(generations, list) else ():
        for item in batch if isinstance(batch, (list, tuple)) else ():
            message = item.get("message") if isinstance(item, dict) else None
            if isinstance(message, dict):
                fields = message["data"] if isinstance(message.get("data"), dict) else message
                metadata = fields.get("response_metadata")
                if isinstance(metadata, dict) and metadata.get("model_name"):
                    return True
    return False


def _generation(item: dict[str, Any]) -> Generation:
    message = item.get("message")
    if isinstance(message, dict):
        return ChatGeneration(message=message_from_dict(message), text=item.get("text") or "")
    return Generation(text=item.get("text") or "")


def _counts(usage: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    if not usage:
        return None, None, None
    prompt, completion, total = usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens")
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return prompt, completion, total


def _parent_from(dotted: str | None) -> str | None:
    segments = dotted.split(".") if dotted else []
    return segments[-2][-36:] if len(segments) > 1 else None


def _first_token(events: Any) -> str | None:
    """The first streamed token's time: the first `new_token` event with text, as our tracer
    counts it (streams open with an empty chunk); else the first `new_token` event at all (the
    official client strips the text and keeps only that first event)."""
    tokens = [event for event in events or () if isinstance(event, dict) and event.get("name") == "new_token"]
    with_text = next((event for event in tokens if (event.get("kwargs") or {}).get("token")), None)
    first = with_text or (tokens[0] if tokens else None)
    if first is None or not first.get("time"):
        return None
    try:
        return _time(first["time"], None, "events")
    except PayloadError:
        return None


# -- ours -> LangSmith ----------------------------------------------------------------------------


def from_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The LangSmith run payload (a merged post) for one of our run documents. It carries the
    model name and token usage where LangSmith servers read them (`extra.metadata.ls_model_name`,
    `usage_metadata`), and says it added them, so `to_doc` and `merge` restore `doc` exactly."""
    payload = wire_payload(doc)
    for key in ("inputs", "outputs"):
        if key in payload:
            payload[key] = to_jsonable(payload[key])
    return payload


def wire_payload(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`from_doc` with the inputs and outputs as the document holds them (our message and
    result models, in a run this process recorded), for a caller that serializes the payload at
    once: `tracer._json.dumps` writes the models directly into the same JSON, and converting
    them to plain values first cost half of remote mode's encoding."""
    payload: dict[str, Any] = {key: doc[key] for key in DOC_KEYS if key not in _DERIVED and doc.get(key) is not None}
    payload["session_name"] = payload.pop("project", None) or "default"
    extra = dict(doc.get("extra") or {})
    metadata = dict(extra.get("metadata") or {})
    added = {}
    if doc.get("model_name") and "ls_model_name" not in metadata:
        added["ls_model_name"] = doc["model_name"]
    if doc.get("prompt_tokens") is not None or doc.get("completion_tokens") is not None or doc.get("total_tokens") is not None:
        usage = {"input_tokens": doc.get("prompt_tokens"), "output_tokens": doc.get("completion_tokens"), "total_tokens": doc.get("total_tokens")}
        if doc.get("cost") is not None:
            usage["total_cost"] = doc["cost"]
        if "usage_metadata" not in metadata:
            added["usage_metadata"] = usage
    if added:
        extra["metadata"] = {**metadata, **added}
        extra[_ADDED] = sorted(added)
    payload["extra"] = extra
    return payload

