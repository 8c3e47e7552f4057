"""Tracing: the `Tracer` handler, `traceable`, `trace` and `tracing_enabled`.

`Tracer` is a callback handler that records every run it hears about. While tracing is on
(`LANGCHAIN_TRACING_V2=true`, or inside `tracing_enabled()`), the callbacks module adds the
process's tracer to every root run, so chat models, runnables and `traceable` functions are
recorded with no code change. A `Tracer(project_name=...)` can also be passed in a call's
`config["callbacks"]` to trace that call alone.

The hooks run on the caller's thread and do almost nothing: look up the parent, read the
clock, append a tuple to the writer's queue. Serializing, redacting, building documents and
writing happen on the writer thread (`_writer`, `_rundoc`). A fault in here is counted by the
callbacks' error policy and never reaches the user's code.

Sampling keeps or drops whole traces: the decision is made at the root and inherited.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload
from uuid import UUID

from . import callbacks as _callbacks
from . import config as _config
from ._rundoc import End, Fail, Start, Tokens
from ._writer import Writer, flush_all, writer_for
from .otel import capture as _otel_capture
from .callbacks import BaseCallbackHandler, RunManager, astream_in_run, start_run, stream_in_run

__all__ = ["Tracer", "traceable", "trace", "tracing_enabled", "flush", "RunHandle"]

F = TypeVar("F", bound=Callable[..., Any])


def _open_store_sink(url: str) -> Any:
    from .store import open_store

    return open_store(url)


def _open_remote_sink(endpoint: str, api_key: str | None) -> Any:
    from .remote import RemoteSink

    return RemoteSink(endpoint, api_key)


def _writer(settings: _config.Settings) -> Writer:
    """The writer of the settings' destination: the server at `endpoint` (remote mode), else
    the store."""
    endpoint = settings.endpoint
    if endpoint:
        api_key = settings.api_key
        return writer_for(endpoint, lambda: _open_remote_sink(endpoint, api_key))
    url = settings.store_url
    return writer_for(url, lambda: _open_store_sink(url))


_last_destination: tuple[_config.Settings, Writer] | None = None


def _writer_cached(settings: _config.Settings) -> Writer:
    """`_writer`, remembering the last answer: settings rarely change between traces."""
    global _last_destination
    last = _last_destination
    if last is not None and last[0] is settings and last[1].alive:
        return last[1]
    writer = _writer(settings)
    _last_destination = (settings, writer)
    return writer


def trace_writer(settings: _config.Settings) -> Writer | None:
    """Where a new trace goes: the settings' writer, or None when sampling leaves it out (the
    decision is the root's; its children inherit it)."""
    if settings.sampling_rate >= 1.0 or random.random() < settings.sampling_rate:
        return _writer_cached(settings)
    return None


@dataclass(slots=True)
class _Open:
    """What a run's children need from it."""

    trace_id: UUID
    project: str
    writer: Writer | None  # None: the trace was sampled out
    hide_inputs: bool
    hide_outputs: bool
    #: Streamed pieces not yet handed to the writer: (time, text).
    pieces: list[tuple[float, str | None]] | None = None


# Streamed pieces go to the writer in batches, one event per this many pieces or this many
# seconds (so a live view still sees a stream progress), and at the run's end.
_PIECES_PER_EVENT = 64
_SECONDS_PER_EVENT = 0.2


class Tracer(BaseCallbackHandler):
    """Records runs into the store, or sends them to the server, named by the settings.

    `project_name` fixes the project for the traces this handler roots; by default it is the
    one in force when each trace starts (`LANGCHAIN_PROJECT`, or `tracing_enabled`'s).
    """

    def __init__(self, project_name: str | None = None, *, settings: _config.Settings | None = None) -> None:
        self.project_name = project_name
        self._settings = settings
        self._open: dict[UUID, _Open] = {}

    # -- run bookkeeping -----------------------------------------------------------------------

    def _begin(self, run_id: UUID, parent_run_id: UUID | None) -> _Open:
        """A run's trace, project and destination: its parent's, or decided here for a root
        (also when the parent was never traced, e.g. tracing switched on inside it)."""
        parent = self._open.get(parent_run_id) if parent_run_id is not None else None
        if parent is not None:
            state = _Open(parent.trace_id, parent.project, parent.writer, parent.hide_inputs, parent.hide_outputs)
        else:
            settings = self._settings or _config.get_settings()
            state = _Open(run_id, self.project_name or settings.project, trace_writer(settings), settings.hide_inputs, settings.hide_outputs)
        self._open[run_id] = state
        return state

    def _record_start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str | None,
        run_type: str,
        inputs: Any,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        invocation_params: dict[str, Any] | None = None,
    ) -> None:
        state = self._begin(run_id, parent_run_id)
        if state.writer is None:
            return
        root = state.trace_id == run_id
        state.writer.submit(
            Start(
                run_id,
                None if root else parent_run_id,
                state.trace_id,
                state.project,
                name or run_type,
                run_type,
                time.time(),
                None if state.hide_inputs else inputs,
                tags or [],
                metadata or {},
                invocation_params,
                None,
                # A root keeps the OpenTelemetry provider and active span, when an SDK is set.
                _otel_capture() if root else None,
            )
        )

    @staticmethod
    def _send_pieces(run_id: UUID, state: _Open) -> None:
        if state.pieces and state.writer is not None:
            state.writer.submit(Tokens(run_id, state.pieces))
            state.pieces = None

    def _record_end(self, run_id: UUID, outputs: Any, inputs: Any = None) -> None:
        state = self._open.pop(run_id, None)
        if state is not None and state.writer is not None:
            self._send_pieces(run_id, state)
            late_inputs = None if state.hide_inputs else inputs
            state.writer.submit(End(run_id, time.time(), None if state.hide_outputs else outputs, state.hide_outputs, late_inputs))

    def _record_error(self, run_id: UUID, error: BaseException) -> None:
        state = self._open.pop(run_id, None)
        if state is not None and state.writer is not None:
            self._send_pieces(run_id, state)
            state.writer.submit(Fail(run_id, time.time(), error))

    # -- the handler protocol ------------------------------------------------------------------

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None, name: str | None = None, invocation_params: dict[str, Any] | None = None, **_: Any) -> None:
        self._record_start(run_id, parent_run_id, name or (serialized or {}).get("name"), "llm", messages, tags, metadata, invocation_params)

    def on_llm_new_token(self, token: str, *, chunk: Any = None, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        state = self._open.get(run_id)
        if state is None or state.writer is None:
            return
        now = time.time()
        # Hidden outputs keep the empty chunks empty, so the first-token time stays right.
        piece = (now, None if state.hide_outputs and token else token)
        pieces = state.pieces
        if pieces is None:
            state.pieces = [piece]
            return
        pieces.append(piece)
        if len(pieces) >= _PIECES_PER_EVENT or now - pieces[0][0] >= _SECONDS_PER_EVENT:
            self._send_pieces(run_id, state)

    def on_llm_end(self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._record_end(run_id, response)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._record_error(run_id, error)

    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None, name: str | None = None, run_type: str | None = None, **_: Any) -> None:
        self._record_start(run_id, parent_run_id, name or (serialized or {}).get("name"), run_type or "chain", inputs, tags, metadata)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, inputs: Any = None, **_: Any) -> None:
        self._record_end(run_id, outputs, inputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._record_error(run_id, error)

    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None, name: str | None = None, inputs: dict[str, Any] | None = None, **_: Any) -> None:
        self._record_start(run_id, parent_run_id, name or (serialized or {}).get("name"), "tool", inputs if inputs is not None else input_str, tags, metadata)

    def on_tool_end(self, output: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._record_end(run_id, output)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._record_error(run_id, error)

    def on_retriever_start(self, serialized: dict[str, Any] | None, query: str, *, run_id: UUID, parent_run_id: UUID | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None, name: str | None = None, **_: Any) -> None:
        self._record_start(run_id, parent_run_id, name or (serialized or {}).get("name"), "retriever", {"query": query}, tags, metadata)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._record_end(run_id, {"documents": documents})

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any) -> None:
        self._record_error(run_id, error)


_default_tracer: Tracer | None = None


def _tracer_for_env() -> Tracer:
    global _default_tracer
    if _default_tracer is None:
        _default_tracer = Tracer()
    return _default_tracer


_callbacks.register_tracer(_tracer_for_env)


def flush(timeout: float | None = None) -> bool:
    """Write everything traced so far; True when done within `timeout` seconds (per store)."""
    return flush_all(timeout)


@contextlib.contextmanager
def tracing_enabled(project_name: str | None = None, *, enabled: bool = True) -> Iterator[None]:
    """Trace (or, with `enabled=False`, don't) the calls made inside this block."""
    base = _config.get_settings()
    changes: dict[str, Any] = {"tracing": enabled}
    if project_name:
        changes["project"] = project_name
    token = _config._override.set(base.with_changes(**changes))
    try:
        yield
    finally:
        _config._override.reset(token)


# -- traceable ----------------------------------------------------------------------------------


def _binder(func: Callable[..., Any]) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """A fast function from a call's arguments to `{parameter: value}`, defaults included.

    `inspect.Signature.bind` costs several microseconds a call; plain positional-or-keyword
    signatures (nearly all) are bound with a zip instead. `self` and `cls` are left out.
    """
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    simple = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)
    skip_first = bool(params) and params[0].name in ("self", "cls")
    if simple:
        names = tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
        defaults = tuple((p.name, p.default) for p in params if p.default is not p.empty)
        first = params[0].name if skip_first else None

        def bind_simple(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            inputs = dict(zip(names, args))
            if kwargs:
                inputs.update(kwargs)
            for key, default in defaults:
                if key not in inputs:
                    inputs[key] = default
            if first is not None:
                inputs.pop(first, None)
            return inputs

        return bind_simple

    def bind_general(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return {"args": list(args), "kwargs": kwargs}
        bound.apply_defaults()
        inputs = dict(bound.arguments)
        for p in params:
            if p.kind is p.VAR_KEYWORD and p.name in inputs:
                inputs.update(inputs.pop(p.name))
        if skip_first:
            inputs.pop(params[0].name, None)
        return inputs

    return bind_general


def _active() -> bool:
    return _callbacks.current_run() is not None or _config.tracing_active()


@overload
def traceable(func: F, /) -> F: ...
@overload
def traceable(*, run_type: str = "chain", name: str | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None) -> Callable[[F], F]: ...


def traceable(
    func: F | None = None,
    /,
    *,
    run_type: str = "chain",
    name: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> F | Callable[[F], F]:
    """Record every call of a function (sync, async, generator or async generator) as a run.

    Inputs are the bound arguments, outputs the return value (a generator's: the list of
    what it yielded). Calls made inside become its children. With tracing off and no run
    around it, the function is called directly.
    """

    def decorate(fn: F) -> F:
        run_name = name or getattr(fn, "__name__", "traceable")
        bind = _binder(fn)

        def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RunManager | None:
            return start_run(run_type, run_name, bind(args, kwargs), local_tags=tags, local_metadata=metadata, chain_hooks=True)

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                run = begin(args, kwargs) if _active() else None
                async for item in astream_in_run(run, fn(*args, **kwargs), list):
                    yield item

            return cast(F, agen_wrapper)

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                run = begin(args, kwargs) if _active() else None
                yield from stream_in_run(run, fn(*args, **kwargs), list)

            return cast(F, gen_wrapper)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if not _active():
                    return await fn(*args, **kwargs)
                run = begin(args, kwargs)
                if run is None:
                    return await fn(*args, **kwargs)
                output = await run.acall(fn, *args, **kwargs)
                run.end(output)
                return output

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not _active():
                return fn(*args, **kwargs)
            run = begin(args, kwargs)
            if run is None:
                return fn(*args, **kwargs)
            output = run.call(fn, *args, **kwargs)
            run.end(output)
            return output

        return cast(F, wrapper)

    return decorate(func) if func is not None else decorate


# -- trace ----------------------------------------------------------------------------------------


class RunHandle:
    """The run of a `trace` block: set its outputs with `end`, or let the block end it."""

    def __init__(self, run: RunManager | None) -> None:
        self._run = run
        self.outputs: Any = None

    @property
    def id(self) -> UUID | None:
        """The run's id (None when nothing is recording)."""
        return self._run.run_id if self._run is not None else None

    @property
    def trace_id(self) -> UUID | None:
        return self._run.context.trace_id if self._run is not None else None

    def end(self, outputs: Any = None) -> None:
        """Record the block's outputs (recorded when the block exits)."""
        self.outputs = outputs


class trace:  # noqa: N801 - used like a function: `with trace("step"):`
    """Record a block of code as a run: `with trace("retrieve", inputs={"q": q}) as run:`.

    Runs started inside are its children. An exception leaving the block is recorded as the
    run's error and goes on; otherwise the run ends with what `run.end(outputs)` gave.
    """

    def __init__(self, name: str, run_type: str = "chain", *, inputs: dict[str, Any] | None = None, tags: list[str] | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._args = (run_type, name, inputs or {})
        self._tags = tags
        self._metadata = metadata
        self._handle: RunHandle | None = None
        self._token: Any = None

    def __enter__(self) -> RunHandle:
        run_type, name, inputs = self._args
        run = start_run(run_type, name, inputs, local_tags=self._tags, local_metadata=self._metadata, chain_hooks=True) if _active() else None
        self._handle = RunHandle(run)
        if run is not None:
            self._token = run.enter()
        return self._handle

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        handle = self._handle
        assert handle is not None, "trace.__exit__ without __enter__"
        run = handle._run
        if run is None:
            return
        run.exit(self._token)
        if exc is not None:
            run.error(exc)
        else:
            run.end(handle.outputs)

    async def __aenter__(self) -> RunHandle:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)
