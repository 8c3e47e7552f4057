"""LangChain's callbacks into the local store: `TracerCallbackHandler`.

For apps on `langchain-core` that pass callbacks and want no server:

    chain.invoke(question, config={"callbacks": [TracerCallbackHandler(project_name="my-app")]})

langchain-core's own `BaseTracer` keeps each run's state as LangChain's tracer sends it to
LangSmith (lc-serialized messages, generations, events, `extra.metadata` with the `ls_*` keys,
errors with tracebacks, parents, dotted order). When a run starts, ends, and every fifth of a
second while it streams tokens, the handler takes a shallow snapshot of that run and queues it
on our background writer as a `Document`; there, off the caller's thread, `langsmith_wire` maps
it to our run document, the same mapping our server applies to what LangSmith clients send. So
the viewer shows these runs as it shows our SDK's, with every streamed token (LangChain's own
tracer keeps only the first).

Settings are ours: the project (unless `project_name` is given), sampling of whole traces,
hidden inputs and outputs. A fault never reaches the app: it is logged once and counted in
`tracer.callbacks.handler_errors`, as a fault of any handler is in our callbacks.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

try:
    import langchain_core
    from langchain_core.tracers.base import BaseTracer
    from langchain_core.tracers.schemas import Run
except ImportError as exc:  # pragma: no cover - exercised in a process without the extra
    raise ImportError("tracer.integrations.langchain needs langchain-core: pip install 'chat-tracer[langchain]'") from exc

from .. import config as _config
from .._json import to_jsonable
from .._rundoc import Document, runtime_info
from .._writer import Writer
from ..callbacks import count_fault
from ..langsmith_wire import merge, to_doc
from ..tracing import trace_writer

__all__ = ["TracerCallbackHandler"]


# A streaming run is sent again at most this often, so a live view sees its tokens arrive.
_SECONDS_PER_UPDATE = 0.2

_RUNTIME = {**runtime_info(), "library": "langchain-core", "library_version": langchain_core.__version__}

# The hooks langchain-core calls; each is guarded by the handler's error policy.
_HOOKS = (
    "on_chat_model_start",
    "on_llm_start",
    "on_llm_new_token",
    "on_retry",
    "on_llm_end",
    "on_llm_error",
    "on_chain_start",
    "on_chain_end",
    "on_chain_error",
    "on_tool_start",
    "on_tool_end",
    "on_tool_error",
    "on_retriever_start",
    "on_retriever_end",
    "on_retriever_error",
)


@dataclass(slots=True, frozen=True)
class _Route:
    """Where a trace goes, decided at its root and shared by its runs."""

    writer: Writer
    project: str
    hide_inputs: bool
    hide_outputs: bool


class TracerCallbackHandler(BaseTracer):
    """A langchain-core callback handler that records runs into our store.

    `project_name` fixes the project of the traces it roots; by default it is the settings'
    (`LANGCHAIN_PROJECT`) when each trace starts. Tracing need not be switched on: passing the
    handler is the switch.
    """

    # Async chains call it on the event loop's thread, in order: its work is a few appends.
    run_inline = True

    def __init__(self, project_name: str | None = None, *, settings: _config.Settings | None = None) -> None:
        super().__init__(_schema_format="original+chat")
        self.project_name = project_name
        self._settings = settings
        #: Open runs' routes; None for a trace that sampling left out.
        self._routes: dict[UUID, _Route | None] = {}
        #: When each streaming run was last sent.
        self._sent_at: dict[UUID, float] = {}

    # -- BaseTracer's persistence hooks ----------------------------------------------------------

    def _on_run_create(self, run: Run) -> None:
        parent = run.parent_run_id
        route = self._routes.get(parent) if parent is not None and parent in self._routes else self._root_route()
        self._routes[run.id] = route
        if route is not None:
            self._send(run, route)

    def _on_run_update(self, run: Run) -> None:
        route = self._routes.pop(run.id, None)
        self._sent_at.pop(run.id, None)
        # BaseTracer keeps every run's place in its tree until the handler is dropped; a handler
        # that a long-lived app reuses would grow without bound. Children start before it ends.
        self.order_map.pop(run.id, None)
        if route is not None:
            self._send(run, route)

    def _on_llm_new_token(self, run: Run, token: Any, chunk: Any) -> None:
        route = self._routes.get(run.id)
        now = time.monotonic()
        if route is not None and now - self._sent_at.setdefault(run.id, now) >= _SECONDS_PER_UPDATE:
            self._sent_at[run.id] = now
            self._send(run, route)

    def _persist_run(self, run: Run) -> None:
        """Nothing left to do when a trace ends: each run was sent as it changed."""

    def _llm_run_with_token_event(self, token: Any, run_id: UUID, chunk: Any = None, parent_run_id: UUID | None = None) -> Run:
        # The chunk repeats the token, and the run's outputs hold the whole reply: keep the text.
        return super()._llm_run_with_token_event(token, run_id, None, parent_run_id)

    # -- ours ------------------------------------------------------------------------------------

    def _root_route(self) -> _Route | None:
        settings = self._settings or _config.get_settings()
        writer = trace_writer(settings)
        if writer is None:
            return None
        return _Route(writer, self.project_name or settings.project, settings.hide_inputs, settings.hide_outputs)

    @staticmethod
    def _send(run: Run, route: _Route) -> None:
        route.writer.submit(Document(run.id, functools.partial(_build, _snapshot(run, route))))


def _snapshot(run: Run, route: _Route) -> dict[str, Any]:
    """The run as LangSmith's client sends it, copied only as deep as LangChain mutates it
    (events are appended; `extra`, its metadata and `outputs` updated) while the writer is still
    to read it."""
    events, extra = run.events or [], run.extra or {}
    if route.hide_outputs:
        events = [{"name": e["name"], "time": e["time"]} if e.get("name") == "new_token" else e for e in events]
    return {
        "id": run.id,
        "trace_id": run.trace_id,
        "parent_run_id": run.parent_run_id,
        "dotted_order": run.dotted_order,
        "name": run.name,
        # BaseTracer types chat model runs "chat_model"; LangSmith's (and ours) say "llm".
        "run_type": "llm" if run.run_type == "chat_model" else run.run_type,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "session_name": route.project,
        "tags": list(run.tags or ()),
        "inputs": {} if route.hide_inputs else run.inputs,
        "outputs": None if run.outputs is None else ({} if route.hide_outputs else dict(run.outputs)),
        "error": run.error,
        "events": list(events),
        "extra": {**extra, "metadata": dict(extra.get("metadata") or {}), "runtime": _RUNTIME},
        "reference_example_id": run.reference_example_id,
    }


def _build(payload: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Our document for the run after this change (on the writer thread). The payload becomes
    JSON as LangSmith's client would send it (objects as their pydantic dumps), event times as
    our tracer writes them."""
    events = [_event_with_iso_time(event) for event in payload["events"]]
    return merge(previous, to_doc(to_jsonable({**payload, "events": events})))


def _event_with_iso_time(event: dict[str, Any]) -> dict[str, Any]:
    time_ = event.get("time")
    return {**event, "time": time_.isoformat(timespec="microseconds")} if isinstance(time_, datetime) else event


def _guarded(hook: Any) -> Any:
    """`hook` under our error policy: a fault is counted, not raised, unless `raise_error`."""

    @functools.wraps(hook)
    def call(self: TracerCallbackHandler, *args: Any, **kwargs: Any) -> Any:
        try:
            return hook(self, *args, **kwargs)
        except Exception as exc:
            if self.raise_error:
                raise
            count_fault(self, hook.__name__, exc)
            return None

    return call


for _hook in _HOOKS:
    setattr(TracerCallbackHandler, _hook, _guarded(getattr(TracerCallbackHandler, _hook)))
