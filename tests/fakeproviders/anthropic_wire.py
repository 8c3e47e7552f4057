"""The Anthropic Messages API wire format.

Written from the public API reference (docs.anthropic.com/en/api/messages, /messages-streaming,
/errors):

- `POST {base}/v1/messages` with headers `x-api-key` and `anthropic-version`; body `model`,
  `max_tokens` (required), `messages` (roles `user` and `assistant` only; the system prompt is
  the top-level `system`, a string or text blocks), `temperature`, `stop_sequences`, `tools`
  (`name`, `description`, `input_schema`), `tool_choice`, `stream`.
- Content blocks: `text`, `image` (`source: {type: base64, media_type, data}` or `{type: url}`),
  `tool_use` (`id`, `name`, `input` object) in assistant turns, `tool_result` (`tool_use_id`,
  `content`) in the user turn right after it.
- A `message` object: `content` blocks, `stop_reason` (`end_turn`, `max_tokens`,
  `stop_sequence`, `tool_use`), `usage` (`input_tokens` *not* counting cache reads and writes,
  `cache_read_input_tokens`, `cache_creation_input_tokens`, `output_tokens`).
- Streams: `message_start` (the message with empty content; its usage has the input tokens and
  a first `output_tokens`), per block `content_block_start`, `content_block_delta`
  (`text_delta`, `input_json_delta` with `partial_json` fragments), `content_block_stop`; then
  `message_delta` (`stop_reason`, and `usage.output_tokens`, cumulative) and `message_stop`;
  `ping` events anywhere; `event: error` with an error body inside a stream.
- Errors: `{"type": "error", "error": {"type", "message"}, "request_id"}` and a `request-id`
  header; types `invalid_request_error` 400, `authentication_error` 401, `permission_error` 403,
  `not_found_error` 404, `rate_limit_error` 429, `api_error` 500, `overloaded_error` 529.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["AnthropicWire"]

_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
# The request fields of the Messages API; anything else is refused.
_FIELDS = {
    "model", "messages", "max_tokens", "system", "temperature", "top_p", "top_k", "stop_sequences",
    "stream", "tools", "tool_choice", "metadata", "thinking", "service_tier", "container", "mcp_servers",
}
_ERRORS = {
    400: ("invalid_request_error", "messages: text content blocks must be non-empty"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: claude-nonexistent"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _text_of(content: Any) -> str:
    return "".join(b.get("text", "") for b in _blocks(content) if b.get("type") == "text")


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class AnthropicWire:
    """Renders scripted replies as Messages API JSON/SSE; reads and checks requests."""

    name = "anthropic"
    flavor = None
    reports = {"cache_read"}

    # -- the request ---------------------------------------------------------------------------

    def stream_requested(self, request: Any) -> bool:
        return isinstance(request.body, dict) and request.body.get("stream") is True

    def request_model(self, request: Any) -> str:
        return str((request.body or {}).get("model") or "")

    def auth_key(self, headers: dict[str, str]) -> str | None:
        return headers.get("x-api-key") or None

    def check(self, request: Any) -> Any:
        from .server import Error

        if self.auth_key(request.headers) is None:
            return Error(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return Error(400, "anthropic-version: header is required")
        body = request.body
        if not isinstance(body.get("model"), str) or not body["model"]:
            return Error(400, "model: Field required")
        if not isinstance(body.get("max_tokens"), int):
            return Error(400, "max_tokens: Field required")
        system = body.get("system")
        if system is not None and not isinstance(system, str):
            if not isinstance(system, list) or any(not isinstance(b, dict) or b.get("type") != "text" for b in system):
                return Error(400, "system: Input should be a valid string or a list of text blocks")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return Error(400, "messages: at least one message is required")
        previous_tool_uses: set[str] = set()
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                return Error(400, f'messages.{i}.role: Unexpected role "{role}". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.' if role == "system" else f"messages.{i}.role: Input should be 'user' or 'assistant'")
            content = message.get("content")
            if not isinstance(content, (str, list)):
                return Error(400, f"messages.{i}.content: Input should be a valid string or list")
            tool_uses: set[str] = set()
            for j, block in enumerate(_blocks(content)):
                kind = block.get("type")
                if kind == "text" and not block.get("text"):
                    return Error(400, f"messages.{i}.content.{j}.text: text content blocks must be non-empty")
                if kind == "tool_use":
                    if role != "assistant" or not block.get("id") or not block.get("name") or not isinstance(block.get("input"), dict):
                        return Error(400, f"messages.{i}.content.{j}: tool_use blocks need an assistant turn, an id, a name and an input object")
                    tool_uses.add(block["id"])
                if kind == "tool_result" and block.get("tool_use_id") not in previous_tool_uses:
                    return Error(400, f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")
                if kind == "image":
                    source = block.get("source") or {}
                    if source.get("type") == "base64" and not (source.get("media_type") and source.get("data")):
                        return Error(400, f"messages.{i}.content.{j}.source: base64 images need media_type and data")
                if kind not in ("text", "image", "tool_use", "tool_result", "document", "thinking", "redacted_thinking"):
                    return Error(400, f"messages.{i}.content.{j}.type: Input tag '{kind}' does not match any of the expected tags")
            previous_tool_uses = tool_uses
        names = set()
        for k, tool in enumerate(body.get("tools") or []):
            if not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
                return Error(400, f"tools.{k}: custom tools need 'name' and 'input_schema'")
            names.add(tool["name"])
        choice = body.get("tool_choice")
        if choice is not None:
            if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
                return Error(400, "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
            if choice["type"] == "tool" and choice.get("name") not in names:
                return Error(400, f"tool_choice.name: tool {choice.get('name')!r} is not in tools")
            if choice["type"] in ("any", "tool") and not names:
                return Error(400, "tool_choice may only be specified while providing tools.")
        for name in sorted(set(body) - _FIELDS):
            return Error(400, f"{name}: Extra inputs are not permitted")
        return None

    # readers, for assertions on what a provider sent

    def read_system(self, body: dict[str, Any]) -> str | None:
        system = body.get("system")
        if system is None:
            return None
        return system if isinstance(system, str) else "\n".join(b.get("text", "") for b in system)

    def read_turns(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        return [(m["role"], _text_of(m["content"])) for m in body["messages"]]

    def read_params(self, request: Any) -> dict[str, Any]:
        body = request.body
        return {"model": body.get("model"), "temperature": body.get("temperature"), "max_tokens": body.get("max_tokens"), "stop": body.get("stop_sequences")}

    def read_tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": t["name"], "description": t.get("description"), "parameters": t.get("input_schema")} for t in body.get("tools") or []]

    def read_tool_choice(self, body: dict[str, Any]) -> str | None:
        """"auto", "any", "none", or the name of the one tool that must be called."""
        choice = body.get("tool_choice")
        if choice is None:
            return None
        return choice["name"] if choice["type"] == "tool" else choice["type"]

    def read_tool_calls(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"id": b["id"], "name": b["name"], "args": b["input"]}
            for m in body["messages"]
            if m["role"] == "assistant"
            for b in _blocks(m["content"])
            if b.get("type") == "tool_use"
        ]

    def read_tool_results(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        for message in body["messages"]:
            for block in _blocks(message["content"]):
                if block.get("type") == "tool_result":
                    content = block.get("content")
                    text = content if isinstance(content, str) else _text_of(content)
                    results.append({"id": block.get("tool_use_id"), "name": None, "content": text})
        return results

    def read_images(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        images = []
        for message in body["messages"]:
            for block in _blocks(message["content"]):
                if block.get("type") == "image":
                    source = block.get("source") or {}
                    if source.get("type") == "base64":
                        images.append({"mime": source.get("media_type"), "data": source.get("data")})
                    else:
                        images.append({"url": source.get("url")})
        return images

    def last_user_text(self, request: Any) -> str:
        users = [m for m in request.body["messages"] if m.get("role") == "user"]
        return _text_of(users[-1]["content"]) if users else ""

    # -- what the provider reports ---------------------------------------------------------------

    def finish_values(self, neutral: str) -> set[str]:
        return {_FINISH[neutral]}

    def usage(self, usage: Any, *, output: int | None = None) -> dict[str, Any]:
        return {
            "input_tokens": usage.input - usage.cached,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": usage.cached,
            "output_tokens": usage.output if output is None else output,
        }

    def _id(self, reply: Any) -> str:
        return reply.id or "msg_fake01"

    def _content(self, reply: Any) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        if reply.full_text:
            content.append({"type": "text", "text": reply.full_text})
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.args} for c in reply.tool_calls]
        return content

    def response(self, reply: Any, request: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self._id(reply),
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": self._content(reply),
            "stop_reason": _FINISH[reply.finish_reason],
            "stop_sequence": None,
        }
        if reply.usage is not None:
            body["usage"] = self.usage(reply.usage)
        return body

    def stream_content_type(self, request: Any) -> str:
        return "text/event-stream; charset=utf-8"

    def events(self, reply: Any, request: Any) -> list[str]:
        message: dict[str, Any] = {
            "id": self._id(reply), "type": "message", "role": "assistant", "model": reply.model,
            "content": [], "stop_reason": None, "stop_sequence": None,
        }
        if reply.usage is not None:
            message["usage"] = self.usage(reply.usage, output=1)
        events = [_event("message_start", {"type": "message_start", "message": message}), _event("ping", {"type": "ping"})]
        index = 0
        if reply.pieces():
            events.append(_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
            events += [_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}}) for p in reply.pieces()]
            events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        for call in reply.tool_calls:
            events.append(_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}}))
            events.append(_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": ""}}))
            events += [
                _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": f}})
                for f in call.arg_fragments()
            ]
            events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
        delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": _FINISH[reply.finish_reason], "stop_sequence": None}}
        if reply.usage is not None:
            delta["usage"] = {"output_tokens": reply.usage.output}
        events.append(_event("message_delta", delta))
        events.append(_event("message_stop", {"type": "message_stop"}))
        return events

    def malformed_event(self) -> str:
        return 'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "te\n\n'

    # -- errors ------------------------------------------------------------------------------------

    def error_body(self, error: Any) -> dict[str, Any]:
        kind, default = _ERRORS.get(error.status, ("api_error" if error.status >= 500 else "invalid_request_error", f"Error {error.status}"))
        return {"type": "error", "error": {"type": error.type or kind, "message": error.message or default}, "request_id": "req_fake_anthropic_1"}

    def error_headers(self, error: Any) -> dict[str, str]:
        return {"request-id": "req_fake_anthropic_1"}

    def error_event(self, error: Any) -> str:
        body = self.error_body(error)
        body.pop("request_id")
        return _event("error", body)
