"""The Gemini API (Google AI, `generativelanguage`) wire format.

Written from the public API reference (ai.google.dev/api/generate-content, /caching,
/gemini-api/docs/function-calling, /gemini-api/docs/troubleshooting):

- `POST {base}/v1beta/models/{model}:generateContent`, and
  `:streamGenerateContent?alt=sse` for server-sent events (without `alt=sse` the stream is one
  JSON array); the key in the `x-goog-api-key` header.
- Body: `contents` (`role` `user` or `model`, `parts`: `text`, `inlineData {mimeType, data}`,
  `fileData`, `functionCall {name, args}`, `functionResponse {name, response}` whose response is
  a JSON object), `systemInstruction {parts}`, `generationConfig` (`temperature`,
  `maxOutputTokens`, `stopSequences`), `tools: [{functionDeclarations: [{name, description,
  parameters}]}]` where `parameters` is Gemini's `Schema` (a subset of OpenAPI 3.0: an unknown
  field such as `additionalProperties` is a 400 "Unknown name"). Proto JSON: every field may also
  be written in snake_case.
- A `GenerateContentResponse`: `candidates[0].content.parts`, `finishReason` (`STOP`,
  `MAX_TOKENS`, ...; a function call also ends with `STOP`), `usageMetadata`
  (`promptTokenCount` counting cached tokens, `cachedContentTokenCount`, `candidatesTokenCount`,
  `thoughtsTokenCount` not counted in candidates, `totalTokenCount`), `modelVersion`,
  `responseId`. Function calls carry no id.
- Streams: each event a whole `GenerateContentResponse` holding the next parts; every one
  carries `usageMetadata` so far (cumulative: the last one is the total, never a sum); the last
  has the `finishReason`. A function call arrives whole, never in fragments. Lines end in CRLF.
- Errors: `{"error": {"code", "message", "status"}}` (`INVALID_ARGUMENT` 400,
  `UNAUTHENTICATED` 401, `PERMISSION_DENIED` 403, `NOT_FOUND` 404, `RESOURCE_EXHAUSTED` 429 with a
  `RetryInfo` detail, `INTERNAL` 500, `UNAVAILABLE` 503).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["GeminiWire"]

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
    403: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    404: "models/gemini-nonexistent is not found for API version v1beta, or is not supported for generateContent.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
# Gemini's Schema object (snake_case names; camelCase is accepted too).
_SCHEMA_FIELDS = {
    "type", "format", "title", "description", "nullable", "enum", "max_items", "min_items", "properties", "required",
    "min_properties", "max_properties", "min_length", "max_length", "pattern", "example", "any_of", "property_ordering",
    "default", "items", "minimum", "maximum",
}
_DECLARATION_FIELDS = {"name", "description", "parameters", "parameters_json_schema", "response", "response_json_schema", "behavior"}
_PART_FIELDS = {"text", "inline_data", "file_data", "function_call", "function_response", "executable_code", "code_execution_result"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _get(obj: dict[str, Any], snake: str) -> Any:
    """A proto-JSON field, written in either case."""
    if snake in obj:
        return obj[snake]
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), snake)
    return obj.get(camel)


def _parts(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in content.get("parts") or [] if isinstance(p, dict)]


def _text_of(content: dict[str, Any]) -> str:
    return "".join(p["text"] for p in _parts(content) if isinstance(p.get("text"), str))


def _unknown_schema_field(schema: Any, where: str) -> str | None:
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if _snake(key) not in _SCHEMA_FIELDS:
            return f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
        if _snake(key) == "properties" and isinstance(value, dict):
            for name, sub in value.items():
                found = _unknown_schema_field(sub, f"{where}.properties[{name}].value")
                if found:
                    return found
        elif _snake(key) == "items":
            found = _unknown_schema_field(value, f"{where}.items")
            if found:
                return found
        elif _snake(key) == "any_of" and isinstance(value, list):
            for i, sub in enumerate(value):
                found = _unknown_schema_field(sub, f"{where}.any_of[{i}]")
                if found:
                    return found
    return None


class GeminiWire:
    """Renders scripted replies as generateContent JSON/SSE; reads and checks requests."""

    name = "gemini"
    flavor = None
    reports = {"cache_read", "reasoning"}

    # -- the request ---------------------------------------------------------------------------

    def stream_requested(self, request: Any) -> bool:
        return request.path.endswith(":streamGenerateContent")

    def request_model(self, request: Any) -> str:
        match = re.search(r"/models/([^/:]+):", request.path)
        return match.group(1) if match else ""

    def auth_key(self, headers: dict[str, str]) -> str | None:
        return headers.get("x-goog-api-key") or None

    def check(self, request: Any) -> Any:
        from .server import Error

        if self.auth_key(request.headers) is None and not request.query.get("key"):
            return Error(403)
        body = request.body
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return Error(400, "* GenerateContentRequest.contents: contents is not specified")
        pending_calls: list[str] = []
        for i, content in enumerate(contents):
            role = content.get("role") if isinstance(content, dict) else None
            if role not in (None, "user", "model", "function"):
                return Error(400, f"Please use a valid role: user, model. (contents[{i}].role: {role})")
            parts = _parts(content)
            if not parts:
                return Error(400, f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
            for j, part in enumerate(parts):
                fields = {_snake(k) for k in part} & _PART_FIELDS
                if len(fields) != 1:
                    return Error(400, f"Invalid JSON payload received. contents[{i}].parts[{j}] must set exactly one of text, inline_data, file_data, function_call, function_response.")
                call = _get(part, "function_call")
                if call is not None:
                    if role != "model" or not call.get("name") or not isinstance(call.get("args", {}), dict):
                        return Error(400, f"contents[{i}].parts[{j}].function_call: a function call needs a model turn, a name and an args object")
                    pending_calls.append(call["name"])
                answer = _get(part, "function_response")
                if answer is not None:
                    if not isinstance(answer.get("response"), dict):
                        return Error(400, f"Invalid JSON payload received. Unknown name \"response\" at 'contents[{i}].parts[{j}].function_response': Proto field is not repeating, cannot start list.")
                    if answer.get("name") not in pending_calls:
                        return Error(400, f"contents[{i}].parts[{j}].function_response.name: {answer.get('name')!r} answers no function call of the previous model turn")
                inline = _get(part, "inline_data")
                if inline is not None and not (_get(inline, "mime_type") and inline.get("data")):
                    return Error(400, f"contents[{i}].parts[{j}].inline_data: mime_type and data are required")
        system = _get(body, "system_instruction")
        if system is not None and (not isinstance(system, dict) or not _parts(system)):
            return Error(400, "Invalid JSON payload received. system_instruction needs parts.")
        names = {d.get("name") for tool in body.get("tools") or [] for d in _get(tool, "function_declarations") or []}
        config = _get(_get(body, "tool_config") or {}, "function_calling_config")
        if config is not None:
            mode = config.get("mode", "AUTO")
            allowed = _get(config, "allowed_function_names")
            if mode not in ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"):
                return Error(400, f"Invalid value at 'tool_config.function_calling_config.mode' ({mode})")
            if allowed is not None and (mode not in ("ANY", "VALIDATED") or not set(allowed) <= names):
                return Error(400, "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: only set when mode is ANY, and only with declared functions.")
        for t, tool in enumerate(body.get("tools") or []):
            for d, declaration in enumerate(_get(tool, "function_declarations") or []):
                for key in declaration:
                    if _snake(key) not in _DECLARATION_FIELDS:
                        return Error(400, f"Invalid JSON payload received. Unknown name \"{key}\" at 'tools[{t}].function_declarations[{d}]': Cannot find field.")
                found = _unknown_schema_field(declaration.get("parameters"), f"tools[{t}].function_declarations[{d}].parameters")
                if found:
                    return Error(400, found)
        return None

    # readers, for assertions on what a provider sent

    def read_system(self, body: dict[str, Any]) -> str | None:
        system = _get(body, "system_instruction")
        return _text_of(system) if system else None

    def read_turns(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        roles = {"user": "user", "model": "assistant", None: "user", "function": "tool"}
        turns = []
        for content in body["contents"]:
            role = roles[content.get("role")]
            if role == "user" and any(_get(p, "function_response") is not None for p in _parts(content)):
                role = "tool"
            turns.append((role, _text_of(content)))
        return turns

    def read_params(self, request: Any) -> dict[str, Any]:
        config = _get(request.body, "generation_config") or {}
        return {
            "model": self.request_model(request),
            "temperature": config.get("temperature"),
            "max_tokens": _get(config, "max_output_tokens"),
            "stop": _get(config, "stop_sequences"),
        }

    def read_tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"name": d["name"], "description": d.get("description"), "parameters": d.get("parameters", _get(d, "parameters_json_schema"))}
            for tool in body.get("tools") or []
            for d in _get(tool, "function_declarations") or []
        ]

    def read_tool_choice(self, body: dict[str, Any]) -> str | None:
        """"auto", "any", "none", or the name of the one tool that must be called."""
        config = _get(_get(body, "tool_config") or {}, "function_calling_config")
        if config is None:
            return None
        allowed = _get(config, "allowed_function_names") or []
        if config.get("mode") == "ANY" and len(allowed) == 1:
            return allowed[0]
        return str(config.get("mode", "AUTO")).lower()

    def read_tool_calls(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"id": _get(p, "function_call").get("id"), "name": _get(p, "function_call")["name"], "args": _get(p, "function_call").get("args", {})}
            for c in body["contents"]
            for p in _parts(c)
            if _get(p, "function_call") is not None
        ]

    def read_tool_results(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"id": _get(p, "function_response").get("id"), "name": _get(p, "function_response").get("name"), "content": json.dumps(_get(p, "function_response").get("response"))}
            for c in body["contents"]
            for p in _parts(c)
            if _get(p, "function_response") is not None
        ]

    def read_images(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        images = []
        for content in body["contents"]:
            for part in _parts(content):
                inline = _get(part, "inline_data")
                if inline is not None:
                    images.append({"mime": _get(inline, "mime_type"), "data": inline.get("data")})
                files = _get(part, "file_data")
                if files is not None:
                    images.append({"url": _get(files, "file_uri")})
        return images

    def last_user_text(self, request: Any) -> str:
        users = [c for c in request.body["contents"] if c.get("role", "user") == "user"]
        return _text_of(users[-1]) if users else ""

    # -- what the provider reports ---------------------------------------------------------------

    def finish_values(self, neutral: str) -> set[str]:
        return {_FINISH[neutral]}

    def usage(self, usage: Any, *, output: int | None = None) -> dict[str, Any]:
        output = usage.output if output is None else output
        reasoning = min(usage.reasoning, output)
        body: dict[str, Any] = {
            "promptTokenCount": usage.input,
            "candidatesTokenCount": output - reasoning,
            "totalTokenCount": usage.input + output,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage.input}],
        }
        if usage.cached:
            body["cachedContentTokenCount"] = usage.cached
        if reasoning:
            body["thoughtsTokenCount"] = reasoning
        return body

    def _parts_of(self, reply: Any) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        if reply.full_text:
            parts.append({"text": reply.full_text})
        parts += [{"functionCall": {"name": c.name, "args": c.args}} for c in reply.tool_calls]
        return parts

    def _chunk(self, reply: Any, parts: list[dict[str, Any]], finish: str | None, usage: dict[str, Any] | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        body: dict[str, Any] = {"candidates": [candidate]}
        if usage is not None:
            body["usageMetadata"] = usage
        body["modelVersion"] = reply.model
        body["responseId"] = reply.id or "fake-gemini-response-1"
        return body

    def response(self, reply: Any, request: Any) -> dict[str, Any]:
        usage = self.usage(reply.usage) if reply.usage is not None else None
        return self._chunk(reply, self._parts_of(reply), _FINISH[reply.finish_reason], usage)

    def _stream_bodies(self, reply: Any) -> list[dict[str, Any]]:
        steps: list[list[dict[str, Any]]] = [[{"text": p}] for p in reply.pieces()]
        steps += [[{"functionCall": {"name": c.name, "args": c.args}}] for c in reply.tool_calls]
        if not steps:
            steps = [[{"text": ""}]]
        bodies = []
        for n, parts in enumerate(steps, start=1):
            last = n == len(steps)
            usage = None
            if reply.usage is not None:
                # cumulative: the output so far, in proportion; the last one is the total
                usage = self.usage(reply.usage, output=reply.usage.output if last else reply.usage.output * n // (len(steps) + 1))
            bodies.append(self._chunk(reply, parts, _FINISH[reply.finish_reason] if last else None, usage))
        return bodies

    def stream_content_type(self, request: Any) -> str:
        return "text/event-stream" if request.query.get("alt") == "sse" else "application/json; charset=UTF-8"

    def events(self, reply: Any, request: Any) -> list[str]:
        bodies = self._stream_bodies(reply)
        if request.query.get("alt") != "sse":
            # Without alt=sse the stream is one JSON array, written element by element.
            texts = [json.dumps(b) for b in bodies]
            return ["[" + texts[0]] + ["," + t for t in texts[1:]] + ["]"]
        return [f"data: {json.dumps(b, ensure_ascii=False)}\r\n\r\n" for b in bodies]

    def malformed_event(self) -> str:
        return 'data: {"candidates": [{"content": {"parts": [{"text": "x"\r\n\r\n'

    # -- errors ------------------------------------------------------------------------------------

    def error_body(self, error: Any) -> dict[str, Any]:
        status = _STATUS.get(error.status, "INTERNAL" if error.status >= 500 else "FAILED_PRECONDITION")
        body: dict[str, Any] = {"code": error.status, "message": error.message or _MESSAGES.get(error.status, f"Error {error.status}"), "status": error.type or status}
        if error.status == 429:
            delay = error.retry_after if error.retry_after is not None else "1"
            body["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay}s"}]
        return {"error": body}

    def error_headers(self, error: Any) -> dict[str, str]:
        return {}

    def error_event(self, error: Any) -> str:
        return f"data: {json.dumps(self.error_body(error))}\r\n\r\n"
