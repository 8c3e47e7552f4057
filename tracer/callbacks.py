"""Callbacks: the handler protocol, the dispatcher, and the run that is current.

A *run* is one call of a runnable, a chat model, a tool or a `traceable` function. When a run
starts, the dispatcher (`start_run`) gives it a UUIDv7 id, tells every handler, and returns a
`RunManager` that reports its tokens, its end or its error. While the run's body executes, the
run is *current*: a `ContextVar` holds it, so runs started inside become its children and
inherit its handlers, tags and metadata. That holds across `batch`'s threads (each task runs in
a copy of the caller's context), asyncio tasks (which copy the context by themselves) and
generators (`iterate_in_run` makes the run current only while the generator's own code runs).

Handlers come from three places: a runnable's constructor (`callbacks=[...]`, local to it), the
call's `config={"callbacks": [...]}` (inherited by child runs), and the tracer, which registers
a factory here while tracing is on (`register_tracer`): this module never imports the tracer.

With no handler anywhere, `start_run` returns None after one flag check, and the call runs
untouched.

Error policy, one for every hook: a handler that raises is logged once per (handler class,
hook) on the `tracer.callbacks` logger and counted in `handler_errors`; the user's call goes
on. A handler that sets `raise_error = True` has its exceptions propagate instead.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from . import config as _config
from ._ids import uuid7

if TYPE_CHECKING:
    from .messages import BaseMessage
    from .outputs import ChatGenerationChunk, LLMResult

__all__ = [
    "BaseCallbackHandler",
    "RunManager",
    "RunContext",
    "Callbacks",
    "start_run",
    "current_run",
    "iterate_in_run",
    "iterate_in_context",
    "stream_in_run",
    "astream_in_run",
    "aiterate_in_context",
    "as_handlers",
    "aiterate_in_run",
    "register_tracer",
    "handler_errors",
    "count_fault",
]

_log = logging.getLogger("tracer.callbacks")
T = TypeVar("T")


class BaseCallbackHandler:
    """Receives a run's start, streamed tokens, end and error. Override what you need.

    Hook arguments are LangChain's, so handlers written for `langchain_core` work here.
    """

    #: Let this handler's exceptions reach the caller instead of being logged.
    raise_error: bool = False

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        invocation_params: dict[str, Any] | None = None,
    ) -> None:
        """A chat model was called with these conversations."""

    def on_llm_new_token(
        self,
        token: str,
        *,
        chunk: ChatGenerationChunk | None = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
    ) -> None:
        """A streaming model produced a piece of its reply."""

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None) -> None:
        """A model call finished."""

    def on_llm_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None) -> None:
        """A model call raised."""

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        run_type: str | None = None,
    ) -> None:
        """A chain (or a `traceable` function of any run type but tool and retriever) started."""

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, inputs: Any = None) -> None:
        """A chain finished. `inputs` is given when they were only known at the end (a step
        that consumed a stream)."""

    def on_chain_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None) -> None:
        """A chain raised."""

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        """A tool started."""

    def on_tool_end(self, output: Any, *, run_id: UUID, parent_run_id: UUID | None = None) -> None:
        """A tool finished."""

    def on_tool_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None) -> None:
        """A tool raised."""

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        """A retriever started."""

    def on_retriever_end(self, documents: Any, *, run_id: UUID, parent_run_id: UUID | None = None) -> None:
        """A retriever finished."""

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None) -> None:
        """A retriever raised."""


Callbacks = "Sequence[BaseCallbackHandler] | None"

#: Handler faults seen so far, by (handler class name, hook name).
handler_errors: dict[tuple[str, str], int] = {}

_tracer_factory: Callable[[], BaseCallbackHandler | None] | None = None


def register_tracer(factory: Callable[[], BaseCallbackHandler | None] | None) -> None:
    """Install the function that returns the tracing handler while tracing is on."""
    global _tracer_factory
    _tracer_factory = factory


def _tracer() -> BaseCallbackHandler | None:
    """The registered tracer, or None if getting it fails (the fault is logged once)."""
    try:
        return _tracer_factory() if _tracer_factory is not None else None
    except Exception as exc:
        count = handler_errors.get(("Tracer", "factory"), 0)
        handler_errors[("Tracer", "factory")] = count + 1
        if count == 0:
            _log.warning("Tracing is on but the tracer could not start (%r); calls go on untraced.", exc)
        return None


def _call(handler: BaseCallbackHandler, hook: str, *args: Any, **kwargs: Any) -> None:
    try:
        getattr(handler, hook)(*args, **kwargs)
    except Exception as exc:
        if handler.raise_error:
            raise
        count_fault(handler, hook, exc)


def count_fault(handler: object, hook: str, exc: BaseException) -> None:
    """The one error policy for a handler's fault: counted in `handler_errors`, logged once."""
    key = (type(handler).__name__, hook)
    count = handler_errors.get(key, 0)
    handler_errors[key] = count + 1
    if count == 0:
        _log.warning("Callback handler %s.%s raised %r; the call goes on (further faults are counted).", key[0], hook, exc)


@dataclass(slots=True, eq=False)
class RunContext:
    """The current run, as children see it: what they inherit."""

    run_id: UUID
    trace_id: UUID
    handlers: tuple[BaseCallbackHandler, ...]
    tags: tuple[str, ...]
    metadata: dict[str, Any]


_current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("tracer_current_run", default=None)


def current_run() -> RunContext | None:
    """The run whose body is executing here, if any handler is listening."""
    return _current.get()


_START_HOOK = {"llm": "on_chat_model_start", "tool": "on_tool_start", "retriever": "on_retriever_start"}
_END_HOOK = {"llm": "on_llm_end", "tool": "on_tool_end", "retriever": "on_retriever_end"}
_ERROR_HOOK = {"llm": "on_llm_error", "tool": "on_tool_error", "retriever": "on_retriever_error"}


@dataclass(slots=True, eq=False)
class RunManager:
    """One started run: report its tokens and its end or error, and make it current."""

    run_id: UUID
    parent_run_id: UUID | None
    run_type: str
    context: RunContext
    #: This run's handlers: the inherited ones and its runnable's local ones.
    handlers: tuple[BaseCallbackHandler, ...]
    #: Which hooks report it: its run type's, or the chain hooks for a `traceable` of any type.
    hook_family: str = "chain"
    _ended: bool = field(default=False)

    def enter(self) -> contextvars.Token[RunContext | None]:
        """Make this run current; pass the token to `exit` (in a `finally`)."""
        return _current.set(self.context)

    @staticmethod
    def exit(token: contextvars.Token[RunContext | None]) -> None:
        _current.reset(token)

    def call(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """`func(*args, **kwargs)` as this run's body: current while it runs, its exception
        recorded as the run's error (and re-raised). Ending the run is the caller's part."""
        token = _current.set(self.context)
        try:
            return func(*args, **kwargs)
        except BaseException as exc:
            self.error(exc)
            raise
        finally:
            _current.reset(token)

    async def acall(self, func: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any) -> T:
        """`call` for a coroutine function."""
        token = _current.set(self.context)
        try:
            return await func(*args, **kwargs)
        except BaseException as exc:
            self.error(exc)
            raise
        finally:
            _current.reset(token)

    def on_llm_new_token(self, token: str, chunk: ChatGenerationChunk | None = None) -> None:
        for handler in self.handlers:
            _call(handler, "on_llm_new_token", token, chunk=chunk, run_id=self.run_id, parent_run_id=self.parent_run_id)

    def end(self, outputs: Any, inputs: Any = None) -> None:
        """The run finished with `outputs` (and, for a chain that consumed a stream, the
        `inputs` it ended up receiving). Only the first end or error counts."""
        if self._ended:
            return
        self._ended = True
        hook = _END_HOOK.get(self.hook_family, "on_chain_end")
        extra = {"inputs": inputs} if inputs is not None and hook == "on_chain_end" else {}
        for handler in self.handlers:
            _call(handler, hook, outputs, run_id=self.run_id, parent_run_id=self.parent_run_id, **extra)

    def error(self, error: BaseException) -> None:
        """The run raised `error`."""
        if self._ended:
            return
        self._ended = True
        hook = _ERROR_HOOK.get(self.hook_family, "on_chain_error")
        for handler in self.handlers:
            _call(handler, hook, error, run_id=self.run_id, parent_run_id=self.parent_run_id)


def as_handlers(callbacks: Any) -> tuple[BaseCallbackHandler, ...]:
    """The handlers in a `callbacks` value: one handler, a sequence, or a manager-like object
    with a `handlers` attribute (LangChain's)."""
    if not callbacks:
        return ()
    if isinstance(callbacks, BaseCallbackHandler):
        return (callbacks,)
    handlers = getattr(callbacks, "handlers", callbacks)  # a LangChain-style manager works too
    return tuple(handlers)


def start_run(
    run_type: str,
    name: str,
    inputs: Any,
    *,
    config: dict[str, Any] | None = None,
    local_callbacks: Any = None,
    local_tags: Sequence[str] | None = None,
    local_metadata: dict[str, Any] | None = None,
    serialized: dict[str, Any] | None = None,
    invocation_params: dict[str, Any] | None = None,
    run_id: UUID | None = None,
    chain_hooks: bool = False,
) -> RunManager | None:
    """Start a run and tell its handlers; None when nobody listens (the fast path).

    `inputs` is, for an llm run, the list of conversations; for a tool the input string or
    dict; for a retriever the query; otherwise the chain's input. Handlers, tags and metadata
    from `config` and from the parent run are inherited by this run's children; `local_*`
    ones (a runnable's own constructor arguments) apply to this run alone. `chain_hooks`
    reports the run through the chain hooks whatever its type (a `traceable`'s arguments are
    not a retriever's query). A `RunContext` as `config["callbacks"]` (what a runnable's body
    receives) names the parent when none is current: a config handed to a plain thread keeps
    the trace.
    """
    parent = _current.get()
    config_callbacks = config.get("callbacks") if config else None
    if type(config_callbacks) is RunContext:
        parent = parent or config_callbacks
        config_callbacks = None
    tracing = _config.tracing_active()
    if parent is None and not config_callbacks and not local_callbacks and not tracing:
        return None

    inheritable = parent.handlers if parent is not None else ()
    if config_callbacks:
        inheritable = _merge_handlers(inheritable, as_handlers(config_callbacks))
    if tracing and _tracer_factory is not None:
        tracer = _tracer()
        # One tracer per run: an explicit one (e.g. `Tracer(project_name=...)` in config) wins.
        if tracer is not None and not any(isinstance(h, type(tracer)) for h in inheritable):
            inheritable = (*inheritable, tracer)
    handlers = _merge_handlers(inheritable, as_handlers(local_callbacks)) if local_callbacks else inheritable
    if not handlers:
        return None

    tags = parent.tags if parent is not None else ()
    metadata = parent.metadata if parent is not None else {}
    if config:
        if config.get("tags"):
            tags = tuple(dict.fromkeys((*tags, *config["tags"])))
        if config.get("metadata"):
            metadata = {**metadata, **config["metadata"]}
        name = config.get("run_name") or name
        run_id = config.get("run_id") or run_id
    run_tags = list(dict.fromkeys((*tags, *local_tags))) if local_tags else list(tags)
    run_metadata = {**metadata, **local_metadata} if local_metadata else dict(metadata)

    run_id = run_id or uuid7()
    parent_run_id = parent.run_id if parent is not None else None
    context = RunContext(run_id, parent.trace_id if parent is not None else run_id, inheritable, tags, metadata)
    family = "chain" if chain_hooks else run_type
    manager = RunManager(run_id, parent_run_id, run_type, context, handlers, family)
    hook = _START_HOOK.get(family, "on_chain_start")
    common = {"run_id": run_id, "parent_run_id": parent_run_id, "tags": run_tags, "metadata": run_metadata, "name": name}
    for handler in handlers:
        if family == "llm":
            _call(handler, hook, serialized or {"name": name}, inputs, invocation_params=invocation_params, **common)
        elif family == "tool":
            input_str = inputs if isinstance(inputs, str) else str(inputs)
            _call(handler, hook, serialized, input_str, inputs=inputs if isinstance(inputs, dict) else None, **common)
        elif family == "retriever":
            _call(handler, hook, serialized, inputs, **common)
        else:
            _call(handler, hook, serialized, inputs, run_type=run_type, **common)
    return manager


def _merge_handlers(first: tuple[BaseCallbackHandler, ...], second: tuple[BaseCallbackHandler, ...]) -> tuple[BaseCallbackHandler, ...]:
    return (*first, *(h for h in second if h not in first))


def iterate_in_run(run: RunManager | None, iterator: Iterator[T]) -> Iterator[T]:
    """Yield from `iterator`, with `run` current only while the iterator's own code runs.

    A generator shares its consumer's context, so setting the run once would leak it into the
    consumer's loop body between items; this sets and resets it around every step instead.
    """
    return iterator if run is None else iterate_in_context(run.context, iterator)


def stream_in_run(run: RunManager | None, iterator: Iterator[T], summarize: Callable[[list[T]], Any], inputs: Callable[[], Any] | None = None) -> Iterator[T]:
    """Yield `iterator`'s items as `run`'s output, the run current while they are produced;
    then end it with `summarize(items)` (and the `inputs()` it turned out to receive), or
    record the error, or the consumer's early stop, that cut it short."""
    if run is None:
        yield from iterator
        return
    items: list[T] = []
    try:
        for item in iterate_in_context(run.context, iterator):
            items.append(item)
            yield item
    except BaseException as exc:
        run.error(exc)
        raise
    run.end(summarize(items), inputs=inputs() if inputs is not None else None)


async def astream_in_run(run: RunManager | None, iterator: AsyncIterator[T], summarize: Callable[[list[T]], Any], inputs: Callable[[], Any] | None = None) -> AsyncIterator[T]:
    """`stream_in_run` for async iterators."""
    if run is None:
        async for item in iterator:
            yield item
        return
    items: list[T] = []
    try:
        async for item in aiterate_in_context(run.context, iterator):
            items.append(item)
            yield item
    except BaseException as exc:
        run.error(exc)
        raise
    run.end(summarize(items), inputs=inputs() if inputs is not None else None)


def iterate_in_context(context: RunContext | None, iterator: Iterator[T]) -> Iterator[T]:
    """Yield from `iterator` with `context` (None: no run) current around every step."""
    while True:
        token = _current.set(context)
        try:
            item = next(iterator)
        except StopIteration:
            return
        finally:
            _current.reset(token)
        yield item


def aiterate_in_run(run: RunManager | None, iterator: AsyncIterator[T]) -> AsyncIterator[T]:
    """`iterate_in_run` for async iterators."""
    return iterator if run is None else aiterate_in_context(run.context, iterator)


async def aiterate_in_context(context: RunContext | None, iterator: AsyncIterator[T]) -> AsyncIterator[T]:
    """`iterate_in_context` for async iterators."""
    while True:
        token = _current.set(context)
        try:
            item = await iterator.__anext__()
        except StopAsyncIteration:
            return
        finally:
            _current.reset(token)
        yield item
