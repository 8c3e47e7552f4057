"""`ChatGoogleGenerativeAI`: Google's Gemini API (`generateContent`, `streamGenerateContent`).

How our messages become a Gemini request:

- System messages become `systemInstruction` (all of them, in order). The other messages
  become `contents` with the roles "user" and "model"; consecutive turns of one role are merged
  into one content, as Gemini wants the roles to alternate.
- Text blocks become `text` parts; images become `inline_data` (data URLs and base64 blocks)
  or `file_data` (`gs://` URIs and Gemini Files API URIs only: the API does not fetch other web
  addresses, and neither do we, so an `https://` image URL anywhere else is a `ValueError`).
- An `AIMessage`'s tool calls become `functionCall` parts. Gemini gives its calls no ids, so
  the replies get `call_0`, `call_1`, ... in the order of the calls in one reply (or the API's
  own ids when it gives them). A `ToolMessage` is matched by its `tool_call_id` to the latest
  call with that id to learn the function's name, and becomes a `functionResponse` part
  (`{"result": ...}`, or `{"error": ...}` for `status="error"`; JSON objects and lists are sent
  parsed). Ids are our bookkeeping: they are never sent to the API.
- Gemini's "thought signatures" of function calls (which Gemini 3 requires back on the next
  turn) are kept in `additional_kwargs["thought_signatures"]` (tool-call id -> signature) and
  sent back with their calls. Signatures on text parts are not kept.
- Tools (OpenAI-shaped, from `bind_tools`) become `functionDeclarations`, their JSON schemas cut
  down to the OpenAPI subset Gemini takes: `$ref`s inlined, `Optional` as `nullable`, keywords
  it rejects (`additionalProperties`, `$schema`, `title`, `default`, ...) dropped, `enum` kept
  on strings only, `format` kept where Gemini accepts it. Dicts that already look like Gemini
  tools (`{"googleSearch": {}}`, `{"functionDeclarations": [...]}`) are passed through.

How an answer becomes an `AIMessage`: the first candidate's text parts (thoughts skipped),
its function calls, `response_metadata` (`model_name`, `finish_reason` as Gemini says it:
"STOP", "MAX_TOKENS", "SAFETY", ...; `id`; `safety_ratings`) and `usage_metadata` from
`usageMetadata`: input = prompt + tool-use prompt tokens (cached ones are
`input_token_details.cache_read`), output = candidate + thought tokens (thoughts are
`output_token_details.reasoning`), so that input + output is Gemini's total. A prompt Gemini
blocks (`promptFeedback.blockReason`, no candidate) raises `BadRequestError` (status 400) with
the reason: the request was refused as it was written.

Streams: each server-sent event is a whole `GenerateContentResponse`. Its usage is cumulative,
so only the last one counts: it is given once, on the final chunk, with the response metadata.
The key goes in the `x-goog-api-key` header, never in a URL.
"""

from __future__ import annotations

import json
import mimetypes
import re
from typing import Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr

from ..errors import APIResponseError, BadRequestError, status_error
from ..messages import AIMessage, AIMessageChunk, BaseMessage, ChatMessage, FunctionMessage, ToolMessage, UsageMetadata
from ..outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from ._http import HTTPChatModel

__all__ = ["ChatGoogleGenerativeAI"]

_API_VERSION = "v1beta"
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,]*)?;base64,(?P<data>.*)$", re.DOTALL)
_FILES_API = "https://generativelanguage.googleapis.com/"
#: Google's error statuses, for error events in a stream that carry no HTTP code.
_STATUS_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
#: Call-time options (`bind(...)`, `invoke(..., **kwargs)`) and where they go in generationConfig.
_GENERATION_OPTIONS = {"temperature": "temperature", "max_tokens": "maxOutputTokens", "max_output_tokens": "maxOutputTokens", "top_p": "topP", "top_k": "topK"}
_TOOL_MODES = {"auto": "AUTO", "any": "ANY", "required": "ANY", "none": "NONE"}


class ChatGoogleGenerativeAI(HTTPChatModel):
    """Gemini models through the Gemini API (generativelanguage.googleapis.com).

    The key comes from `google_api_key=` or `api_key=`, else `GOOGLE_API_KEY` or
    `GEMINI_API_KEY`. Call-time options: `tools`, `tool_choice`, `temperature`, `max_tokens`,
    `top_p`, `top_k`, `safety_settings` (Gemini's `safetySettings` list) and
    `generation_config` (more `generationConfig` fields in Gemini's spelling, such as
    `{"thinkingConfig": {"thinkingBudget": 0}}`).
    """

    model_name: str = Field(default="gemini-2.0-flash", alias="model")
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("api_key", "google_api_key"))
    max_tokens: int | None = Field(default=None, validation_alias=AliasChoices("max_tokens", "max_output_tokens"))
    top_p: float | None = None
    top_k: int | None = None

    provider: ClassVar[str] = "google"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    api_key_env: ClassVar[tuple[str, ...]] = ("GOOGLE_API_KEY", "GEMINI_API_KEY")

    @property
    def google_api_key(self) -> SecretStr | None:
        """The key, under the name LangChain's class gives it."""
        return self.api_key

    @property
    def _identifying_params(self) -> dict[str, Any]:
        params = super()._identifying_params
        for name in ("top_p", "top_k"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        return params

    # -- the request -------------------------------------------------------------------------------

    def _auth_headers(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def _request_path(self, stream: bool) -> str:
        name = self.model_name if self.model_name.startswith(("models/", "tunedModels/")) else f"models/{self.model_name}"
        return f"/{_API_VERSION}/{name}:streamGenerateContent?alt=sse" if stream else f"/{_API_VERSION}/{name}:generateContent"

    def _request_body(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any], stream: bool) -> dict[str, Any]:
        options = dict(kwargs)
        system, contents = _contents(messages)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        config: dict[str, Any] = {}
        for name in ("temperature", "max_tokens", "top_p", "top_k"):
            if getattr(self, name) is not None:
                config[_GENERATION_OPTIONS[name]] = getattr(self, name)
        for name, key in _GENERATION_OPTIONS.items():
            if options.get(name) is not None:
                config[key] = options[name]
            options.pop(name, None)
        stop = stop if stop is not None else self.stop
        if stop:
            config["stopSequences"] = list(stop)
        config.update(options.pop("generation_config", None) or {})
        if config:
            body["generationConfig"] = config
        tools, tool_choice = options.pop("tools", None), options.pop("tool_choice", None)
        if tools:
            body["tools"] = _tools(tools)
        if tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _function_calling_config(tool_choice)}
        if options.get("safety_settings"):
            body["safetySettings"] = options["safety_settings"]
        options.pop("safety_settings", None)
        if options:
            raise TypeError(f"ChatGoogleGenerativeAI does not take {', '.join(sorted(options))}")
        return body

    # -- the answer --------------------------------------------------------------------------------

    def _parse_response(self, data: Any) -> ChatResult:
        self._raise_if_failed(data)
        candidate = (data.get("candidates") or [{}])[0]
        text, calls, signatures = _read_parts(candidate, 0)
        finish_reason = candidate.get("finishReason")
        metadata = self._response_metadata(data, candidate, finish_reason)
        message = AIMessage(
            content=text,
            tool_calls=[{**call, "type": "tool_call"} for call in calls],
            additional_kwargs={"thought_signatures": signatures} if signatures else {},
            response_metadata=metadata,
            usage_metadata=_usage(data.get("usageMetadata")),
        )
        llm_output: dict[str, Any] = {"model_name": metadata["model_name"]}
        if data.get("usageMetadata"):
            llm_output["token_usage"] = data["usageMetadata"]
        info = {"finish_reason": finish_reason} if finish_reason else None
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)], llm_output=llm_output)

    def _response_metadata(self, data: dict[str, Any], candidate: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"model_name": data.get("modelVersion") or self.model_name.removeprefix("models/")}
        if finish_reason:
            metadata["finish_reason"] = finish_reason
        if data.get("responseId"):
            metadata["id"] = data["responseId"]
        if candidate.get("safetyRatings"):
            metadata["safety_ratings"] = candidate["safetyRatings"]
        return metadata

    def _stream_parser(self) -> _StreamParser:
        return _StreamParser(self)

    def _delay(self, attempt: int, response: Any) -> float | None:
        """Gemini says how long to wait in the body of a 429 (`RetryInfo.retryDelay`, e.g.
        "2s"), not in a `Retry-After` header: use it when it is there."""
        delay = super()._delay(attempt, response)
        if delay is None or response is None or "retry-after" in response.headers:
            return delay
        try:
            details = (response.json().get("error") or {}).get("details") or []
        except (ValueError, AttributeError):
            return delay
        for detail in details:
            hint = detail.get("retryDelay") if isinstance(detail, dict) else None
            if isinstance(hint, str) and hint.endswith("s"):
                try:
                    seconds = float(hint[:-1])
                except ValueError:
                    continue
                return seconds if seconds <= 60 else None
        return delay

    def _error_message(self, body: Any, text: str) -> str:
        if isinstance(body, list) and body:  # the non-SSE stream endpoint wraps errors in a list
            body = body[0]
        message = super()._error_message(body, text)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("status") and error["status"] not in message:
            message = f"{message} ({error['status']})"
        return self._redact(message)

    def _raise_if_failed(self, data: Any) -> None:
        """Raise for an error object or a blocked prompt; otherwise the answer is readable."""
        if not isinstance(data, dict):
            raise APIResponseError(f"{self.provider} answered with {type(data).__name__}, not a JSON object", provider=self.provider)
        error = data.get("error")
        if isinstance(error, dict):
            code = error.get("code") if isinstance(error.get("code"), int) else _STATUS_CODES.get(str(error.get("status")), 500)
            message = self._error_message(data, "")
            raise status_error(code, message, provider=self.provider, body=data)
        feedback = data.get("promptFeedback") or {}
        if not data.get("candidates") and feedback.get("blockReason"):
            detail = f": {feedback['blockReasonMessage']}" if feedback.get("blockReasonMessage") else ""
            raise BadRequestError(f"Gemini blocked the prompt ({feedback['blockReason']}){detail}", provider=self.provider, status_code=400, body=data)


class _StreamParser:
    """Reads `streamGenerateContent?alt=sse`: one whole response object per event."""

    def __init__(self, model: ChatGoogleGenerativeAI) -> None:
        self.model = model
        self.calls = 0
        self.usage: dict[str, Any] | None = None
        self.last: dict[str, Any] = {}
        self.candidate: dict[str, Any] = {}
        self.finish_reason: str | None = None

    def feed(self, event: str, data: str) -> list[ChatGenerationChunk]:
        if not data.strip():
            return []
        payload = json.loads(data)
        self.model._raise_if_failed(payload)
        self.last = payload
        if payload.get("usageMetadata"):
            self.usage = payload["usageMetadata"]
        candidate = (payload.get("candidates") or [{}])[0]
        self.candidate = {**self.candidate, **candidate}
        text, calls, signatures = _read_parts(candidate, self.calls)
        chunks = [{**call, "args": json.dumps(call["args"]), "index": self.calls + i, "type": "tool_call_chunk"} for i, call in enumerate(calls)]
        self.calls += len(calls)
        info = None
        if candidate.get("finishReason"):
            self.finish_reason = candidate["finishReason"]
            info = {"finish_reason": self.finish_reason}
        if not text and not chunks and info is None:
            return []
        message = AIMessageChunk(
            content=text,
            tool_call_chunks=chunks,
            additional_kwargs={"thought_signatures": signatures} if signatures else {},
        )
        return [ChatGenerationChunk(message=message, generation_info=info)]

    def close(self) -> list[ChatGenerationChunk]:
        metadata = self.model._response_metadata(self.last, self.candidate, self.finish_reason)
        message = AIMessageChunk(content="", response_metadata=metadata, usage_metadata=_usage(self.usage))
        info = {"finish_reason": self.finish_reason} if self.finish_reason else None
        return [ChatGenerationChunk(message=message, generation_info=info)]


# -- reading answers ---------------------------------------------------------------------------------


def _read_parts(candidate: dict[str, Any], first: int) -> tuple[str, list[dict[str, Any]], dict[str, str]]:
    """(text, calls as {name, args, id}, thought signatures by call id) of a candidate's parts;
    thoughts skipped, calls numbered from `first` unless the API gave them ids."""
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    signatures: dict[str, str] = {}
    for part in (candidate.get("content") or {}).get("parts") or []:
        if part.get("thought"):
            continue
        if "text" in part:
            text.append(part["text"])
        if "functionCall" in part:
            call = part["functionCall"]
            call_id = call.get("id") or f"call_{first + len(calls)}"
            calls.append({"name": call.get("name", ""), "args": call.get("args") or {}, "id": call_id})
            if part.get("thoughtSignature"):
                signatures[call_id] = part["thoughtSignature"]
    return "".join(text), calls, signatures


def _usage(meta: dict[str, Any] | None) -> UsageMetadata | None:
    """Our token counts from Gemini's `usageMetadata` (None when it gave none). Gemini leaves
    out counts that are zero, so within a `usageMetadata` a missing count is 0."""
    if not meta:
        return None
    thoughts = meta.get("thoughtsTokenCount") or 0
    input_tokens = (meta.get("promptTokenCount") or 0) + (meta.get("toolUsePromptTokenCount") or 0)
    output_tokens = (meta.get("candidatesTokenCount") or 0) + thoughts
    usage: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": meta.get("totalTokenCount") or input_tokens + output_tokens}
    if "cachedContentTokenCount" in meta:
        usage["input_token_details"] = {"cache_read": meta["cachedContentTokenCount"]}
    if "thoughtsTokenCount" in meta:
        usage["output_token_details"] = {"reasoning": thoughts}
    return usage  # type: ignore[return-value]


# -- writing requests --------------------------------------------------------------------------------


def _contents(messages: list[BaseMessage]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system instruction parts, contents) for a conversation."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool-call id -> function name, latest call wins
    for message in messages:
        role = _role(message)
        if role == "system":
            if message.text:
                system.append({"text": message.text})
            continue
        if isinstance(message, AIMessage):
            parts = _model_parts(message)
            names.update((call["id"], call["name"]) for call in message.tool_calls if call.get("id"))
        elif isinstance(message, ToolMessage):
            name = names.get(message.tool_call_id) or message.name
            if not name:
                raise ValueError(f"ToolMessage answers tool call {message.tool_call_id!r}, which no earlier AIMessage made: Gemini needs the function's name")
            parts = [_function_response(name, message.text, message.status == "error")]
        elif isinstance(message, FunctionMessage):
            parts = [_function_response(message.name, message.text, False)]
        else:
            parts = _user_parts(message.content)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _role(message: BaseMessage) -> str:
    kind = message.role.lower() if isinstance(message, ChatMessage) else message.type.removesuffix("MessageChunk").lower()
    if kind in ("system", "developer"):
        return "system"
    if kind in ("ai", "assistant", "model"):
        return "model"
    if kind in ("human", "user", "tool", "function"):
        return "user"
    raise ValueError(f"Gemini has no role for a {kind!r} message (it takes user, model and system turns)")


def _model_parts(message: AIMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": message.text}] if message.text else []
    signatures = message.additional_kwargs.get("thought_signatures") or {}
    for call in message.tool_calls:
        part: dict[str, Any] = {"functionCall": {"name": call["name"], "args": call.get("args") or {}}}
        if call.get("id") in signatures:
            part["thoughtSignature"] = signatures[call["id"]]
        parts.append(part)
    return parts


def _function_response(name: str, text: str, failed: bool) -> dict[str, Any]:
    value: Any = text
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, (dict, list)):
        value = parsed
    return {"functionResponse": {"name": name, "response": {"error" if failed else "result": value}}}


def _user_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            if block:
                parts.append({"text": block})
        elif block.get("type") == "text":
            if block.get("text"):
                parts.append({"text": block["text"]})
        elif block.get("type") in ("image_url", "image"):
            parts.append(_image_part(block))
        else:
            raise ValueError(f"Gemini cannot take a {block.get('type')!r} content block (text and images only)")
    return parts


def _image_part(block: dict[str, Any]) -> dict[str, Any]:
    """An image block (OpenAI's `image_url`, or `image` with base64 data or a URL) as a part."""
    mime = block.get("mime_type")
    if block.get("type") == "image_url":
        image = block.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
    elif block.get("source_type", "base64" if block.get("data") or block.get("base64") else "url") == "base64":
        data = block.get("data") or block.get("base64")
        if not data or not mime:
            raise ValueError("A base64 image block needs 'data' and 'mime_type'")
        return {"inline_data": {"mime_type": mime, "data": data}}
    else:
        url = block.get("url")
    if not isinstance(url, str) or not url:
        raise ValueError(f"An image block without a URL or data: {sorted(block)}")
    match = _DATA_URL.match(url)
    if match:
        return {"inline_data": {"mime_type": match["mime"] or mime or "image/png", "data": match["data"]}}
    if url.startswith("data:"):
        raise ValueError("Gemini takes data URLs with base64 data only (data:<mime type>;base64,...)")
    if url.startswith("gs://") or url.startswith(_FILES_API):
        file_data = {"file_uri": url}
        guessed = mime or mimetypes.guess_type(url.split("?", 1)[0])[0]
        if guessed:
            file_data = {"mime_type": guessed, **file_data}
        return {"file_data": file_data}
    raise ValueError(
        "Gemini takes images as base64 data (a data: URL) or as Gemini Files API / gs:// URIs, not as web addresses; "
        f"download the image and send it as a data URL ({url.split('?', 1)[0][:80]!r})"
    )


def _tools(tools: list[Any]) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    passthrough: list[dict[str, Any]] = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            declarations.append(_declaration(tool["function"]))
        elif isinstance(tool, dict) and "name" in tool and ("parameters" in tool or "input_schema" in tool or "description" in tool):
            declarations.append(_declaration(tool))
        elif isinstance(tool, dict):
            passthrough.append(tool)  # already a Gemini tool: googleSearch, codeExecution, ...
        else:
            raise TypeError(f"Cannot send {type(tool).__name__} as a Gemini tool: use bind_tools")
    return ([{"functionDeclarations": declarations}] if declarations else []) + passthrough


def _declaration(function: dict[str, Any]) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        declaration["description"] = function["description"]
    schema = function.get("parameters", function.get("input_schema"))
    if isinstance(schema, dict):
        parameters = _gemini_schema(schema, schema.get("$defs") or schema.get("definitions") or {}, 0)
        if parameters.get("properties"):  # Gemini refuses an object without properties
            declaration["parameters"] = parameters
    return declaration


def _function_calling_config(choice: Any) -> dict[str, Any]:
    if choice is True:
        return {"mode": "ANY"}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if not name:
            raise ValueError(f"A tool_choice dict names a function: {choice!r}")
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    if isinstance(choice, str):
        if choice.lower() in _TOOL_MODES:
            return {"mode": _TOOL_MODES[choice.lower()]}
        return {"mode": "ANY", "allowedFunctionNames": [choice]}
    raise ValueError(f"tool_choice must be 'auto', 'any', 'none' or a tool's name, not {choice!r}")


# Keywords of Gemini's schema subset (OpenAPI 3.0 style); anything else is dropped.
_SCHEMA_KEYS = frozenset(
    {"type", "format", "description", "nullable", "enum", "items", "properties", "required", "anyOf", "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "pattern", "minProperties", "maxProperties", "propertyOrdering", "example"}
)
_FORMATS = {"string": {"enum", "date-time"}, "number": {"float", "double"}, "integer": {"int32", "int64"}}
_MAX_DEPTH = 40


def _gemini_schema(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    """A JSON schema cut down to what Gemini's function declarations accept."""
    if depth > _MAX_DEPTH:
        raise ValueError("A tool's schema nests too deeply for Gemini (a recursive model?)")
    schema = dict(schema)
    ref = schema.pop("$ref", None)
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name not in defs:
            raise ValueError(f"A tool's schema refers to {ref!r}, which it does not define")
        schema = {**defs[name], **schema}
    all_of = schema.pop("allOf", None)
    if isinstance(all_of, list):
        for item in all_of:
            schema = {**item, **schema}
        return _gemini_schema(schema, defs, depth + 1)
    if ref is not None:
        return _gemini_schema(schema, defs, depth + 1)
    variants = schema.pop("anyOf", None) or schema.pop("oneOf", None)
    nullable = bool(schema.pop("nullable", False))
    kind = schema.get("type")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        kinds = [k for k in kind if k != "null"]
        if len(kinds) == 1:
            schema["type"] = kinds[0]
        else:
            schema.pop("type")
            variants = [{"type": k} for k in kinds]
    if variants:
        others = [v for v in variants if v.get("type") != "null"]
        nullable = nullable or len(others) < len(variants)
        if len(others) == 1:
            rest = {k: v for k, v in schema.items() if k not in ("type",)}
            out = _gemini_schema({**others[0], **rest}, defs, depth + 1)
        else:
            out = {k: v for k, v in _gemini_schema(schema, defs, depth + 1).items() if k != "type"}
            out["anyOf"] = [_gemini_schema(v, defs, depth + 1) for v in others]
        if nullable:
            out["nullable"] = True
        return out
    if "const" in schema:
        schema.setdefault("enum", [schema["const"]])
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            if value:
                out[key] = {name: _gemini_schema(prop, defs, depth + 1) for name, prop in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = _gemini_schema(value, defs, depth + 1)
        elif key in ("items", "properties"):
            continue  # tuples and other shapes Gemini cannot describe
        else:
            out[key] = value
    kind = out.get("type")
    if "enum" in out:
        values = out.pop("enum")
        if kind in (None, "string") and all(isinstance(v, str) for v in values):
            out["type"], out["enum"] = "string", values
        else:  # Gemini takes enums of strings only: keep the type, say the values in words
            allowed = "One of: " + ", ".join(json.dumps(v) for v in values)
            out["description"] = f"{out['description']} ({allowed})" if out.get("description") else allowed
    if "format" in out and out["format"] not in _FORMATS.get(str(kind), ()):
        del out["format"]
    if "required" in out:
        out["required"] = [name for name in out["required"] if name in out.get("properties", {})]
        if not out["required"]:
            del out["required"]
    if nullable:
        out["nullable"] = True
    return out
