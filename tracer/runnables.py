"""Runnables: one calling convention for models, functions and their compositions.

Every runnable has `invoke`, `ainvoke`, `stream`, `astream`, `batch`, `abatch` and
`astream_log`; a subclass writes `invoke` (and, if it can, `stream`/`astream`) and inherits
the rest. `a | b` pipes `a`'s output into `b` (a `RunnableSequence`); a dict of runnables is
a `RunnableParallel`; a plain function is a `RunnableLambda`.

Each call is a run (see `callbacks`): started before the body, current while it executes, ended
with its output or its error. Streaming flows through a sequence: each step's `transform`
receives the previous step's chunks, so `prompt | model` streams the model's tokens.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypedDict, TypeVar, cast
from uuid import UUID

from .messages import BaseMessageChunk
from .callbacks import RunManager, aiterate_in_context, as_handlers, astream_in_run, current_run, iterate_in_context, start_run, stream_in_run

if TYPE_CHECKING:
    from .log import RunLogPatch

__all__ = [
    "RunnableConfig",
    "Runnable",
    "RunnableSequence",
    "RunnableParallel",
    "RunnableLambda",
    "RunnablePassthrough",
    "RunnableBinding",
    "coerce_to_runnable",
    "ensure_config",
    "merge_configs",
]

Input = TypeVar("Input")
Output = TypeVar("Output")
T = TypeVar("T")


class RunnableConfig(TypedDict, total=False):
    """Per-call options. `callbacks`, `tags` and `metadata` reach child runs too;
    `run_name` and `run_id` name this call's own run."""

    callbacks: Any
    tags: list[str]
    metadata: dict[str, Any]
    run_name: str
    run_id: UUID
    max_concurrency: int | None
    configurable: dict[str, Any]


# Keys that belong to the run they are given to; children must not receive them again.
_OWN_KEYS = ("run_name", "run_id")
# Keys that a started run carries to its children through the current-run context.
_INHERITED_KEYS = ("callbacks", "tags", "metadata")


def ensure_config(config: RunnableConfig | None) -> RunnableConfig:
    return config if config is not None else {}


def merge_configs(*configs: RunnableConfig | None) -> RunnableConfig:
    """Later configs win, except that tags, metadata and callbacks accumulate."""
    merged: dict[str, Any] = {}
    for config in configs:
        if not config:
            continue
        for key, value in config.items():
            if key == "tags":
                merged["tags"] = list(dict.fromkeys([*merged.get("tags", []), *value]))
            elif key == "metadata":
                merged["metadata"] = {**merged.get("metadata", {}), **value}
            elif key == "callbacks" and merged.get("callbacks") and value:
                merged["callbacks"] = [*as_handlers(merged["callbacks"]), *as_handlers(value)]
            else:
                merged[key] = value
    return cast(RunnableConfig, merged)


def _child_config(config: RunnableConfig, run: RunManager | None) -> RunnableConfig:
    """The config a run's steps receive: without the run's own keys and, when the run was
    started, with the run itself as `callbacks` instead of what its context hands down, so a
    step called from a thread that did not copy the context still finds its parent."""
    if run is not None:
        child = {k: v for k, v in config.items() if k not in _OWN_KEYS and k not in _INHERITED_KEYS}
        child["callbacks"] = run.context
        return cast(RunnableConfig, child)
    if not config or not any(key in config for key in _OWN_KEYS):
        return config
    return cast(RunnableConfig, {k: v for k, v in config.items() if k not in _OWN_KEYS})


def _add(left: Any, right: Any) -> Any:
    """Accumulate streamed chunks: add when they support it, else keep the latest."""
    if left is None:
        return right
    try:
        return left + right
    except TypeError:
        return right


class Runnable(Generic[Input, Output]):
    """The calling convention. Subclasses implement `invoke`."""

    #: The kind of run a call of this runnable records.
    run_type: ClassVar[str] = "chain"

    def get_name(self) -> str:
        """The run name: the `name` given to this runnable, else its class name."""
        return getattr(self, "name", None) or type(self).__name__

    # -- the one method a subclass must write -------------------------------------------------

    def invoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        raise NotImplementedError(f"{type(self).__name__} does not implement invoke")

    # -- derived calls ------------------------------------------------------------------------

    async def ainvoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        """Run `invoke` in a worker thread, in a copy of this task's context."""
        call = functools.partial(contextvars.copy_context().run, self.invoke, input, config, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def stream(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Output]:
        yield self.invoke(input, config, **kwargs)

    async def astream(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Output]:
        yield await self.ainvoke(input, config, **kwargs)

    def transform(self, inputs: Iterator[Input], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Output]:
        """Stream from a stream of input chunks: by default, wait for the whole input."""
        yield from self.stream(cast(Input, _sum(list(inputs))), config, **kwargs)

    async def atransform(self, inputs: AsyncIterator[Input], config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Output]:
        async for chunk in self.astream(cast(Input, _sum([c async for c in inputs])), config, **kwargs):
            yield chunk

    def batch(
        self,
        inputs: Sequence[Input],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Output | Exception]:
        """`invoke` every input on a thread pool (at most `max_concurrency` at once); results
        keep the inputs' order. With `return_exceptions`, a failure is returned in its place."""
        configs = _configs_for(config, len(inputs))
        if not inputs:
            return []

        def one(item: Input, item_config: RunnableConfig) -> Output | Exception:
            try:
                return self.invoke(item, item_config, **kwargs)
            except Exception as exc:
                if return_exceptions:
                    return exc
                raise

        if len(inputs) == 1:
            return [one(inputs[0], configs[0])]
        workers = configs[0].get("max_concurrency") or min(len(inputs), 16)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tracer-batch") as pool:
            futures = [pool.submit(contextvars.copy_context().run, one, item, c) for item, c in zip(inputs, configs)]
            return [future.result() for future in futures]

    async def abatch(
        self,
        inputs: Sequence[Input],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Output | Exception]:
        """`ainvoke` every input as concurrent tasks (at most `max_concurrency` at once)."""
        configs = _configs_for(config, len(inputs))
        if not inputs:
            return []
        limit = configs[0].get("max_concurrency")
        semaphore = asyncio.Semaphore(limit) if limit else None

        async def one(item: Input, item_config: RunnableConfig) -> Output | Exception:
            try:
                if semaphore is None:
                    return await self.ainvoke(item, item_config, **kwargs)
                async with semaphore:
                    return await self.ainvoke(item, item_config, **kwargs)
            except Exception as exc:
                if return_exceptions:
                    return exc
                raise

        return list(await asyncio.gather(*(one(item, c) for item, c in zip(inputs, configs))))

    def astream_log(
        self,
        input: Input,
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
        """Stream this call's progress as JSON-patch ops (see `tracer.log`): the root run's
        output chunks, its final output, and the runs inside it that pass the filters."""
        from ._stream_log import astream_log

        return astream_log(
            self,
            input,
            config,
            include_names=include_names,
            include_types=include_types,
            include_tags=include_tags,
            exclude_names=exclude_names,
            exclude_types=exclude_types,
            exclude_tags=exclude_tags,
            **kwargs,
        )

    # -- composition --------------------------------------------------------------------------

    def __or__(self, other: Any) -> RunnableSequence:
        return RunnableSequence(self, coerce_to_runnable(other))

    def __ror__(self, other: Any) -> RunnableSequence:
        return RunnableSequence(coerce_to_runnable(other), self)

    def pipe(self, *others: Any, name: str | None = None) -> RunnableSequence:
        return RunnableSequence(self, *(coerce_to_runnable(o) for o in others), name=name)

    def with_config(self, config: RunnableConfig | None = None, **options: Any) -> RunnableBinding:
        """This runnable with `config` applied to every call."""
        return RunnableBinding(self, config=merge_configs(config, cast(RunnableConfig, options)))

    def bind(self, **kwargs: Any) -> RunnableBinding:
        """This runnable with keyword arguments added to every call (e.g. `stop=[...]`)."""
        return RunnableBinding(self, kwargs=kwargs)

    # -- running a body as a run --------------------------------------------------------------

    def _start(self, input: Any, config: RunnableConfig) -> RunManager | None:
        return start_run(self.run_type, self.get_name(), input, config=config)

    def _call_with_run(self, body: Callable[[Any, RunnableConfig], T], input: Any, config: RunnableConfig | None) -> T:
        config = ensure_config(config)
        run = self._start(input, config)
        child = _child_config(config, run)
        if run is None:
            return body(input, child)
        output = run.call(body, input, child)
        run.end(output)
        return output

    async def _acall_with_run(self, body: Callable[[Any, RunnableConfig], Awaitable[T]], input: Any, config: RunnableConfig | None) -> T:
        config = ensure_config(config)
        run = self._start(input, config)
        child = _child_config(config, run)
        if run is None:
            return await body(input, child)
        output = await run.acall(body, input, child)
        run.end(output)
        return output

    def _stream_with_run(self, body: Callable[[Any, RunnableConfig], Iterator[T]], input: Any, config: RunnableConfig | None) -> Iterator[T]:
        config = ensure_config(config)
        run = self._start(input, config)
        yield from stream_in_run(run, body(input, _child_config(config, run)), _sum)

    async def _astream_with_run(self, body: Callable[[Any, RunnableConfig], AsyncIterator[T]], input: Any, config: RunnableConfig | None) -> AsyncIterator[T]:
        config = ensure_config(config)
        run = self._start(input, config)
        async for chunk in astream_in_run(run, body(input, _child_config(config, run)), _sum):
            yield chunk

    def _transform_with_run(self, body: Callable[[Iterator[Any], RunnableConfig], Iterator[T]], inputs: Iterator[Any], config: RunnableConfig | None) -> Iterator[T]:
        """Stream `body` over a stream of inputs as one run. Its inputs are known only once
        consumed, so the run starts empty and receives them, summed, with its end.

        The upstream steps are pulled with the *caller's* run current, not this one: they are
        this run's siblings (steps of the same sequence), not its children.
        """
        config = ensure_config(config)
        upstream = iterate_in_context(current_run(), inputs)
        first = next(upstream, _NOTHING)  # start after the steps before this one have
        run = self._start(None, config)
        received: list[Any] = []

        def tee() -> Iterator[Any]:
            if first is _NOTHING:
                return
            received.append(first)
            yield first
            for chunk in upstream:
                received.append(chunk)
                yield chunk

        yield from stream_in_run(run, body(tee(), _child_config(config, run)), _sum, lambda: _sum(received))

    async def _atransform_with_run(self, body: Callable[[AsyncIterator[Any], RunnableConfig], AsyncIterator[T]], inputs: AsyncIterator[Any], config: RunnableConfig | None) -> AsyncIterator[T]:
        config = ensure_config(config)
        upstream = aiterate_in_context(current_run(), inputs)
        first = await anext(upstream, _NOTHING)
        run = self._start(None, config)
        received: list[Any] = []

        async def tee() -> AsyncIterator[Any]:
            if first is _NOTHING:
                return
            received.append(first)
            yield first
            async for chunk in upstream:
                received.append(chunk)
                yield chunk

        async for chunk in astream_in_run(run, body(tee(), _child_config(config, run)), _sum, lambda: _sum(received)):
            yield chunk

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_NOTHING = object()


def _sum(chunks: list[Any]) -> Any:
    """What a stream of chunks adds up to (message chunks in one pass)."""
    if not chunks:
        return None
    if isinstance(chunks[0], BaseMessageChunk) and all(type(c) is type(chunks[0]) for c in chunks):
        return chunks[0] + chunks[1:]
    total = None
    for chunk in chunks:
        total = _add(total, chunk)
    return total


def _configs_for(config: RunnableConfig | Sequence[RunnableConfig] | None, count: int) -> list[RunnableConfig]:
    if isinstance(config, Sequence) and not isinstance(config, Mapping):
        if len(config) != count:
            raise ValueError(f"batch got {len(config)} configs for {count} inputs")
        return [ensure_config(c) for c in config]
    single = ensure_config(cast("RunnableConfig | None", config))
    if count > 1 and "run_id" in single:
        # One run id cannot name several runs: only the first input keeps it.
        rest = cast(RunnableConfig, {k: v for k, v in single.items() if k != "run_id"})
        return [single] + [rest] * (count - 1)
    return [single] * count


class RunnableSequence(Runnable[Any, Any]):
    """Steps run one after the other, each taking the previous one's output."""

    def __init__(self, *steps: Runnable[Any, Any], name: str | None = None) -> None:
        flat: list[Runnable[Any, Any]] = []
        for step in steps:
            flat.extend(step.steps if isinstance(step, RunnableSequence) and not step.name else [step])
        if len(flat) < 2:
            raise ValueError("A RunnableSequence needs at least two steps")
        self.steps = flat
        self.name = name

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        def body(value: Any, child: RunnableConfig) -> Any:
            for step in self.steps:
                value = step.invoke(value, child)
            return value

        return self._call_with_run(body, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async def body(value: Any, child: RunnableConfig) -> Any:
            for step in self.steps:
                value = await step.ainvoke(value, child)
            return value

        return await self._acall_with_run(body, input, config)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        def body(value: Any, child: RunnableConfig) -> Iterator[Any]:
            chunks: Iterator[Any] = iter([value])
            for step in self.steps:
                chunks = step.transform(chunks, child)
            return chunks

        return self._stream_with_run(body, input, config)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        async def first() -> AsyncIterator[Any]:
            yield input

        def body(value: Any, child: RunnableConfig) -> AsyncIterator[Any]:
            chunks: AsyncIterator[Any] = first()
            for step in self.steps:
                chunks = step.atransform(chunks, child)
            return chunks

        async for chunk in self._astream_with_run(body, input, config):
            yield chunk

    def __repr__(self) -> str:
        return "\n| ".join(repr(step) for step in self.steps)


class RunnableParallel(Runnable[Any, dict[str, Any]]):
    """Runs every branch on the same input (concurrently) and returns their outputs by key."""

    def __init__(self, steps: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        self.steps = {key: coerce_to_runnable(value) for key, value in {**(steps or {}), **kwargs}.items()}

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        def body(value: Any, child: RunnableConfig) -> dict[str, Any]:
            if len(self.steps) == 1:
                return {key: step.invoke(value, child) for key, step in self.steps.items()}
            with ThreadPoolExecutor(max_workers=len(self.steps), thread_name_prefix="tracer-parallel") as pool:
                futures = {key: pool.submit(contextvars.copy_context().run, step.invoke, value, child) for key, step in self.steps.items()}
                return {key: future.result() for key, future in futures.items()}

        return self._call_with_run(body, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        async def body(value: Any, child: RunnableConfig) -> dict[str, Any]:
            results = await asyncio.gather(*(step.ainvoke(value, child) for step in self.steps.values()))
            return dict(zip(self.steps, results))

        return await self._acall_with_run(body, input, config)

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{key}: {step!r}" for key, step in self.steps.items()) + "}"


class RunnableLambda(Runnable[Any, Any]):
    """A function as a runnable. It may be async, and may take a `config` parameter to
    receive the call's config."""

    def __init__(self, func: Callable[..., Any], afunc: Callable[..., Awaitable[Any]] | None = None, name: str | None = None) -> None:
        if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None)):
            func, afunc = None, func  # type: ignore[assignment]
        self.func = func
        self.afunc = afunc
        named = func or afunc
        self.name = name or getattr(named, "__name__", None)
        if self.name == "<lambda>":
            self.name = "RunnableLambda"
        self._wants_config = "config" in inspect.signature(cast(Callable[..., Any], named)).parameters

    def _args(self, config: RunnableConfig) -> dict[str, Any]:
        return {"config": config} if self._wants_config else {}

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if self.func is None:
            raise TypeError(f"{self.get_name()} is async: call ainvoke, astream or abatch")

        def body(value: Any, child: RunnableConfig) -> Any:
            output = self.func(value, **self._args(child))  # type: ignore[misc]
            return output.invoke(value, child) if isinstance(output, Runnable) else output

        return self._call_with_run(body, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if self.afunc is None:
            return await super().ainvoke(input, config, **kwargs)

        async def body(value: Any, child: RunnableConfig) -> Any:
            output = await self.afunc(value, **self._args(child))  # type: ignore[misc]
            return await output.ainvoke(value, child) if isinstance(output, Runnable) else output

        return await self._acall_with_run(body, input, config)

    def __repr__(self) -> str:
        return f"RunnableLambda({self.get_name()})"


class RunnablePassthrough(Runnable[Any, Any]):
    """Returns its input unchanged (with a run, so it shows in traces)."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_run(lambda value, child: value, input, config)


class RunnableBinding(Runnable[Any, Any]):
    """Another runnable with fixed keyword arguments and config."""

    def __init__(self, bound: Runnable[Any, Any], *, kwargs: dict[str, Any] | None = None, config: RunnableConfig | None = None) -> None:
        self.bound = bound
        self.kwargs = kwargs or {}
        self.config = config or {}
        self.name = getattr(bound, "name", None)

    def get_name(self) -> str:
        return self.bound.get_name()

    @property  # type: ignore[override]
    def run_type(self) -> str:  # type: ignore[override]
        return self.bound.run_type

    def _merge(self, config: RunnableConfig | None) -> RunnableConfig:
        return merge_configs(self.config, config) if self.config else ensure_config(config)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.bound.invoke(input, self._merge(config), **{**self.kwargs, **kwargs})

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self.bound.ainvoke(input, self._merge(config), **{**self.kwargs, **kwargs})

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        return self.bound.stream(input, self._merge(config), **{**self.kwargs, **kwargs})

    def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        return self.bound.astream(input, self._merge(config), **{**self.kwargs, **kwargs})

    def transform(self, inputs: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        return self.bound.transform(inputs, self._merge(config), **{**self.kwargs, **kwargs})

    def atransform(self, inputs: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        return self.bound.atransform(inputs, self._merge(config), **{**self.kwargs, **kwargs})

    def __repr__(self) -> str:
        return f"{self.bound!r}.bind({self.kwargs})" if self.kwargs else repr(self.bound)


def coerce_to_runnable(value: Any) -> Runnable[Any, Any]:
    """A runnable from a runnable, a function, or a dict of them (a `RunnableParallel`)."""
    if isinstance(value, Runnable):
        return value
    if callable(value):
        return RunnableLambda(value)
    if isinstance(value, Mapping):
        return RunnableParallel(value)
    raise TypeError(f"Expected a Runnable, a callable or a dict, got {type(value).__name__}")
