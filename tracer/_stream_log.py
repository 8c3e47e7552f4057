"""`astream_log`: a call's progress as a stream of `RunLogPatch`es.

The state the patches build (see `tracer.log.RunLog`) is
`{"id", "streamed_output": [...], "final_output", "logs": {name: entry}}`: the root run's id,
its output chunks as they stream, its final output, and one entry per run inside it that passes
the include/exclude filters (`name`, `name:2`, ... when names repeat). A handler added to the
call's callbacks turns run events into ops; the root's chunks come from its `astream`. Both
feed one queue, so the ops arrive in the order things happened, from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from .callbacks import BaseCallbackHandler
from .log import RunLogPatch
from .outputs import LLMResult
from .runnables import Runnable, RunnableConfig, merge_configs

__all__ = ["astream_log"]

_DONE = object()


def _llm_output_value(result: LLMResult) -> dict[str, Any]:
    """An `LLMResult` as the log shows it: plain dicts around the message objects."""
    return {
        "generations": [
            [{"text": g.text, "generation_info": g.generation_info, "message": getattr(g, "message", None)} for g in generations]
            for generations in result.generations
        ],
        "llm_output": result.llm_output,
        "run": None,
    }


def _output_value(outputs: Any) -> Any:
    return _llm_output_value(outputs) if isinstance(outputs, LLMResult) else outputs


class _Filters:
    def __init__(self, include_names: Sequence[str] | None, include_types: Sequence[str] | None, include_tags: Sequence[str] | None, exclude_names: Sequence[str] | None, exclude_types: Sequence[str] | None, exclude_tags: Sequence[str] | None) -> None:
        self.include = (set(include_names or ()), set(include_types or ()), set(include_tags or ()))
        self.exclude = (set(exclude_names or ()), set(exclude_types or ()), set(exclude_tags or ()))

    @staticmethod
    def _matches(sets: tuple[set[str], set[str], set[str]], name: str, run_type: str, tags: Sequence[str]) -> bool:
        names, types, tag_set = sets
        return name in names or run_type in types or any(tag in tag_set for tag in tags)

    def admit(self, name: str, run_type: str, tags: Sequence[str]) -> bool:
        if any(self.include) and not self._matches(self.include, name, run_type, tags):
            return False
        return not self._matches(self.exclude, name, run_type, tags)


class _LogStreamHandler(BaseCallbackHandler):
    """Turns the events of a call's runs into ops on one asyncio queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], filters: _Filters) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._queue = queue
        self._filters = filters
        self.root_id: UUID | None = None
        self._keys: dict[UUID, str] = {}
        self._name_counts: dict[str, int] = {}

    def send(self, *ops: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            self._queue.put_nowait(ops)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, ops)

    def _start(self, run_id: UUID, name: str | None, run_type: str, tags: list[str] | None, metadata: dict[str, Any] | None) -> None:
        if self.root_id is None:
            self.root_id = run_id
            self.send({"op": "replace", "path": "", "value": {"id": str(run_id), "streamed_output": [], "final_output": None, "logs": {}}})
            return
        name = name or run_type
        if not self._filters.admit(name, run_type, tags or ()):
            return
        count = self._name_counts[name] = self._name_counts.get(name, 0) + 1
        key = name if count == 1 else f"{name}:{count}"
        key = key.replace("~", "~0").replace("/", "~1")  # a JSON-pointer segment
        self._keys[run_id] = key
        entry = {
            "id": str(run_id),
            "name": name,
            "type": run_type,
            "tags": list(tags or ()),
            "metadata": dict(metadata or {}),
            "start_time": datetime.now(timezone.utc).isoformat(),
            "streamed_output": [],
            "streamed_output_str": [],
            "final_output": None,
            "end_time": None,
        }
        self.send({"op": "add", "path": f"/logs/{key}", "value": entry})

    def _end(self, run_id: UUID, outputs: Any) -> None:
        if run_id == self.root_id:
            self.send({"op": "replace", "path": "/final_output", "value": _output_value(outputs)})
            return
        key = self._keys.get(run_id)
        if key is not None:
            self.send(
                {"op": "add", "path": f"/logs/{key}/final_output", "value": _output_value(outputs)},
                {"op": "add", "path": f"/logs/{key}/end_time", "value": datetime.now(timezone.utc).isoformat()},
            )

    def _error(self, run_id: UUID, error: BaseException) -> None:
        key = self._keys.get(run_id)
        if key is not None:
            self.send(
                {"op": "add", "path": f"/logs/{key}/error", "value": repr(error)},
                {"op": "add", "path": f"/logs/{key}/end_time", "value": datetime.now(timezone.utc).isoformat()},
            )

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None, name: str | None = None, **_: Any) -> None:
        self._start(run_id, name, "llm", tags, metadata)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None, name: str | None = None, run_type: str | None = None, **_: Any) -> None:
        self._start(run_id, name, run_type or "chain", tags, metadata)

    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None, name: str | None = None, **_: Any) -> None:
        self._start(run_id, name, "tool", tags, metadata)

    def on_retriever_start(self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None, name: str | None = None, **_: Any) -> None:
        self._start(run_id, name, "retriever", tags, metadata)

    def on_llm_new_token(self, token: str, *, chunk: Any = None, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        key = self._keys.get(run_id)
        if key is not None:
            ops: list[dict[str, Any]] = [{"op": "add", "path": f"/logs/{key}/streamed_output_str/-", "value": token}]
            if chunk is not None:
                ops.append({"op": "add", "path": f"/logs/{key}/streamed_output/-", "value": chunk.message})
            self.send(*ops)

    def on_llm_end(self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._end(run_id, response)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, inputs: Any = None, **_: Any) -> None:
        self._end(run_id, outputs)

    on_tool_end = on_llm_end  # type: ignore[assignment]

    def on_retriever_end(self, documents: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._end(run_id, {"documents": documents})

    def on_llm_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._error(run_id, error)

    on_chain_error = on_tool_error = on_retriever_error = on_llm_error  # type: ignore[assignment]


async def astream_log(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None = None,
    *,
    include_names: Sequence[str] | None = None,
    include_types: Sequence[str] | None = None,
    include_tags: Sequence[str] | None = None,
    exclude_names: Sequence[str] | None = None,
    exclude_types: Sequence[str] | None = None,
    exclude_tags: Sequence[str] | None = None,
    **kwargs: Any,
) -> AsyncIterator[RunLogPatch]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    filters = _Filters(include_names, include_types, include_tags, exclude_names, exclude_types, exclude_tags)
    handler = _LogStreamHandler(loop, queue, filters)
    config = merge_configs(config, {"callbacks": [handler]})

    async def consume() -> None:
        try:
            async for chunk in runnable.astream(input, config, **kwargs):
                handler.send({"op": "add", "path": "/streamed_output/-", "value": chunk})
        finally:
            # Ops sent from worker threads are queued with call_soon_threadsafe; queue the end
            # marker the same way so it cannot overtake them.
            loop.call_soon(queue.put_nowait, _DONE)

    task = asyncio.create_task(consume())
    try:
        while True:
            ops = await queue.get()
            if ops is _DONE:
                break
            yield RunLogPatch(*ops)
        await task
    finally:
        if not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
