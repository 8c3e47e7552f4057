"""OpenTelemetry out: every run is also a span, when the user has configured an SDK.

Through `opentelemetry-api` alone this is a no-op: the API's global tracer provider stays unset
until an SDK's `TracerProvider` is installed (`trace.set_tracer_provider(...)`), and until then
the only cost is one global read per trace root, on the caller's thread (`capture`).

When a provider is set, the caller's thread does a little more at a trace's root only: it keeps
the provider and the active OpenTelemetry span's context (so a run started inside a user's span
becomes its child). Everything else happens on the writer thread, in `Spans`, from the same
events that build the run documents: a span is started with the run's own start time when the
`Start` event is applied (its parent is the parent run's span), and ended with the run's own end
time at `End` / `Fail`. The run keeps the span's ids in `extra.otel`.

Attributes follow the OpenTelemetry GenAI semantic conventions (development status): an llm run
is a CLIENT span named `"{gen_ai.operation.name} {gen_ai.request.model}"` ("chat gpt-4o-mini"),
with `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.*` from the invocation
parameters and `gen_ai.response.*` / `gen_ai.usage.*` from the result. A tool run is an
`execute_tool {name}` span; other runs are INTERNAL spans named after the run. An error sets the
span's status to ERROR, `error.type`, and records the exception as an event.

Message content (`gen_ai.input.messages`, `gen_ai.output.messages`, as JSON strings in the
conventions' parts format) is recorded only when the user opts in with the conventions' switch,
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` (`true`, `span_only` or `span_and_event`).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from uuid import UUID

from opentelemetry import trace as _trace
from opentelemetry.context import Context

__all__ = ["capture", "Spans", "CAPTURE_CONTENT_ENV", "capture_content"]

_log = logging.getLogger("tracer")
_get_current_span = _trace.get_current_span

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_CONTENT_ON = frozenset({"true", "1", "yes", "span_only", "span_and_event"})

_NOOP_PROVIDERS = tuple(
    cls for cls in (getattr(_trace, "ProxyTracerProvider", None), getattr(_trace, "NoOpTracerProvider", None)) if cls is not None
)


def _configured_provider() -> Any:
    """The SDK's tracer provider, or None while the API's global is the default no-op/proxy.

    Reads the API's module global directly (tens of nanoseconds); `get_tracer_provider()` also
    checks the environment on every call. Falls back to it if the global ever moves."""
    global _accepted
    provider = getattr(_trace, "_TRACER_PROVIDER", _MISSING)
    if provider is _accepted:  # the common case once an SDK is set (an ABC isinstance is slow)
        return provider
    if provider is _MISSING:
        provider = _trace.get_tracer_provider()
    if provider is None or isinstance(provider, _NOOP_PROVIDERS):
        return None
    _accepted = provider
    return provider


_MISSING: Any = object()
_accepted: Any = _MISSING


def capture() -> tuple[Any, Any] | None:
    """At a trace's root, on the caller's thread: None when no SDK is configured, else the
    provider and the active OpenTelemetry span's context (invalid when there is none: the
    writer checks, off this thread)."""
    provider = _configured_provider()
    if provider is None:
        return None
    return provider, _get_current_span().get_span_context()


def capture_content() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _CONTENT_ON


def _ns(t: float) -> int:
    return int(t * 1_000_000_000)


# -- the conventions ----------------------------------------------------------------------------

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool", "developer": "system"}


def _provider_name(params: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    provider = params.get("provider") or metadata.get("ls_provider")
    if not provider:
        kind = params.get("_type")
        if isinstance(kind, str) and kind:
            provider = kind[: -len("-chat")] if kind.endswith("-chat") else kind
    return str(provider) if provider else None


def _request_attributes(params: dict[str, Any], metadata: dict[str, Any], model: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat"}
    provider = _provider_name(params, metadata)
    if provider:
        attributes["gen_ai.provider.name"] = provider
    if model:
        attributes["gen_ai.request.model"] = model
    for key, name, kind in (
        ("temperature", "gen_ai.request.temperature", float),
        ("max_tokens", "gen_ai.request.max_tokens", int),
        ("top_p", "gen_ai.request.top_p", float),
        ("top_k", "gen_ai.request.top_k", float),
        ("frequency_penalty", "gen_ai.request.frequency_penalty", float),
        ("presence_penalty", "gen_ai.request.presence_penalty", float),
        ("seed", "gen_ai.request.seed", int),
    ):
        value = params.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attributes[name] = kind(value)
    stop = params.get("stop")
    if isinstance(stop, str):
        attributes["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        attributes["gen_ai.request.stop_sequences"] = list(stop)
    return attributes


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts = []
    for block in content if isinstance(content, list) else [content]:
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append({"type": "text", "content": block["text"]})
        elif block is not None:
            parts.append({"type": str(block.get("type", "unknown")) if isinstance(block, dict) else "unknown"})
    return parts


def _message(message: Any) -> dict[str, Any]:
    """One message in the conventions' form: {"role", "parts": [...]}."""
    kind = getattr(message, "type", None)
    if kind is None:
        return {"role": "user", "parts": _text_parts(message if isinstance(message, (str, list)) else str(message))}
    role = getattr(message, "role", None) if kind == "chat" else _ROLES.get(kind, kind)
    parts = _text_parts(getattr(message, "content", ""))
    for call in getattr(message, "tool_calls", None) or []:
        parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")})
    if kind == "tool":
        parts = [{"type": "tool_call_response", "id": getattr(message, "tool_call_id", None), "response": getattr(message, "content", None)}]
    return {"role": role or "user", "parts": parts}


def _input_messages(inputs: Any) -> list[dict[str, Any]]:
    messages = inputs.get("messages") if isinstance(inputs, dict) else inputs
    if isinstance(messages, list) and messages and isinstance(messages[0], list):
        messages = messages[0]  # LangChain's batch form: one list of messages per prompt
    if hasattr(messages, "to_messages"):
        messages = messages.to_messages()
    if not isinstance(messages, list):
        messages = [messages]
    return [_message(m) for m in messages]


def _finish_reason(generation: Any) -> str | None:
    info = getattr(generation, "generation_info", None) or {}
    reason = info.get("finish_reason") or info.get("stop_reason")
    if not reason:
        message = getattr(generation, "message", None)
        metadata = getattr(message, "response_metadata", None) or {}
        reason = metadata.get("finish_reason") or metadata.get("stop_reason")
    return str(reason) if reason else None


def _generations(outputs: Any) -> list[Any]:
    generations = getattr(outputs, "generations", None)
    if not generations:
        return []
    return list(generations[0]) if isinstance(generations[0], list) else list(generations)


def _output_messages(generations: list[Any]) -> list[dict[str, Any]]:
    messages = []
    for generation in generations:
        message = getattr(generation, "message", None)
        entry = _message(message) if message is not None else {"role": "assistant", "parts": _text_parts(getattr(generation, "text", ""))}
        entry["role"] = "assistant"
        entry["finish_reason"] = _finish_reason(generation) or "stop"
        messages.append(entry)
    return messages


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# -- the writer thread's side -------------------------------------------------------------------


class _Open:
    __slots__ = ("span", "provider", "llm", "content")

    def __init__(self, span: Any, provider: Any, llm: bool, content: bool) -> None:
        self.span = span
        self.provider = provider
        self.llm = llm
        self.content = content


class Spans:
    """The open runs' spans, on the writer thread. A fault here is logged once and never
    reaches the run documents."""

    def __init__(self) -> None:
        self._open: dict[UUID, _Open] = {}
        self._tracers: dict[int, tuple[Any, Any]] = {}
        self._warned = False

    def __len__(self) -> int:
        return len(self._open)

    def _tracer(self, provider: Any) -> Any:
        cached = self._tracers.get(id(provider))
        if cached is None or cached[0] is not provider:
            from importlib.metadata import PackageNotFoundError, version

            try:
                sdk_version = version("chat-tracer")
            except PackageNotFoundError:
                sdk_version = None
            cached = self._tracers[id(provider)] = (provider, provider.get_tracer("chat-tracer", sdk_version))
        return cached[1]

    def _fault(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            _log.warning("chat-tracer: could not emit an OpenTelemetry span (%r); the runs are recorded all the same.", exc)

    def start(self, event: Any, doc: dict[str, Any]) -> None:
        """A run started: open its span (a root's only if the caller captured a provider; a
        child's only if its parent has one) and keep its ids in `doc["extra"]["otel"]`."""
        try:
            captured = event.otel
            if captured is not None:
                provider, parent_span_context = captured
                context = Context() if parent_span_context is None or not parent_span_context.is_valid else _trace.set_span_in_context(_trace.NonRecordingSpan(parent_span_context), Context())
            else:
                parent = self._open.get(event.parent_run_id) if event.parent_run_id is not None else None
                if parent is None:
                    return
                provider = parent.provider
                context = _trace.set_span_in_context(parent.span, Context())
            run_type = event.run_type
            content = capture_content()
            params = doc["extra"]["invocation_params"] or {}
            if run_type == "llm":
                model = doc.get("model_name")
                attributes = _request_attributes(params, doc["extra"]["metadata"] or {}, model)
                name = f"chat {model}" if model else "chat"
                kind = _trace.SpanKind.CLIENT
                if content and event.inputs is not None:
                    attributes["gen_ai.input.messages"] = _json(_input_messages(event.inputs))
            elif run_type == "tool":
                attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": event.name}
                name = f"execute_tool {event.name}"
                kind = _trace.SpanKind.INTERNAL
            else:
                attributes = {}
                name = event.name
                kind = _trace.SpanKind.INTERNAL
            attributes["chat_tracer.run_id"] = doc["id"]
            attributes["chat_tracer.run_type"] = run_type
            span = self._tracer(provider).start_span(name, context=context, kind=kind, attributes=attributes, start_time=_ns(event.time))
            span_context = span.get_span_context()
            if span_context.is_valid:
                doc["extra"]["otel"] = {"trace_id": format(span_context.trace_id, "032x"), "span_id": format(span_context.span_id, "016x")}
            self._open[event.run_id] = _Open(span, provider, run_type == "llm", content)
        except Exception as exc:
            self._fault(exc)

    def end(self, run_id: UUID, doc: dict[str, Any], outputs: Any, t: float) -> None:
        entry = self._open.pop(run_id, None)
        if entry is None:
            return
        try:
            span = entry.span
            if entry.llm:
                attributes: dict[str, Any] = {}
                model = doc.get("model_name")
                if model:
                    attributes["gen_ai.response.model"] = model
                generations = _generations(outputs)
                reasons = [reason for reason in (_finish_reason(g) for g in generations) if reason]
                if reasons:
                    attributes["gen_ai.response.finish_reasons"] = reasons
                if doc.get("prompt_tokens") is not None:
                    attributes["gen_ai.usage.input_tokens"] = int(doc["prompt_tokens"])
                if doc.get("completion_tokens") is not None:
                    attributes["gen_ai.usage.output_tokens"] = int(doc["completion_tokens"])
                if entry.content and generations:
                    attributes["gen_ai.output.messages"] = _json(_output_messages(generations))
                if attributes:
                    span.set_attributes(attributes)
            span.end(end_time=_ns(t))
        except Exception as exc:
            self._fault(exc)

    def fail(self, run_id: UUID, error: BaseException, t: float) -> None:
        entry = self._open.pop(run_id, None)
        if entry is None:
            return
        try:
            span = entry.span
            end = _ns(t)
            kind = type(error)
            span.set_attribute("error.type", kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}")
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, f"{kind.__name__}: {error}"))
            span.record_exception(error, timestamp=end)
            span.end(end_time=end)
        except Exception as exc:
            self._fault(exc)
