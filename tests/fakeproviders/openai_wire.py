"""The OpenAI Chat Completions wire format, and the OpenAI-compatible flavours of it.

Written from the public API reference (platform.openai.com/docs/api-reference/chat):

- `POST {base}/chat/completions`, `Authorization: Bearer <key>`.
- A `chat.completion` object: `choices[0].message` (`content`, `tool_calls` with
  `function.arguments` as a JSON *string*), `finish_reason` (`stop`, `length`, `tool_calls`),
  `usage` (`prompt_tokens`, `completion_tokens`, `total_tokens`, `prompt_tokens_details.
  cached_tokens`, `completion_tokens_details.reasoning_tokens`; cached and reasoning tokens are
  *included* in the prompt and completion counts).
- With `stream: true`, `data: {chat.completion.chunk}` events: a first delta with the role, content
  deltas, tool-call deltas (`index`, then `id`/`function.name` once and `function.arguments` in
  fragments), a chunk with `finish_reason`, then `data: [DONE]`. With
  `stream_options: {"include_usage": true}` every chunk has `usage: null` and one more chunk with
  `choices: []` and the whole usage comes before `[DONE]`; without it there is no usage.
- Errors: `{"error": {"message", "type", "param", "code"}}`, an `x-request-id` header.

Flavours (the first segment of the fake's path): `mistral` (docs.mistral.ai: the final chunk
carries `usage` by default; unknown request fields such as `stream_options` are refused with 422
`extra_forbidden`; errors are flat `{"object": "error", "message", "type", "param", "code"}`),
`together` and `fireworks` (usage on the final chunk by default; OpenAI-shaped errors, Fireworks'
with `"object": "error"`).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["OpenAIWire", "FLAVORS"]

FLAVORS = ("openai", "mistral", "together", "fireworks")

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
# docs.mistral.ai/api: the fields of a chat completion request (anything else is a 422).
_MISTRAL_FIELDS = {
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
    "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n",
    "prediction", "parallel_tool_calls", "safe_prompt", "prompt_mode", "metadata",
}
_ERRORS = {
    400: ("invalid_request_error", None, "Invalid value for 'temperature': expected a number between 0 and 2."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."),
    403: ("permission_error", None, "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


class OpenAIWire:
    """Renders scripted replies as Chat Completions JSON/SSE; reads and checks requests."""

    name = "openai"

    def __init__(self, flavor: str = "openai") -> None:
        self.flavor = flavor

    # -- the request ---------------------------------------------------------------------------

    def stream_requested(self, request: Any) -> bool:
        return isinstance(request.body, dict) and request.body.get("stream") is True

    def request_model(self, request: Any) -> str:
        return str((request.body or {}).get("model") or "")

    def auth_key(self, headers: dict[str, str]) -> str | None:
        value = headers.get("authorization", "")
        return value[len("Bearer ") :] if value.startswith("Bearer ") and len(value) > len("Bearer ") else None

    def check(self, request: Any) -> Any:
        """What the API refuses before generating anything, as the error it answers."""
        from .server import Error

        if self.auth_key(request.headers) is None:
            return Error(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        body = request.body
        if self.flavor == "mistral":
            extra = sorted(set(body) - _MISTRAL_FIELDS)
            if extra:
                return Error(422, json.dumps({"detail": [{"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted"} for name in extra]}))
        if not isinstance(body.get("model"), str) or not body["model"]:
            return Error(400, "you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return Error(400, "Invalid 'messages': empty array. Expected an array with minimum length 1.")
        open_calls: set[str] = set()
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in _ROLES:
                return Error(400, f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', and 'tool'. (messages[{i}].role)")
            if role == "assistant":
                open_calls = set()
                for j, call in enumerate(message.get("tool_calls") or []):
                    function = call.get("function") or {}
                    if not call.get("id") or call.get("type") != "function" or not function.get("name"):
                        return Error(400, f"Missing required parameter: 'messages[{i}].tool_calls[{j}]' needs 'id', 'type': 'function' and 'function.name'.")
                    if not isinstance(function.get("arguments"), str):
                        return Error(400, f"Invalid type for 'messages[{i}].tool_calls[{j}].function.arguments': expected a string, but got {type(function.get('arguments')).__name__} instead.")
                    open_calls.add(call["id"])
            elif role == "tool":
                if message.get("tool_call_id") not in open_calls:
                    return Error(400, f"Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. (messages[{i}])")
            elif role != "function":
                open_calls = set()
        names = set()
        for tool in body.get("tools") or []:
            if tool.get("type") != "function" or not (tool.get("function") or {}).get("name"):
                return Error(400, "Invalid 'tools': each tool needs 'type': 'function' and 'function.name'.")
            names.add(tool["function"]["name"])
        choice = body.get("tool_choice")
        if choice is not None:
            allowed = {"none", "auto", "required", "any"} if self.flavor == "mistral" else {"none", "auto", "required"}
            if isinstance(choice, dict):
                if choice.get("type") != "function" or (choice.get("function") or {}).get("name") not in names:
                    return Error(400, f"Invalid value for 'tool_choice': {json.dumps(choice)} names no function in 'tools'.")
            elif choice not in allowed:
                return Error(400, f"Invalid value: '{choice}'. Supported values are: {', '.join(repr(a) for a in sorted(allowed))}. (tool_choice)")
            elif not names and choice != "none":
                return Error(400, "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
        return None

    # readers, for assertions on what a provider sent

    def read_system(self, body: dict[str, Any]) -> str | None:
        texts = [_text_of(m.get("content")) for m in body["messages"] if m.get("role") in ("system", "developer")]
        return "\n".join(texts) if texts else None

    def read_turns(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        return [(m["role"], _text_of(m.get("content"))) for m in body["messages"] if m.get("role") not in ("system", "developer")]

    def read_params(self, request: Any) -> dict[str, Any]:
        body = request.body
        stop = body.get("stop")
        return {
            "model": body.get("model"),
            "temperature": body.get("temperature"),
            "max_tokens": body.get("max_tokens", body.get("max_completion_tokens")),
            "stop": [stop] if isinstance(stop, str) else stop,
        }

    def read_tools(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": t["function"]["name"], "description": t["function"].get("description"), "parameters": t["function"].get("parameters")} for t in body.get("tools") or []]

    def read_tool_choice(self, body: dict[str, Any]) -> str | None:
        """"auto", "any", "none", or the name of the one tool that must be called."""
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            return choice["function"]["name"]
        return {"required": "any"}.get(choice, choice)

    def read_tool_calls(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The tool calls of the assistant turns sent back in the history."""
        calls = []
        for message in body["messages"]:
            for call in message.get("tool_calls") or []:
                calls.append({"id": call["id"], "name": call["function"]["name"], "args": json.loads(call["function"]["arguments"] or "{}")})
        return calls

    def read_tool_results(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": m.get("tool_call_id"), "name": None, "content": _text_of(m.get("content"))} for m in body["messages"] if m.get("role") == "tool"]

    def read_images(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        images = []
        for message in body["messages"]:
            content = message.get("content")
            if isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and part.get("type") == "image_url":
                        url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else part.get("image_url")
                        if url.startswith("data:"):
                            mime, data = url[len("data:") :].split(";base64,", 1)
                            images.append({"mime": mime, "data": data})
                        else:
                            images.append({"url": url})
        return images

    def last_user_text(self, request: Any) -> str:
        users = [m for m in request.body["messages"] if m.get("role") == "user"]
        return _text_of(users[-1].get("content")) if users else ""

    # -- what the provider reports ---------------------------------------------------------------

    #: Which usage details this wire reports (cache reads, reasoning).
    @property
    def reports(self) -> set[str]:
        return {"cache_read", "reasoning"} if self.flavor == "openai" else set()

    def finish_values(self, neutral: str) -> set[str]:
        return {_FINISH[neutral]}

    def usage(self, usage: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt_tokens": usage.input, "completion_tokens": usage.output, "total_tokens": usage.total}
        if self.flavor == "openai":
            body["prompt_tokens_details"] = {"cached_tokens": usage.cached, "audio_tokens": 0}
            body["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        return body

    def _id(self, reply: Any) -> str:
        return reply.id or "chatcmpl-fake0001"

    def response(self, reply: Any, request: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.full_text or None, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.args)}} for c in reply.tool_calls
            ]
        body: dict[str, Any] = {
            "id": self._id(reply),
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": reply.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _FINISH[reply.finish_reason]}],
            "system_fingerprint": "fp_fake",
        }
        if reply.usage is not None:
            body["usage"] = self.usage(reply.usage)
        return body

    def stream_content_type(self, request: Any) -> str:
        return "text/event-stream; charset=utf-8"

    def events(self, reply: Any, request: Any) -> list[str]:
        include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
        openai_usage = self.flavor == "openai" and include_usage

        def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
            data: dict[str, Any] = {
                "id": self._id(reply),
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": reply.model,
                "system_fingerprint": "fp_fake",
                "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if openai_usage:
                data["usage"] = None
            data.update(extra)
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": piece}) for piece in reply.pieces()]
        for index, call in enumerate(reply.tool_calls):
            events.append(chunk({"tool_calls": [{"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}]}))
            events += [chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}) for fragment in call.arg_fragments()]
        finish = _FINISH[reply.finish_reason]
        if self.flavor != "openai" and reply.usage is not None:
            events.append(chunk({}, finish, usage=self.usage(reply.usage)))
        else:
            events.append(chunk({}, finish))
        if openai_usage and reply.usage is not None:
            events.append(chunk(None, usage=self.usage(reply.usage)))
        events.append("data: [DONE]\n\n")
        return events

    def malformed_event(self) -> str:
        return 'data: {"id": "chatcmpl-fake0001", "choices": [{"delta": {"content": "x"\n\n'

    # -- errors ------------------------------------------------------------------------------------

    def error_body(self, error: Any) -> dict[str, Any]:
        kind, code, default = _ERRORS.get(error.status, ("server_error" if error.status >= 500 else "invalid_request_error", None, f"Error {error.status}"))
        message = error.message or default
        kind = error.type or kind
        if self.flavor == "mistral":
            return {"object": "error", "message": message, "type": kind, "param": None, "code": code}
        if self.flavor == "fireworks":
            return {"error": {"object": "error", "type": kind, "message": message}}
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def error_headers(self, error: Any) -> dict[str, str]:
        return {"x-request-id": "req_fake_openai_1"}

    def error_event(self, error: Any) -> str:
        return f"data: {json.dumps(self.error_body(error) if self.flavor != 'mistral' else {'error': self.error_body(error)})}\n\n"
