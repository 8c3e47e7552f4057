"""The record shapes of `tracer.export`'s formats, one record at a time (no I/O here).

A record is what one line or row holds: `{"inputs", "outputs", "metadata", "feedback", "split"}`.
`example_record` / `run_record` make one from an example or a run; `to_example` turns one back
into what `tracer.datasets.add_examples` takes. CSV cells, OpenAI chat fine-tuning lines and
LangSmith `Example` objects convert both ways here; see `tracer.export` for the formats.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ._json import to_jsonable
from .schemas import Example, Run

__all__ = [
    "dumps_line",
    "check_format",
    "example_record",
    "run_record",
    "to_example",
    "csv_columns",
    "csv_row",
    "csv_record",
    "to_openai",
    "from_openai",
    "to_langsmith",
    "from_langsmith",
]


def dumps_line(value: Any) -> str:
    return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def check_format(fmt: str, allowed: tuple[str, ...]) -> str:
    if fmt not in allowed:
        raise ValueError(f"Unknown format {fmt!r}: choose one of {', '.join(allowed)}.")
    return fmt


# -- records ----------------------------------------------------------------------------------
# A record is what one line/row holds: {"inputs", "outputs", "metadata", "feedback", "split"}.


def example_record(example: Example) -> dict[str, Any]:
    metadata = dict(example.metadata)
    feedback = metadata.pop("feedback", [])
    return {"inputs": example.inputs, "outputs": example.outputs, "metadata": metadata, "feedback": feedback, "split": example.split}


def run_record(run: Run, feedback: list[dict[str, Any]]) -> dict[str, Any]:
    metadata = {
        "source_run_id": str(run.id),
        "trace_id": str(run.trace_id),
        "parent_run_id": None if run.parent_run_id is None else str(run.parent_run_id),
        "project": run.project,
        "run_name": run.name,
        "run_type": run.run_type,
        "status": run.status,
        "start_time": run.start_time.isoformat(),
        "end_time": None if run.end_time is None else run.end_time.isoformat(),
        "latency": run.latency,
        "error": run.error,
        "tags": run.tags,
        "model_name": run.model_name,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "total_tokens": run.total_tokens,
        "cost": run.cost,
        "run_metadata": run.metadata,
    }
    if run.invocation_params.get("tools"):
        metadata["tools"] = run.invocation_params["tools"]
    return {"inputs": run.inputs, "outputs": run.outputs, "metadata": metadata, "feedback": feedback, "split": None}


def to_example(record: Mapping[str, Any]) -> dict[str, Any]:
    metadata = dict(record.get("metadata") or {})
    if record.get("feedback"):
        metadata["feedback"] = record["feedback"]
    return {"inputs": record.get("inputs") or {}, "outputs": record.get("outputs"), "metadata": metadata, "split": record.get("split")}


# -- CSV cells ---------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, str) and value:
        try:
            json.loads(value)
        except ValueError:
            return value  # plain text stays plain
    return dumps_line(value)


def _uncell(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


_PARTS = ("inputs", "outputs", "metadata")


def csv_columns(records: Iterable[Mapping[str, Any]]) -> list[str]:
    keys: dict[str, dict[str, None]] = {part: {} for part in _PARTS}
    for record in records:
        for part in _PARTS:
            for key in record.get(part) or {}:
                keys[part][key] = None
    return ["split", *(f"{part}.{key}" for part in _PARTS for key in keys[part]), "feedback"]


def csv_row(record: Mapping[str, Any], columns: list[str]) -> list[str]:
    row = []
    for column in columns:
        if column in ("split", "feedback"):
            value = record.get(column)
            row.append("" if value is None or value == [] else _cell(value))
            continue
        part, key = column.split(".", 1)
        values = record.get(part) or {}
        row.append(_cell(values[key]) if key in values else "")
    return row


def csv_record(row: Mapping[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {"inputs": {}, "outputs": None, "metadata": {}, "feedback": [], "split": None}
    for column, text in row.items():
        if text == "" or text is None or column is None:
            continue
        if column in ("split", "feedback"):
            record[column] = _uncell(text)
            continue
        part, _, key = column.partition(".")
        if part not in _PARTS:
            continue
        if record[part] is None:
            record[part] = {}
        record[part][key] = _uncell(text)
    return record


# -- OpenAI chat fine-tuning -------------------------------------------------------------------

_ROLES = {"system": "system", "developer": "system", "human": "user", "user": "user", "ai": "assistant", "assistant": "assistant", "tool": "tool"}


def _openai_message(message: Any) -> dict[str, Any]:
    if isinstance(message, str):
        return {"role": "user", "content": message}
    if isinstance(message, (list, tuple)) and len(message) == 2:
        return _openai_message({"role": message[0], "content": message[1]})
    kind = message.get("role") or message.get("type") or "user"
    if kind == "chat":
        kind = message.get("role", "user")
    role = _ROLES.get(kind, "user")
    out: dict[str, Any] = {"role": role}
    content = message.get("content")
    calls = message.get("tool_calls") or []
    if role == "assistant" and calls:
        if content:
            out["content"] = content
        out["tool_calls"] = [_openai_call(call) for call in calls]
    else:
        out["content"] = "" if content is None else content
    if role == "tool":
        out["tool_call_id"] = message.get("tool_call_id") or ""
    if message.get("name") and role in ("user", "assistant", "system"):
        out["name"] = message["name"]
    return out


def _openai_call(call: Mapping[str, Any]) -> dict[str, Any]:
    if "function" in call:  # already OpenAI-shaped
        function = call["function"]
        arguments = function.get("arguments")
        return {"id": call.get("id") or "", "type": "function", "function": {"name": function["name"], "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}}
    args = call.get("args")
    return {"id": call.get("id") or "", "type": "function", "function": {"name": call.get("name") or "", "arguments": args if isinstance(args, str) else json.dumps(args or {})}}


def _prompt(inputs: Mapping[str, Any]) -> list[Any]:
    messages = inputs.get("messages")
    if isinstance(messages, list) and messages:
        return messages[0] if isinstance(messages[0], list) else messages
    texts = [value for value in inputs.values() if isinstance(value, str)]
    return [texts[0] if len(texts) == 1 else dumps_line(dict(inputs))]


def _reply(outputs: Mapping[str, Any] | None) -> Any:
    if not outputs:
        return None
    generations = outputs.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0][0] if isinstance(generations[0], list) else generations[0]
        return first.get("message") or {"type": "ai", "content": first.get("text", "")}
    for key in ("output", "message", "answer"):
        if key in outputs:
            value = outputs[key]
            return value if isinstance(value, dict) and ("content" in value or "tool_calls" in value) else {"type": "ai", "content": value if isinstance(value, str) else dumps_line(value)}
    if "content" in outputs:
        return {"type": "ai", **outputs}
    return {"type": "ai", "content": dumps_line(dict(outputs))}


def to_openai(record: Mapping[str, Any]) -> dict[str, Any]:
    """One OpenAI chat fine-tuning line for a record: its prompt, then its reference reply."""
    messages = [_openai_message(m) for m in _prompt(record.get("inputs") or {})]
    reply = _reply(record.get("outputs"))
    if reply is not None:
        message = _openai_message({**reply, "role": "assistant"} if isinstance(reply, dict) else {"role": "assistant", "content": reply})
        messages.append(message)
    line: dict[str, Any] = {"messages": messages}
    tools = (record.get("metadata") or {}).get("tools")
    if tools:
        line["tools"] = tools
    return line


_TYPES = {"system": "system", "user": "human", "assistant": "ai", "tool": "tool"}


def _stored_message(message: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"content": message.get("content") or "", "type": _TYPES.get(message.get("role", "user"), "human")}
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {"name": c["function"]["name"], "args": json.loads(c["function"]["arguments"] or "{}"), "id": c.get("id"), "type": "tool_call"}
            for c in message["tool_calls"]
        ]
    if message.get("tool_call_id"):
        out["tool_call_id"] = message["tool_call_id"]
    if message.get("name"):
        out["name"] = message["name"]
    return out


def from_openai(line: Mapping[str, Any]) -> dict[str, Any]:
    """The record of an OpenAI fine-tuning line: the last assistant message is the reference output."""
    messages = list(line.get("messages") or [])
    reply = messages.pop() if messages and messages[-1].get("role") == "assistant" else None
    metadata = {"tools": line["tools"]} if line.get("tools") else {}
    return {
        "inputs": {"messages": [_stored_message(m) for m in messages]},
        "outputs": None if reply is None else {"output": _stored_message(reply)},
        "metadata": metadata,
        "feedback": [],
        "split": None,
    }


# -- LangSmith ---------------------------------------------------------------------------------


def to_langsmith(example: Example) -> dict[str, Any]:
    metadata = dict(example.metadata)
    if example.split is not None:
        metadata["dataset_split"] = [example.split]
    return {
        "id": str(example.id),
        "dataset_id": str(example.dataset_id),
        "inputs": example.inputs,
        "outputs": example.outputs,
        "metadata": metadata,
        "source_run_id": None if example.source_run_id is None else str(example.source_run_id),
        "split": example.split,
        "created_at": example.created_at.isoformat(),
        "modified_at": example.modified_at.isoformat(),
    }


def from_langsmith(line: Mapping[str, Any]) -> dict[str, Any]:
    metadata = dict(line.get("metadata") or {})
    splits = metadata.pop("dataset_split", None)
    if line.get("split") is not None:  # `ExampleCreate.split`: a name or a list of names
        splits = line["split"]
    split = splits[0] if isinstance(splits, list) and splits else splits if isinstance(splits, str) else None
    if line.get("source_run_id") and "source_run_id" not in metadata:
        metadata["source_run_id"] = line["source_run_id"]
    return {"inputs": line.get("inputs") or {}, "outputs": line.get("outputs"), "metadata": metadata, "split": split}
