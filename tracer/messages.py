"""Chat messages: the values that go into and come out of a chat model.

The types and field names are LangChain's, so code written against `langchain_core.messages`
runs with only its imports changed. A message is a pydantic model whose `type` field names its
kind ("human", "ai", ...; chunks "AIMessageChunk", ...), which is what makes the JSON round trip
exact: `message_from_dict(m.model_dump()) == m`.

`repr` shows the conversation, not the bookkeeping: `AIMessage(content='...')`, plus the fields
that change what a message means (`name`, `role`, `tool_calls`, `tool_call_id`). Token usage and
provider metadata stay on the object and in the trace.

Streaming yields chunks; chunks of one kind add up (`AIMessageChunk + AIMessageChunk`): text is
concatenated, metadata dicts merged, token counts summed and tool-call fragments joined by index.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import NotRequired, TypedDict

__all__ = [
    "BaseMessage",
    "BaseMessageChunk",
    "HumanMessage",
    "AIMessage",
    "SystemMessage",
    "FunctionMessage",
    "ToolMessage",
    "ChatMessage",
    "HumanMessageChunk",
    "AIMessageChunk",
    "SystemMessageChunk",
    "FunctionMessageChunk",
    "ToolMessageChunk",
    "ChatMessageChunk",
    "ToolCall",
    "ToolCallChunk",
    "InvalidToolCall",
    "UsageMetadata",
    "AnyMessage",
    "PromptValue",
    "StringPromptValue",
    "ChatPromptValue",
    "MessageLikeRepresentation",
    "convert_to_messages",
    "message_to_dict",
    "messages_to_dict",
    "message_from_dict",
    "messages_from_dict",
    "message_chunk_to_message",
    "get_buffer_string",
    "add_usage",
    "parse_tool_call_chunks",
]

Content = Union[str, list[Union[str, dict[str, Any]]]]


class ToolCall(TypedDict):
    name: str
    args: dict[str, Any]
    id: str | None
    type: NotRequired[Literal["tool_call"]]


class ToolCallChunk(TypedDict):
    name: str | None
    args: str | None
    id: str | None
    index: int | None
    type: NotRequired[Literal["tool_call_chunk"]]


class InvalidToolCall(TypedDict):
    name: str | None
    args: str | None
    id: str | None
    error: str | None
    type: NotRequired[Literal["invalid_tool_call"]]


class UsageMetadata(TypedDict):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_token_details: NotRequired[dict[str, int]]
    output_token_details: NotRequired[dict[str, int]]


# Serialized messages leave out empty dicts and lists and absent values: traces stay small and
# readable, and the JSON round trip is still exact (the defaults come back). Both tests are C
# functions: the serializer calls them for every such field of every message, and a Python
# function there cost more than the serialization itself.
_empty = operator.not_
_absent = functools.partial(operator.is_, None)


class BaseMessage(BaseModel):
    """One message of a conversation. `content` may be given positionally."""

    model_config = ConfigDict(extra="allow")

    content: Content
    additional_kwargs: dict[str, Any] = Field(default_factory=dict, exclude_if=_empty)
    response_metadata: dict[str, Any] = Field(default_factory=dict, exclude_if=_empty)
    type: str
    name: str | None = Field(default=None, exclude_if=_absent)
    id: str | None = Field(default=None, exclude_if=_absent)

    # Fields shown by repr besides `content`, when they differ from their default.
    _repr_fields: ClassVar[tuple[str, ...]] = ("name",)

    def __init__(self, content: Content | None = None, /, **kwargs: Any) -> None:
        if content is not None:
            kwargs["content"] = content
        super().__init__(**kwargs)

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:
        yield "content", self.content
        for name in self._repr_fields:
            value = getattr(self, name)
            if value:
                yield name, value

    def __str__(self) -> str:
        return repr(self)

    @property
    def text(self) -> str:
        """The text of the content, whether it is a string or a list of blocks."""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for block in self.content:
            if isinstance(block, str):
                parts.append(block)
            elif block.get("type") == "text":
                parts.append(block.get("text", ""))
        return "".join(parts)

    def pretty_repr(self) -> str:
        title = f" {type(self).__name__.removesuffix('Chunk').removesuffix('Message')} Message "
        return f"{title:=^80}\n\n{self.text}"


class BaseMessageChunk(BaseMessage):
    """A piece of a streamed message; pieces of one kind add up with `+`."""

    def __add__(self, other: Any) -> BaseMessageChunk:
        if isinstance(other, list):
            return _sum_chunks(self, other)
        if type(other) is not type(self):
            return NotImplemented
        return type(self)(**self._merged_fields(other))

    def _merged_fields(self, other: BaseMessageChunk) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "content": _merge_content(self.content, other.content),
            "additional_kwargs": _merge_dicts(self.additional_kwargs, other.additional_kwargs),
            "response_metadata": _merge_dicts(self.response_metadata, other.response_metadata),
            "id": self.id or other.id,
            "name": self.name or other.name,
        }
        extra = self.__pydantic_extra__ or {}
        if extra or other.__pydantic_extra__:
            fields.update(_merge_dicts(extra, other.__pydantic_extra__ or {}))
        return fields


class HumanMessage(BaseMessage):
    type: Literal["human"] = "human"


class SystemMessage(BaseMessage):
    type: Literal["system"] = "system"


class AIMessage(BaseMessage):
    type: Literal["ai"] = "ai"
    tool_calls: list[ToolCall] = Field(default_factory=list, exclude_if=_empty)
    invalid_tool_calls: list[InvalidToolCall] = Field(default_factory=list, exclude_if=_empty)
    usage_metadata: UsageMetadata | None = Field(default=None, exclude_if=_absent)

    _repr_fields: ClassVar[tuple[str, ...]] = ("name", "tool_calls", "invalid_tool_calls")


class ChatMessage(BaseMessage):
    """A message with an arbitrary `role`."""

    type: Literal["chat"] = "chat"
    role: str

    _repr_fields: ClassVar[tuple[str, ...]] = ("role", "name")


class FunctionMessage(BaseMessage):
    """The result of a (legacy OpenAI) function call; `name` is the function's."""

    type: Literal["function"] = "function"
    name: str  # type: ignore[assignment]


class ToolMessage(BaseMessage):
    """The result of a tool call, answering the `ToolCall` with id `tool_call_id`."""

    type: Literal["tool"] = "tool"
    tool_call_id: str
    status: Literal["success", "error"] = "success"
    artifact: Any = Field(default=None, exclude_if=_absent)

    _repr_fields: ClassVar[tuple[str, ...]] = ("name", "tool_call_id")


class HumanMessageChunk(HumanMessage, BaseMessageChunk):
    type: Literal["HumanMessageChunk"] = "HumanMessageChunk"  # type: ignore[assignment]


class SystemMessageChunk(SystemMessage, BaseMessageChunk):
    type: Literal["SystemMessageChunk"] = "SystemMessageChunk"  # type: ignore[assignment]


class ChatMessageChunk(ChatMessage, BaseMessageChunk):
    type: Literal["ChatMessageChunk"] = "ChatMessageChunk"  # type: ignore[assignment]

    def _merged_fields(self, other: BaseMessageChunk) -> dict[str, Any]:
        assert isinstance(other, ChatMessageChunk)
        if self.role != other.role:
            raise ValueError(f"Cannot add ChatMessageChunks of roles {self.role!r} and {other.role!r}")
        return {**super()._merged_fields(other), "role": self.role}


class FunctionMessageChunk(FunctionMessage, BaseMessageChunk):
    type: Literal["FunctionMessageChunk"] = "FunctionMessageChunk"  # type: ignore[assignment]


class ToolMessageChunk(ToolMessage, BaseMessageChunk):
    type: Literal["ToolMessageChunk"] = "ToolMessageChunk"  # type: ignore[assignment]

    def _merged_fields(self, other: BaseMessageChunk) -> dict[str, Any]:
        assert isinstance(other, ToolMessageChunk)
        if self.tool_call_id != other.tool_call_id:
            raise ValueError("Cannot add ToolMessageChunks that answer different tool calls")
        fields = super()._merged_fields(other)
        fields.update(tool_call_id=self.tool_call_id, status="error" if "error" in (self.status, other.status) else "success")
        fields["artifact"] = other.artifact if other.artifact is not None else self.artifact
        return fields


class AIMessageChunk(AIMessage, BaseMessageChunk):
    """A piece of a model's streamed reply. Tool calls arrive as `tool_call_chunks` whose
    `args` are JSON fragments; `tool_calls` holds those that parse so far."""

    type: Literal["AIMessageChunk"] = "AIMessageChunk"  # type: ignore[assignment]
    tool_call_chunks: list[ToolCallChunk] = Field(default_factory=list, exclude_if=_empty)

    def __init__(self, content: Content | None = None, /, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        if self.tool_call_chunks and not self.tool_calls and not self.invalid_tool_calls:
            self.tool_calls, self.invalid_tool_calls = parse_tool_call_chunks(self.tool_call_chunks)

    def _merged_fields(self, other: BaseMessageChunk) -> dict[str, Any]:
        assert isinstance(other, AIMessageChunk)
        fields = super()._merged_fields(other)
        fields["usage_metadata"] = add_usage(self.usage_metadata, other.usage_metadata)
        if self.tool_call_chunks or other.tool_call_chunks:
            fields["tool_call_chunks"] = _merge_lists(self.tool_call_chunks, other.tool_call_chunks)
        else:
            fields["tool_calls"] = self.tool_calls + other.tool_calls
            fields["invalid_tool_calls"] = self.invalid_tool_calls + other.invalid_tool_calls
        return fields


AnyMessage = Union[
    HumanMessage,
    AIMessage,
    SystemMessage,
    ChatMessage,
    FunctionMessage,
    ToolMessage,
    HumanMessageChunk,
    AIMessageChunk,
    SystemMessageChunk,
    ChatMessageChunk,
    FunctionMessageChunk,
    ToolMessageChunk,
]
_BY_TYPE: dict[str, type[BaseMessage]] = {cls.model_fields["type"].default: cls for cls in AnyMessage.__args__}  # type: ignore[attr-defined]


class PromptValue(BaseModel):
    """A formatted prompt, usable as a chat model's input."""

    def to_messages(self) -> list[BaseMessage]:
        raise NotImplementedError

    def to_string(self) -> str:
        raise NotImplementedError


class StringPromptValue(PromptValue):
    type: Literal["StringPromptValue"] = "StringPromptValue"
    text: str

    def to_messages(self) -> list[BaseMessage]:
        return [HumanMessage(content=self.text)]

    def to_string(self) -> str:
        return self.text


class ChatPromptValue(PromptValue):
    type: Literal["ChatPromptValue"] = "ChatPromptValue"
    messages: list[Annotated[AnyMessage, Field(discriminator="type")]]

    def to_messages(self) -> list[BaseMessage]:
        return list(self.messages)

    def to_string(self) -> str:
        return get_buffer_string(self.messages)


MessageLikeRepresentation = Union[BaseMessage, str, tuple[str, Any], list[str], dict[str, Any]]

_ROLES: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "user": HumanMessage,
    "ai": AIMessage,
    "assistant": AIMessage,
    "system": SystemMessage,
    "developer": SystemMessage,
    "function": FunctionMessage,
    "tool": ToolMessage,
}


def _from_role(role: str, content: Any, **fields: Any) -> BaseMessage:
    cls = _ROLES.get(role)
    if cls is None:
        return ChatMessage(content=content, role=role, **fields)
    if cls is AIMessage and "tool_calls" in fields:
        fields["tool_calls"] = [_openai_tool_call(call) for call in fields["tool_calls"] or []]
    return cls(content=content, **fields)


def _openai_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """Accept both our `ToolCall` shape and OpenAI's `{"function": {"name", "arguments"}}`."""
    if "function" not in call:
        return call
    function = call["function"]
    arguments = function.get("arguments") or "{}"
    return {"name": function["name"], "args": json.loads(arguments) if isinstance(arguments, str) else arguments, "id": call.get("id"), "type": "tool_call"}


def _coerce_one(value: Any) -> BaseMessage:
    if isinstance(value, BaseMessage):
        return value
    if isinstance(value, str):
        return HumanMessage(content=value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
        return _from_role(value[0], value[1])
    if isinstance(value, dict):
        if isinstance(value.get("data"), dict) and "type" in value:
            return message_from_dict(value)  # message_to_dict's shape
        fields = dict(value)
        role = fields.pop("role", None) or fields.pop("type", None)
        if role is None or "content" not in fields:
            raise ValueError(f"A message dict needs 'role' (or 'type') and 'content'; got keys {sorted(value)}")
        # OpenAI sends `"content": null` on an assistant message that only calls tools.
        content = fields.pop("content")
        return _from_role(role, "" if content is None else content, **fields)
    raise TypeError(
        f"Cannot use {type(value).__name__} as a chat message: expected a message, a str, "
        "a (role, content) tuple or a dict with 'role' and 'content'"
    )


def convert_to_messages(value: Any) -> list[BaseMessage]:
    """Coerce a chat model's input into a list of messages.

    Accepts a `str` (one `HumanMessage`), a `PromptValue`, one message, or a sequence of
    messages, strings, `(role, content)` tuples and role/content dicts.
    """
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, dict):
        return [_coerce_one(value)]
    if isinstance(value, Sequence):
        return [_coerce_one(item) for item in value]
    raise TypeError(
        f"Invalid input type {type(value).__name__}: a chat model takes a str, a PromptValue, "
        "or a list of messages"
    )


def message_to_dict(message: BaseMessage) -> dict[str, Any]:
    """LangChain's storage shape: `{"type": ..., "data": {...fields...}}`."""
    return {"type": message.type, "data": message.model_dump()}


def messages_to_dict(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    return [message_to_dict(m) for m in messages]


def message_from_dict(data: dict[str, Any]) -> BaseMessage:
    """Rebuild a message from `message_to_dict`'s shape or from a flat `model_dump()`."""
    fields = data["data"] if isinstance(data.get("data"), dict) else data
    kind = data.get("type") or fields.get("type")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"Unknown message type {kind!r}; expected one of {sorted(_BY_TYPE)}")
    return cls.model_validate({**fields, "type": cls.model_fields["type"].default})


def messages_from_dict(items: Sequence[dict[str, Any]]) -> list[BaseMessage]:
    return [message_from_dict(item) for item in items]


def message_chunk_to_message(chunk: BaseMessage) -> BaseMessage:
    """The whole message that a sum of chunks stands for (`AIMessageChunk` -> `AIMessage`)."""
    if not isinstance(chunk, BaseMessageChunk):
        return chunk
    base = next(cls for cls in type(chunk).__mro__[1:] if issubclass(cls, BaseMessage) and not issubclass(cls, BaseMessageChunk))
    fields = chunk.model_dump(exclude={"type", "tool_call_chunks"})
    return base(**fields)


def get_buffer_string(messages: Sequence[BaseMessage], human_prefix: str = "Human", ai_prefix: str = "AI") -> str:
    """A transcript, one `Role: text` line per message."""
    prefixes = {"human": human_prefix, "ai": ai_prefix, "system": "System", "function": "Function", "tool": "Tool"}
    lines = []
    for message in messages:
        kind = message.type.removesuffix("MessageChunk").lower() if message.type.endswith("Chunk") else message.type
        prefix = message.role if isinstance(message, ChatMessage) else prefixes.get(kind, kind)
        lines.append(f"{prefix}: {message.text}")
    return "\n".join(lines)


def add_usage(left: UsageMetadata | None, right: UsageMetadata | None) -> UsageMetadata | None:
    """The sum of two token counts (either may be missing)."""
    if left is None:
        return right
    if right is None:
        return left
    total: dict[str, Any] = {}
    for key in left.keys() | right.keys():
        a, b = left.get(key), right.get(key)  # type: ignore[misc]
        if isinstance(a, dict) or isinstance(b, dict):
            total[key] = {k: (a or {}).get(k, 0) + (b or {}).get(k, 0) for k in (a or {}).keys() | (b or {}).keys()}
        else:
            total[key] = (a or 0) + (b or 0)
    return total  # type: ignore[return-value]


def _sum_chunks(first: BaseMessageChunk, rest: list[BaseMessageChunk]) -> BaseMessageChunk:
    """`first + rest[0] + rest[1] + ...` in one pass for the common case of a text stream
    (one model construction instead of one per chunk); anything else adds pairwise."""
    cls = type(first)
    # Roles and tool-call ids must be checked pair by pair, so those kinds take the slow path.
    plain = not isinstance(first, (ChatMessageChunk, ToolMessageChunk)) and isinstance(first.content, str) and not first.__pydantic_extra__ and not getattr(first, "tool_call_chunks", None)
    if not plain or not all(
        type(c) is cls and isinstance(c.content, str) and not c.__pydantic_extra__ and not getattr(c, "tool_call_chunks", None) for c in rest
    ):
        result = first
        for chunk in rest:
            result = result + chunk
        return result
    chunks = [first, *rest]
    fields: dict[str, Any] = {
        "content": "".join(c.content for c in chunks),  # type: ignore[misc]
        "additional_kwargs": _merge_all(c.additional_kwargs for c in chunks),
        "response_metadata": _merge_all(c.response_metadata for c in chunks),
        "id": next((c.id for c in chunks if c.id), None),
        "name": next((c.name for c in chunks if c.name), None),
    }
    if isinstance(first, AIMessageChunk):
        usage = None
        for chunk in chunks:
            usage = add_usage(usage, chunk.usage_metadata)  # type: ignore[attr-defined]
        fields["usage_metadata"] = usage
        fields["tool_calls"] = [call for c in chunks for call in c.tool_calls]  # type: ignore[attr-defined]
        fields["invalid_tool_calls"] = [call for c in chunks for call in c.invalid_tool_calls]  # type: ignore[attr-defined]
    return cls(**fields)


def _merge_all(dicts: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in dicts:
        if item:
            merged = _merge_dicts(merged, item)
    return merged


def _merge_content(left: Content, right: Content) -> Content:
    if isinstance(left, str) and isinstance(right, str):
        return left + right
    if isinstance(left, str):
        return ([left] if left else []) + list(right)  # type: ignore[return-value]
    if isinstance(right, str):
        if right == "":
            return left
        if left and isinstance(left[-1], str):
            return [*left[:-1], left[-1] + right]
        return [*left, right]
    return _merge_lists(left, right)  # type: ignore[return-value]


def _merge_dicts(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Merge streamed metadata: text fragments concatenate, dicts and lists merge, anything
    else (numbers, flags) takes the latest value. Identifiers repeated in every chunk
    (`id`, `model_name`, ...) are kept once rather than concatenated."""
    merged = dict(left)
    for key, value in right.items():
        current = merged.get(key)
        if current is None:
            merged[key] = value
        elif value is None:
            continue
        elif isinstance(current, str) and isinstance(value, str):
            merged[key] = current if key in _IDENTITY_KEYS and current == value else current + value
        elif isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _merge_dicts(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = _merge_lists(current, value)
        else:
            merged[key] = value
    return merged


_IDENTITY_KEYS = frozenset({"id", "type", "model", "model_name", "finish_reason", "stop_reason", "system_fingerprint", "role"})


def _merge_lists(left: list[Any], right: list[Any]) -> list[Any]:
    """Join lists; items that are dicts with the same `index` are one item streamed in pieces."""
    merged = list(left)
    for item in right:
        if isinstance(item, dict) and item.get("index") is not None:
            for i, existing in enumerate(merged):
                if isinstance(existing, dict) and existing.get("index") == item["index"]:
                    merged[i] = _merge_dicts(existing, {k: v for k, v in item.items() if k != "type" or "type" not in existing})
                    break
            else:
                merged.append(item)
        else:
            merged.append(item)
    return merged


def parse_tool_call_chunks(chunks: list[ToolCallChunk]) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Tool calls from (assembled) chunks: those whose JSON arguments parse, and the others."""
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for chunk in chunks:
        raw = chunk.get("args") or ""
        try:
            args = json.loads(raw) if raw else {}
            if not isinstance(args, dict):
                raise ValueError("tool call arguments are not a JSON object")
        except ValueError as exc:
            invalid.append({"name": chunk.get("name"), "args": raw, "id": chunk.get("id"), "error": str(exc), "type": "invalid_tool_call"})
            continue
        calls.append({"name": chunk.get("name") or "", "args": args, "id": chunk.get("id"), "type": "tool_call"})
    return calls, invalid
