"""`ChatOpenAI`: OpenAI's Chat Completions API, and any server that speaks it (`base_url`).

Requests: every message kind in OpenAI's shape (system/user/assistant/tool/function roles,
`ChatMessage` with its own role), content lists with text and images (OpenAI `image_url` parts,
our `{"type": "image", "source_type": ...}` blocks and Anthropic-style `source` blocks all become
`image_url` parts), tools as `tracer.tools` describes them, `tool_choice` in OpenAI's words
("any" is "required"; a tool's name forces that tool). o-series and gpt-5 models take
`max_completion_tokens`, the others `max_tokens`.

Answers: the reply's text, its tool calls (arguments that are not a JSON object become
`invalid_tool_calls`), `response_metadata` (`model_name`, `finish_reason`, `id`,
`system_fingerprint`, `service_tier`) and `usage_metadata` with cached-prompt and reasoning
token details. No `usage` in the answer means usage unknown: `usage_metadata` is None.

Streams: `stream_options.include_usage` asks for a last chunk with the usage. The parser turns
each `data:` event into a chunk (text, tool-call fragments by index, the finish reason) and
gives the usage last, once, at `[DONE]` or at the end of the stream, so servers that repeat a
running total in every chunk are counted once. The sum of a stream's chunks is what `invoke`
returns. An `error` object inside the stream raises the matching `tracer.errors` status error.

`ChatMistralAI`, `ChatFireworks` and `ChatTogether` are this class with their own defaults and
the few differences their APIs have (the class-level switches below).
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr

from ..errors import APIResponseError, status_error
from ..messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    UsageMetadata,
    parse_tool_call_chunks,
)
from ..outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from ._http import HTTPChatModel

__all__ = ["ChatOpenAI"]

#: Model-name prefixes that take `max_completion_tokens` instead of `max_tokens`.
_COMPLETION_TOKENS_MODELS = ("o1", "o3", "o4", "gpt-5")
#: An error object's `type` or `code`, as an HTTP status (for errors inside a stream).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "api_error": 500,
    "overloaded_error": 529,
}
#: Sampling options that are fields of the model and may be overridden per call.
_SAMPLING = ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed")


class ChatOpenAI(HTTPChatModel):
    """OpenAI chat models (`model="gpt-4o-mini"` by default), or any OpenAI-compatible server
    through `base_url`. The key comes from `api_key=` or `OPENAI_API_KEY`."""

    model_name: str = Field(default="gpt-4o-mini", alias="model")
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("api_key", "openai_api_key"))
    base_url: str | None = Field(default=None, validation_alias=AliasChoices("base_url", "openai_api_base"))
    #: Sent as `OpenAI-Organization` (default: `OPENAI_ORG_ID`).
    organization: str | None = None
    #: Ask for token usage at the end of streams (`stream_options.include_usage`).
    stream_usage: bool = True
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    #: For reasoning models: "minimal", "low", "medium" or "high".
    reasoning_effort: str | None = None
    #: Further request-body fields sent with every call.
    model_kwargs: dict[str, Any] = Field(default_factory=dict)

    provider: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    api_key_env: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    organization_env: ClassVar[tuple[str, ...]] = ("OPENAI_ORG_ID",)
    base_url_env: ClassVar[tuple[str, ...]] = ("OPENAI_BASE_URL",)

    # What differs between OpenAI-compatible APIs (the subclasses set these).
    #: Whether streams may carry `stream_options` (Mistral rejects unknown fields).
    _stream_options: ClassVar[bool] = True
    #: What "must call some tool" is called ("required"; Mistral: "any").
    _tool_choice_required: ClassVar[str] = "required"
    #: The request field of `seed` (Mistral: "random_seed").
    _seed_field: ClassVar[str] = "seed"
    #: Whether user, system and assistant messages may carry a `name`.
    _message_names: ClassVar[bool] = True
    #: Whether an image part is `{"url": ...}` (OpenAI) or the bare URL string (Mistral).
    _image_url_object: ClassVar[bool] = True
    #: The role of a `FunctionMessage` (APIs without the legacy "function" role use "tool").
    _function_role: ClassVar[str] = "function"
    #: Content of an assistant message that only calls tools (OpenAI: null).
    _tool_call_content: ClassVar[Any] = None

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        if self.organization is None:
            self.organization = next((os.environ[n] for n in self.organization_env if os.environ.get(n)), None)
        if self.base_url is None:
            self.base_url = next((os.environ[n] for n in self.base_url_env if os.environ.get(n)), None)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        params = super()._identifying_params
        for name in ("top_p", "frequency_penalty", "presence_penalty", "seed", "reasoning_effort"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.model_kwargs:
            params["model_kwargs"] = self.model_kwargs
        return params

    # -- the request -----------------------------------------------------------------------------

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def _headers(self) -> dict[str, str]:
        headers = super()._headers()
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        return headers

    def _request_path(self, stream: bool) -> str:
        return "/chat/completions"

    def _request_body(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any], stream: bool) -> dict[str, Any]:
        options = dict(kwargs)
        options.pop("stream", None)
        model = options.pop("model", None) or self.model_name
        body: dict[str, Any] = {"model": model, "messages": [self._format_message(m) for m in messages]}
        for name in _SAMPLING:
            value = options.pop(name, getattr(self, name))
            if value is not None:
                body[self._seed_field if name == "seed" else name] = value
        max_tokens = options.pop("max_tokens", self.max_tokens)
        if max_tokens is not None:
            body[self._max_tokens_field(model)] = max_tokens
        stop = stop if stop is not None else self.stop
        if stop:
            body["stop"] = stop
        if self.reasoning_effort is not None:
            body["reasoning_effort"] = self.reasoning_effort
        tools = options.pop("tools", None)
        if tools:
            body["tools"] = tools
        tool_choice = options.pop("tool_choice", None)
        if tool_choice is not None:
            body["tool_choice"] = self._format_tool_choice(tool_choice, tools or [])
        stream_usage = options.pop("stream_usage", self.stream_usage)
        body.update(self.model_kwargs)
        body.update(options)
        if stream:
            body["stream"] = True
            if stream_usage and self._stream_options:
                body.setdefault("stream_options", {"include_usage": True})
        return body

    def _max_tokens_field(self, model: str) -> str:
        if self.provider == "openai" and model.startswith(_COMPLETION_TOKENS_MODELS):
            return "max_completion_tokens"
        return "max_tokens"

    def _format_tool_choice(self, choice: Any, tools: list[dict[str, Any]]) -> Any:
        if isinstance(choice, dict):
            return choice
        if choice is True or choice in ("any", "required"):
            if choice is True and len(tools) == 1:
                return {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
            return self._tool_choice_required
        if choice is False:
            return "none"
        if choice in ("auto", "none"):
            return choice
        return {"type": "function", "function": {"name": str(choice)}}

    def _format_message(self, message: BaseMessage) -> dict[str, Any]:
        if isinstance(message, ToolMessage):
            out: dict[str, Any] = {"role": "tool", "tool_call_id": message.tool_call_id, "content": self._format_content(message.content)}
            if message.name:
                out["name"] = message.name
            return out
        if isinstance(message, FunctionMessage):
            return {"role": self._function_role, "name": message.name, "content": self._format_content(message.content)}
        if isinstance(message, AIMessage):
            content = message.content
            if not isinstance(content, str):  # replies from other providers may hold tool-use blocks
                content = [p for p in content if isinstance(p, str) or p.get("type") in ("text", "refusal")]
            out = {"role": "assistant", "content": self._format_content(content)}
            calls = [_tool_call_out(c["id"], c["name"], json.dumps(c["args"])) for c in message.tool_calls]
            calls += [_tool_call_out(c["id"], c["name"] or "", c["args"] or "") for c in message.invalid_tool_calls]
            if not calls and message.additional_kwargs.get("tool_calls"):
                calls = list(message.additional_kwargs["tool_calls"])
            if calls:
                out["tool_calls"] = calls
            if message.additional_kwargs.get("function_call"):
                out["function_call"] = message.additional_kwargs["function_call"]
            if (calls or "function_call" in out) and not out["content"]:
                out["content"] = self._tool_call_content
        elif isinstance(message, HumanMessage):
            out = {"role": "user", "content": self._format_content(message.content)}
        elif isinstance(message, SystemMessage):
            out = {"role": "system", "content": self._format_content(message.content)}
        elif isinstance(message, ChatMessage):
            out = {"role": message.role, "content": self._format_content(message.content)}
        else:
            raise TypeError(f"{type(self).__name__} cannot send a {type(message).__name__}")
        if message.name and self._message_names:
            out["name"] = message.name
        return out

    def _format_content(self, content: Any) -> Any:
        if isinstance(content, str):
            return content
        return [self._format_part(part) for part in content]

    def _format_part(self, part: Any) -> Any:
        if isinstance(part, str):
            return {"type": "text", "text": part}
        if part.get("type") == "text":
            return {"type": "text", "text": part.get("text", "")}
        image = _image_source(part)
        if image is None:
            return part  # audio, files, refusals...: the caller wrote them in the API's shape
        url, detail = image
        if not self._image_url_object:
            return {"type": "image_url", "image_url": url}
        return {"type": "image_url", "image_url": {"url": url, **({"detail": detail} if detail else {})}}

    # -- the answer ------------------------------------------------------------------------------

    def _parse_response(self, data: Any) -> ChatResult:
        if not isinstance(data, dict):
            raise APIResponseError(f"{self.provider} answered with {type(data).__name__}, not a JSON object", provider=self.provider)
        if data.get("error") and not data.get("choices"):
            raise self._event_error(data["error"])
        usage = _usage(data.get("usage"))
        generations = []
        for i, choice in enumerate(data.get("choices") or []):
            raw = choice.get("message") or {}
            calls, invalid = parse_tool_call_chunks([_tool_call_chunk(c, n) for n, c in enumerate(raw.get("tool_calls") or [])])
            finish_reason = choice.get("finish_reason")
            message = AIMessage(
                content=_text(raw.get("content")),
                additional_kwargs=_extras(raw),
                tool_calls=calls,
                invalid_tool_calls=invalid,
                usage_metadata=usage if i == 0 else None,
                response_metadata=self._metadata(data, finish_reason),
                id=data.get("id"),
            )
            generations.append(ChatGeneration(message=message, generation_info={"finish_reason": finish_reason}))
        if not generations:
            raise APIResponseError(f"{self.provider} answered without choices: {json.dumps(data)[:200]}", provider=self.provider)
        llm_output = {
            "token_usage": data["usage"] if isinstance(data.get("usage"), dict) else {},
            "model_name": data.get("model") or self.model_name,
            "system_fingerprint": data.get("system_fingerprint"),
        }
        return ChatResult(generations=generations, llm_output=llm_output)

    def _metadata(self, data: dict[str, Any], finish_reason: Any) -> dict[str, Any]:
        metadata: dict[str, Any] = {"model_name": data.get("model") or self.model_name, "finish_reason": finish_reason}
        for key in ("id", "system_fingerprint", "service_tier"):
            if data.get(key) is not None:
                metadata[key] = data[key]
        return metadata

    def _event_error(self, error: Any) -> Exception:
        """The `tracer.errors` exception for an error object the API sent as data."""
        if not isinstance(error, dict):
            return status_error(500, str(error), provider=self.provider, body=error)
        numbers = (int(v) for v in (error.get("status"), error.get("code")) if isinstance(v, int) or (isinstance(v, str) and v.isdigit()))
        status = next((n for n in numbers if 400 <= n < 600), None)
        if status is None:
            status = _ERROR_STATUS.get(str(error.get("code"))) or _ERROR_STATUS.get(str(error.get("type"))) or 500
        message = str(error.get("message") or error.get("type") or "error in the event stream")
        return status_error(status, message, provider=self.provider, body=error)

    def _stream_parser(self) -> _StreamParser:
        return _StreamParser(self)


class _StreamParser:
    """Chat Completions chunks (`data: {...}` ... `data: [DONE]`) into `ChatGenerationChunk`s."""

    def __init__(self, model: ChatOpenAI) -> None:
        self.model = model
        self.done = False
        self.usage: Any = None
        self.last: dict[str, Any] = {}
        # Tool-call fragments: the server's index -> ours (a new id under a used index is a new
        # call), each call's id, and the calls already named (a repeated name must not double).
        self.by_raw: dict[Any, int] = {}
        self.ids: list[str | None] = []
        self.named: set[int] = set()

    def feed(self, event: str, data: str) -> list[ChatGenerationChunk]:
        if self.done or not data.strip():
            return []
        if data.strip() == "[DONE]":
            return self._finish()
        payload = json.loads(data)
        if not isinstance(payload, dict):
            raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
        if event == "error" or (payload.get("error") and not payload.get("choices")):
            raise self.model._event_error(payload.get("error") or payload)
        self.last = payload
        if payload.get("usage"):
            self.usage = payload["usage"]
        choice = next((c for c in payload.get("choices") or [] if c.get("index", 0) == 0), None)
        if choice is None:
            return []
        delta = choice.get("delta") or {}
        finish_reason = choice.get("finish_reason")
        fields: dict[str, Any] = {"content": _text(delta.get("content")), "id": payload.get("id")}
        extras = _extras(delta)
        if extras:
            fields["additional_kwargs"] = extras
        if delta.get("tool_calls"):
            fields["tool_call_chunks"] = [self._tool_call_chunk(call, n) for n, call in enumerate(delta["tool_calls"])]
        info = None
        if finish_reason is not None:
            fields["response_metadata"] = self.model._metadata(payload, finish_reason)
            info = {"finish_reason": finish_reason}
        return [ChatGenerationChunk(message=AIMessageChunk(**fields), generation_info=info)]

    def close(self) -> list[ChatGenerationChunk]:
        return [] if self.done else self._finish()

    def _finish(self) -> list[ChatGenerationChunk]:
        self.done = True
        usage = _usage(self.usage)
        if usage is None:
            return []
        return [ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage, id=self.last.get("id")))]

    def _tool_call_chunk(self, call: dict[str, Any], position: int) -> dict[str, Any]:
        raw = call.get("index", position)
        call_id = call.get("id")
        index = self.by_raw.get(raw)
        if index is None or (call_id and self.ids[index] and self.ids[index] != call_id):
            # A new call; or a server (Mistral) that sends whole calls under one index.
            index = self.by_raw[raw] = len(self.ids)
            self.ids.append(call_id)
        elif call_id and not self.ids[index]:
            self.ids[index] = call_id
        chunk = _tool_call_chunk(call, index)
        if index in self.named:
            chunk["name"] = None
        elif chunk["name"]:
            self.named.add(index)
        return chunk


def _tool_call_out(call_id: str | None, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _tool_call_chunk(call: dict[str, Any], index: int) -> dict[str, Any]:
    """A tool call (whole or a streamed fragment) as a `ToolCallChunk`."""
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # Mistral may send an object rather than a JSON string
        arguments = json.dumps(arguments)
    return {"name": function.get("name"), "args": arguments or "", "id": call.get("id"), "index": index, "type": "tool_call_chunk"}


def _text(content: Any) -> str:
    """A reply's text: OpenAI sends a string or null; Mistral may send a list of chunks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else str(p.get("text") or "") for p in content if isinstance(p, str) or p.get("type") == "text")
    return str(content)


def _extras(raw: dict[str, Any]) -> dict[str, Any]:
    """What a reply carries besides text and tool calls: refusals, reasoning, legacy calls."""
    return {key: raw[key] for key in ("refusal", "reasoning_content", "function_call") if raw.get(key)}


def _image_source(part: dict[str, Any]) -> tuple[str, str | None] | None:
    """The URL (https or data) and detail of an image block in any shape we accept."""
    kind = part.get("type")
    if kind == "image_url":
        value = part.get("image_url")
        if isinstance(value, dict):
            return str(value["url"]), value.get("detail")
        return str(value), None
    if kind != "image":
        return None
    source = part.get("source")
    if isinstance(source, dict):  # Anthropic's shape
        if source.get("type") == "base64":
            return f"data:{source.get('media_type', 'image/png')};base64,{source['data']}", None
        return str(source["url"]), None
    mime = part.get("mime_type") or "image/png"
    if part.get("source_type") == "base64":
        return f"data:{mime};base64,{part['data']}", part.get("detail")
    if part.get("base64"):
        return f"data:{mime};base64,{part['base64']}", part.get("detail")
    if part.get("url"):
        return str(part["url"]), part.get("detail")
    raise ValueError(f"An image block needs base64 data or a URL; got keys {sorted(part)}")


def _usage(raw: Any) -> UsageMetadata | None:
    """`usage` as `UsageMetadata`; None when the API did not count (never zeros for unknowns)."""
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    total = raw.get("total_tokens")
    usage: dict[str, Any] = {"input_tokens": prompt, "output_tokens": completion, "total_tokens": total if isinstance(total, int) else prompt + completion}
    prompt_details = raw.get("prompt_tokens_details") or {}
    input_details = {name: prompt_details[key] for key, name in (("cached_tokens", "cache_read"), ("audio_tokens", "audio")) if isinstance(prompt_details.get(key), int)}
    if input_details:
        usage["input_token_details"] = input_details
    completion_details = raw.get("completion_tokens_details") or {}
    output_details = {name: completion_details[key] for key, name in (("reasoning_tokens", "reasoning"), ("audio_tokens", "audio")) if isinstance(completion_details.get(key), int)}
    if output_details:
        usage["output_token_details"] = output_details
    return usage  # type: ignore[return-value]
