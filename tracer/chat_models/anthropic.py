"""`ChatAnthropic`: Anthropic's Messages API (`POST /v1/messages`) over the shared HTTP base.

Writing a request. System messages become the top-level `system` (joined by blank lines, or
kept as text blocks when one carries `cache_control`); every other message becomes a `user` or
`assistant` turn. The API wants the two roles to alternate, so neighbours of one role are merged
into one turn's content blocks: an AI message's text and its `tool_calls` (as `tool_use`
blocks), a `ToolMessage` as a `tool_result` block of a user turn, a `FunctionMessage` too
(answering the latest `tool_use` of its function's name). Images given OpenAI's way
(`image_url`, a data URL or a web address) or as neutral `image` blocks become Anthropic
`image` blocks with a `base64` or `url` source. Tools arrive OpenAI-shaped from `bind_tools`
and leave as `{"name", "description", "input_schema"}`.

Reading an answer. Text blocks are the content (a str), `tool_use` blocks the `tool_calls`,
thinking goes to `additional_kwargs["thinking"]`, `stop_reason` is the finish reason. A stream
is the same answer in events: `message_start` (id, model, prompt tokens), per block a
`content_block_start`, its deltas and a `content_block_stop`, then `message_delta` (stop reason,
output tokens) and `message_stop`, with `ping`s between and an `error` event when the provider
fails after it has started answering. The chunks add up to exactly what `invoke` returns.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from ..errors import APIResponseError, status_error
from ..messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    SystemMessage,
    ToolMessage,
    UsageMetadata,
)
from ..outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from ._http import HTTPChatModel

__all__ = ["ChatAnthropic"]

#: The status each error type of Anthropic's stands for (an `error` event has no status of its own).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)


class ChatAnthropic(HTTPChatModel):
    """Claude through Anthropic's Messages API. The key comes from `api_key`
    (or `anthropic_api_key`), else from `ANTHROPIC_API_KEY`."""

    model_name: str = Field(default="claude-3-5-haiku-latest", alias="model")
    api_key: SecretStr | None = Field(default=None, alias="anthropic_api_key")
    #: The API requires a limit on the reply's length.
    max_tokens: int = 1024
    top_k: int | None = None
    top_p: float | None = None
    anthropic_version: str = "2023-06-01"

    provider: ClassVar[str] = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    api_key_env: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        params = super()._identifying_params
        for name in ("top_k", "top_p"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        return params

    # -- the request -------------------------------------------------------------------------------

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}

    def _headers(self) -> dict[str, str]:
        # The version goes with every request, keyed or not (a proxy may hold the key);
        # `default_headers` may name another one.
        headers = super()._headers()
        if not any(name.lower() == "anthropic-version" for name in headers):
            headers["anthropic-version"] = self.anthropic_version
        return headers

    def _request_path(self, stream: bool) -> str:
        return "/v1/messages"

    def _request_body(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any], stream: bool) -> dict[str, Any]:
        system, turns = _system_and_turns(messages)
        body: dict[str, Any] = {"model": self.model_name, "max_tokens": self.max_tokens, "messages": turns}
        if system:
            body["system"] = system
        for name in ("temperature", "top_k", "top_p"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        stop = stop if stop is not None else self.stop
        if stop:
            body["stop_sequences"] = list(stop)
        options = dict(kwargs)
        tools = options.pop("tools", None)
        tool_choice = options.pop("tool_choice", None)
        if tools:
            body["tools"] = [_tool_spec(tool) for tool in tools]
        if tool_choice is not None:
            body["tool_choice"] = _tool_choice(tool_choice)
        # Anything else given at call time (max_tokens, metadata, thinking, ...) is the API's own.
        body.update({key: value for key, value in options.items() if value is not None})
        if stream:
            body["stream"] = True
        return body

    def _error_message(self, body: Any, text: str) -> str:
        """`{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}`."""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return _describe_error(body["error"])
        return super()._error_message(body, text)

    # -- the answer --------------------------------------------------------------------------------

    def _parse_response(self, data: Any) -> ChatResult:
        try:
            return self._read_message(data)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise APIResponseError(f"anthropic answered with an unreadable message ({exc!r}): {str(data)[:200]!r}", provider=self.provider) from exc

    def _read_message(self, data: dict[str, Any]) -> ChatResult:
        texts: list[str] = []
        thinking: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        for block in data["content"]:
            kind = block.get("type")
            if kind == "text":
                texts.append(block.get("text") or "")
            elif kind == "tool_use":
                tool_calls.append({"name": block["name"], "args": block.get("input") or {}, "id": block.get("id"), "type": "tool_call"})
            elif kind == "thinking" and block.get("thinking"):
                thinking.append(block["thinking"])
        finish_reason = data.get("stop_reason")
        message = AIMessage(
            content="".join(texts),
            id=data.get("id"),
            tool_calls=tool_calls,
            additional_kwargs={"thinking": "".join(thinking)} if thinking else {},
            response_metadata={"id": data.get("id"), "model_name": data.get("model"), "finish_reason": finish_reason, "stop_sequence": data.get("stop_sequence")},
            usage_metadata=_usage_metadata(data.get("usage")),
        )
        llm_output: dict[str, Any] = {"token_usage": data.get("usage") or {}, "model_name": data.get("model") or self.model_name}
        return ChatResult(generations=[ChatGeneration(message=message, generation_info={"finish_reason": finish_reason})], llm_output=llm_output)

    def _stream_parser(self) -> _StreamParser:
        return _StreamParser()


# -- messages into turns ---------------------------------------------------------------------------


def _system_and_turns(messages: list[BaseMessage]) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    latest_tool_use: dict[str, str] = {}  # function name -> id of its latest tool_use

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return  # an empty turn says nothing, and the API refuses empty content
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    for message in messages:
        role = _role(message)
        if role == "system":
            system.extend(_blocks(message.content))
        elif isinstance(message, ToolMessage):
            add("user", [_tool_result(message.tool_call_id, message.content, error=message.status == "error")])
        elif isinstance(message, FunctionMessage):
            add("user", [_tool_result(latest_tool_use.get(message.name, message.name), message.content)])
        elif role == "assistant":
            blocks = _assistant_blocks(message)
            latest_tool_use.update((b["name"], b["id"]) for b in blocks if b.get("type") == "tool_use")
            add("assistant", blocks)
        else:
            add("user", _blocks(message.content))

    for turn in turns:
        if turn["role"] == "user":
            # A user turn that answers tool calls must list its tool_result blocks first.
            turn["content"].sort(key=lambda block: block.get("type") != "tool_result")
        if len(turn["content"]) == 1 and set(turn["content"][0]) == {"type", "text"}:
            turn["content"] = turn["content"][0]["text"]
    if all(set(block) == {"type", "text"} for block in system):
        return "\n\n".join(block["text"] for block in system), turns
    return system, turns


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ChatMessage):
        role = message.role.lower()
        return {"ai": "assistant", "assistant": "assistant", "system": "system", "developer": "system"}.get(role, "user")
    return "user"  # human messages, and tool and function results (answered in user turns)


def _assistant_blocks(message: BaseMessage) -> list[dict[str, Any]]:
    blocks = _blocks(message.content)
    sent = {block.get("id") for block in blocks if block.get("type") == "tool_use"}
    calls = getattr(message, "tool_calls", None) or []
    for call in calls:
        call_id = call.get("id") or call["name"]
        if call_id not in sent:
            blocks.append({"type": "tool_use", "id": call_id, "name": call["name"], "input": call.get("args") or {}})
    function_call = message.additional_kwargs.get("function_call")
    if not calls and isinstance(function_call, dict) and function_call.get("name"):
        # A legacy OpenAI function call: its FunctionMessage answers it by name, so the name is its id.
        arguments = function_call.get("arguments") or "{}"
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
        blocks.append({"type": "tool_use", "id": function_call["name"], "name": function_call["name"], "input": args})
    return blocks


def _tool_result(tool_use_id: str, content: Any, *, error: bool = False) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id}
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        block["content"] = _blocks(content)
    if error:
        block["is_error"] = True
    return block


def _blocks(content: Any) -> list[dict[str, Any]]:
    """Message content as Anthropic content blocks (empty text left out: the API refuses it)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for item in content:
        block = _block(item)
        if block is not None:
            blocks.append(block)
    return blocks


def _block(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        return {"type": "text", "text": item} if item else None
    kind = item.get("type")
    if kind == "text":
        if not item.get("text"):
            return None
        block = {"type": "text", "text": item["text"]}
        if "cache_control" in item:
            block["cache_control"] = item["cache_control"]
        return block
    if kind == "image_url":
        image_url = item["image_url"]
        return _image(image_url["url"] if isinstance(image_url, dict) else image_url)
    if kind == "image" and "source" not in item:
        return _neutral_image(item)
    # Anthropic's own blocks (image with a source, document, tool_use, tool_result, thinking, ...)
    # pass through; `index` is a streaming artefact that no request may carry.
    return {key: value for key, value in item.items() if key != "index"}


def _image(url: str) -> dict[str, Any]:
    match = _DATA_URL.fullmatch(url)
    if match:
        return {"type": "image", "source": {"type": "base64", "media_type": match["mime"], "data": match["data"]}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise ValueError(f"An image for anthropic must be a base64 data URL or an https URL; got {url[:40]!r}")


def _neutral_image(item: dict[str, Any]) -> dict[str, Any]:
    """`{"type": "image", "source_type": "base64"|"url", "data"|"url": ..., "mime_type": ...}`."""
    source_type = item.get("source_type")
    data = item.get("data", item.get("base64"))
    if source_type == "base64" or (source_type is None and data is not None):
        if not item.get("mime_type"):
            raise ValueError("A base64 image block needs its mime_type")
        return {"type": "image", "source": {"type": "base64", "media_type": item["mime_type"], "data": data}}
    if item.get("url"):
        return _image(item["url"])
    raise ValueError(f"Cannot send this image block to anthropic (keys {sorted(item)})")


def _tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") if tool.get("type") == "function" else None
    if not isinstance(function, dict):
        return tool  # already Anthropic's shape (a client tool or a server tool such as web search)
    spec: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        spec["description"] = function["description"]
    spec["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return spec


def _tool_choice(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        function = choice.get("function")
        if choice.get("type") == "function" and isinstance(function, dict):
            return {"type": "tool", "name": function["name"]}
        return choice
    if choice == "auto":
        return {"type": "auto"}
    if choice in ("any", "required"):
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice}


def _describe_error(error: dict[str, Any]) -> str:
    message = str(error.get("message") or "no error message")
    return f"{error['type']}: {message}" if error.get("type") else message


# -- usage ---------------------------------------------------------------------------------------


def _usage_metadata(raw: dict[str, Any] | None) -> UsageMetadata | None:
    if not raw or (raw.get("input_tokens") is None and raw.get("output_tokens") is None):
        return None
    cache_read = raw.get("cache_read_input_tokens")
    cache_creation = raw.get("cache_creation_input_tokens")
    # Anthropic counts the prompt tokens read from or written to its cache apart from
    # `input_tokens` (which are only those after the last cache breakpoint): the prompt is all three.
    input_tokens = (raw.get("input_tokens") or 0) + (cache_read or 0) + (cache_creation or 0)
    output_tokens = raw.get("output_tokens") or 0
    usage: UsageMetadata = {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}
    details = {name: value for name, value in (("cache_read", cache_read), ("cache_creation", cache_creation)) if value is not None}
    if details:
        usage["input_token_details"] = details
    return usage


def _usage_increment(current: UsageMetadata | None, reported: UsageMetadata | None) -> UsageMetadata | None:
    """What `current` adds to the usage already `reported` on earlier chunks (chunks add up)."""
    if current is None or reported is None:
        return current
    input_tokens = current["input_tokens"] - reported["input_tokens"]
    output_tokens = current["output_tokens"] - reported["output_tokens"]
    before = reported.get("input_token_details", {})
    details = {name: value - before.get(name, 0) for name, value in current.get("input_token_details", {}).items() if name not in before or value != before[name]}
    if not (input_tokens or output_tokens or details):
        return None
    usage: UsageMetadata = {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}
    if details:
        usage["input_token_details"] = details
    return usage


# -- the stream ----------------------------------------------------------------------------------


class _StreamParser:
    """Anthropic's stream events into chunks. Usage is cumulative in the events (the output
    count of `message_start` is provisional, `message_delta` has the final one), so each chunk
    carries only what the previous ones have not: the prompt on the first, the rest on the last."""

    def __init__(self) -> None:
        self._block_types: dict[int, str] = {}
        self._usage: dict[str, Any] = {}
        self._reported: UsageMetadata | None = None

    def feed(self, event: str, data: str) -> list[ChatGenerationChunk]:
        payload = json.loads(data) if data else {}
        kind = event if event and event != "message" else payload.get("type")
        if kind == "message_start":
            return self._message_start(payload["message"])
        if kind == "content_block_start":
            return self._block_start(payload["index"], payload["content_block"])
        if kind == "content_block_delta":
            return self._block_delta(payload["index"], payload["delta"])
        if kind == "message_delta":
            return self._message_delta(payload.get("delta") or {}, payload.get("usage") or {})
        if kind == "error":
            error = payload.get("error") or {}
            status = _ERROR_STATUS.get(error.get("type"), 500)
            raise status_error(status, _describe_error(error), provider=ChatAnthropic.provider, body=payload)
        # ping, content_block_stop, message_stop, and event types added after this was written.
        return []

    def close(self) -> list[ChatGenerationChunk]:
        return []

    def _message_start(self, message: dict[str, Any]) -> list[ChatGenerationChunk]:
        self._usage = dict(message.get("usage") or {})
        usage = _usage_metadata({**self._usage, "output_tokens": 0}) if self._usage else None
        self._reported = usage
        chunk = AIMessageChunk(content="", id=message.get("id"), response_metadata={"id": message.get("id"), "model_name": message.get("model")}, usage_metadata=usage)
        return [ChatGenerationChunk(message=chunk)]

    def _block_start(self, index: int, block: dict[str, Any]) -> list[ChatGenerationChunk]:
        kind = block.get("type", "")
        self._block_types[index] = kind
        if kind == "tool_use":
            # The input arrives in input_json_delta fragments; a server may also send it whole here.
            args = json.dumps(block["input"]) if block.get("input") else ""
            call = {"name": block["name"], "id": block.get("id"), "args": args, "index": index, "type": "tool_call_chunk"}
            return [ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[call]))]
        if kind == "text" and block.get("text"):
            return [ChatGenerationChunk(message=AIMessageChunk(content=block["text"]))]
        if kind == "thinking" and block.get("thinking"):
            return [ChatGenerationChunk(message=AIMessageChunk(content="", additional_kwargs={"thinking": block["thinking"]}))]
        return []

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[ChatGenerationChunk]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [ChatGenerationChunk(message=AIMessageChunk(content=delta["text"]))]
        if kind == "input_json_delta" and delta.get("partial_json") and self._block_types.get(index) == "tool_use":
            call = {"name": None, "id": None, "args": delta["partial_json"], "index": index, "type": "tool_call_chunk"}
            return [ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[call]))]
        if kind == "thinking_delta" and delta.get("thinking"):
            # Thinking is not the reply: kept beside it, as invoke keeps it.
            return [ChatGenerationChunk(message=AIMessageChunk(content="", additional_kwargs={"thinking": delta["thinking"]}))]
        return []  # signature_delta, citations_delta, a server tool's input

    def _message_delta(self, delta: dict[str, Any], usage: dict[str, Any]) -> list[ChatGenerationChunk]:
        self._usage.update((name, value) for name, value in usage.items() if value is not None)
        current = _usage_metadata(self._usage)
        increment = _usage_increment(current, self._reported)
        self._reported = current if current is not None else self._reported
        finish_reason = delta.get("stop_reason")
        chunk = AIMessageChunk(content="", response_metadata={"finish_reason": finish_reason, "stop_sequence": delta.get("stop_sequence")}, usage_metadata=increment)
        return [ChatGenerationChunk(message=chunk, generation_info={"finish_reason": finish_reason} if finish_reason else None)]
