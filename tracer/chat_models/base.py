"""`BaseChatModel`: the chat-model side of the Runnable interface, plus the legacy API.

A provider writes `_generate` (one conversation in, a `ChatResult` out) and, if it can stream,
`_stream`; async twins are optional (the defaults run the sync ones in a worker thread). This
class turns them into `invoke`/`stream`/`batch`/... and the legacy `__call__`/`generate`, and
makes each conversation one `llm` run: started with the messages and invocation parameters,
told of every streamed token, ended with an `LLMResult`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, ClassVar, cast
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from .._ids import uuid7
from ..callbacks import RunManager, aiterate_in_run, iterate_in_run, start_run
from ..messages import AIMessageChunk, BaseMessage, BaseMessageChunk, convert_to_messages
from ..outputs import ChatGeneration, ChatGenerationChunk, ChatResult, LLMResult, RunInfo
from ..runnables import Runnable, RunnableBinding, RunnableConfig, ensure_config
from ..tools import convert_to_tool

__all__ = ["BaseChatModel", "LanguageModelInput"]

LanguageModelInput = Any  # str | PromptValue | Sequence[message-like]


class BaseChatModel(BaseModel, Runnable[LanguageModelInput, BaseMessage]):
    """A chat model: conversations in, `AIMessage`s out, every call traced as an `llm` run."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", populate_by_name=True, protected_namespaces=())

    name: str | None = None
    #: Handlers for this model's runs only (children of its runs don't inherit them).
    callbacks: Any = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None

    run_type: ClassVar[str] = "llm"

    # -- what a provider implements ------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        """A short tag for the provider (`"openai-chat"`), recorded as `_type`."""
        raise NotImplementedError

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        raise NotImplementedError(f"{type(self).__name__} does not implement _generate")

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        call = functools.partial(contextvars.copy_context().run, self._generate, messages, stop, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        """By default, the sync `_stream`, stepped in a worker thread."""
        iterator = self._stream(messages, stop, **kwargs)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        done = object()
        while True:
            chunk = await loop.run_in_executor(None, context.run, next, iterator, done)
            if chunk is done:
                return
            yield cast(ChatGenerationChunk, chunk)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """The parameters that define this model (name, temperature, ...), for the trace."""
        return {}

    def _combine_llm_outputs(self, outputs: list[dict[str, Any] | None]) -> dict[str, Any]:
        """One `llm_output` for `generate`: token counts summed over its conversations."""
        usage: dict[str, int] = {}
        model_name = None
        for output in outputs:
            if not output:
                continue
            for key, value in (output.get("token_usage") or {}).items():
                if isinstance(value, int):
                    usage[key] = usage.get(key, 0) + value
            model_name = model_name or output.get("model_name")
        combined: dict[str, Any] = {"token_usage": usage}
        if model_name:
            combined["model_name"] = model_name
        return combined

    # -- tracing ------------------------------------------------------------------------------

    @property
    def _streams(self) -> bool:
        return type(self)._stream is not BaseChatModel._stream

    def _run_metadata(self) -> dict[str, Any] | None:
        """Metadata of this model's runs: the user's; providers add who they are."""
        return self.metadata

    def _invocation_params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**self._identifying_params, "_type": self._llm_type, "stop": stop, **kwargs}

    def _start_llm(self, messages: list[BaseMessage], config: RunnableConfig, *, stop: list[str] | None = None, kwargs: dict[str, Any] | None = None, run_id: UUID | None = None) -> RunManager | None:
        """Start the `llm` run of one conversation (None when nobody listens)."""
        return start_run(
            "llm",
            self.get_name(),
            [messages],
            config=config,
            local_callbacks=self.callbacks,
            local_tags=self.tags,
            local_metadata=self._run_metadata(),
            invocation_params=self._invocation_params(stop, kwargs or {}),
            run_id=run_id,
        )

    # -- the Runnable interface ---------------------------------------------------------------

    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, *, stop: list[str] | None = None, **kwargs: Any) -> BaseMessage:
        return self._generate_one(convert_to_messages(input), ensure_config(config), stop, kwargs)[0].message

    async def ainvoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, *, stop: list[str] | None = None, **kwargs: Any) -> BaseMessage:
        return (await self._agenerate_one(convert_to_messages(input), ensure_config(config), stop, kwargs))[0].message

    def stream(self, input: LanguageModelInput, config: RunnableConfig | None = None, *, stop: list[str] | None = None, **kwargs: Any) -> Iterator[BaseMessageChunk]:
        if not self._streams:
            yield cast(BaseMessageChunk, self.invoke(input, config, stop=stop, **kwargs))
            return
        messages = convert_to_messages(input)
        run = self._start_llm(messages, ensure_config(config), stop=stop, kwargs=kwargs)
        chunks: list[ChatGenerationChunk] = []
        try:
            for chunk in iterate_in_run(run, self._stream(messages, stop, **kwargs)):
                if run is not None:
                    run.on_llm_new_token(chunk.text, chunk)
                    chunks.append(chunk)
                yield chunk.message
        except BaseException as exc:
            if run is not None:
                run.error(exc)
            raise
        if run is not None:
            run.end(LLMResult(generations=[[_sum_chunks(chunks)]]))

    async def astream(self, input: LanguageModelInput, config: RunnableConfig | None = None, *, stop: list[str] | None = None, **kwargs: Any) -> AsyncIterator[BaseMessageChunk]:
        if not self._streams:
            yield cast(BaseMessageChunk, await self.ainvoke(input, config, stop=stop, **kwargs))
            return
        messages = convert_to_messages(input)
        run = self._start_llm(messages, ensure_config(config), stop=stop, kwargs=kwargs)
        chunks: list[ChatGenerationChunk] = []
        try:
            async for chunk in aiterate_in_run(run, self._astream(messages, stop, **kwargs)):
                if run is not None:
                    run.on_llm_new_token(chunk.text, chunk)
                    chunks.append(chunk)
                yield chunk.message
        except BaseException as exc:
            if run is not None:
                run.error(exc)
            raise
        if run is not None:
            run.end(LLMResult(generations=[[_sum_chunks(chunks)]]))

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | dict[str, Any] | None = None, **kwargs: Any) -> RunnableBinding:
        """This model with tools to call: functions, pydantic model classes or JSON schemas
        (see `tracer.tools`). `tool_choice`: "auto", "any"/"required", "none", or a tool's
        name. The replies' `tool_calls` say which tool to call with which arguments."""
        bound: dict[str, Any] = {"tools": [convert_to_tool(t) for t in tools], **kwargs}
        if tool_choice is not None:
            bound["tool_choice"] = tool_choice
        return self.bind(**bound)

    # -- the legacy interface -----------------------------------------------------------------

    def __call__(self, messages: Sequence[BaseMessage], stop: list[str] | None = None, callbacks: Any = None, **kwargs: Any) -> BaseMessage:
        """Legacy: one conversation in, the reply out."""
        return self.generate([messages], stop=stop, callbacks=callbacks, **kwargs).generations[0][0].message  # type: ignore[attr-defined]

    def generate(
        self,
        messages: Sequence[Sequence[Any]],
        stop: list[str] | None = None,
        callbacks: Any = None,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Legacy: several conversations, one run each, with richer output (`llm_output`, run ids)."""
        config = _legacy_config(callbacks, tags, metadata, run_name)
        run_ids = [uuid7() for _ in messages]
        results = [self._generate_one(convert_to_messages(m), config, stop, kwargs, run_id) for m, run_id in zip(messages, run_ids)]
        return self._legacy_result(results, run_ids)

    async def agenerate(
        self,
        messages: Sequence[Sequence[Any]],
        stop: list[str] | None = None,
        callbacks: Any = None,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """Legacy, async: the conversations run concurrently."""
        config = _legacy_config(callbacks, tags, metadata, run_name)
        run_ids = [uuid7() for _ in messages]
        results = await asyncio.gather(*(self._agenerate_one(convert_to_messages(m), config, stop, kwargs, run_id) for m, run_id in zip(messages, run_ids)))
        return self._legacy_result(list(results), run_ids)

    def _legacy_result(self, results: list[tuple[ChatGeneration, dict[str, Any] | None]], run_ids: list[UUID]) -> LLMResult:
        return LLMResult(
            generations=[[generation] for generation, _ in results],
            llm_output=self._combine_llm_outputs([output for _, output in results]),
            run=[RunInfo(run_id=run_id) for run_id in run_ids],
        )

    # -- one conversation, as one run -----------------------------------------------------------

    def _generate_one(self, messages: list[BaseMessage], config: RunnableConfig, stop: list[str] | None, kwargs: dict[str, Any], run_id: UUID | None = None) -> tuple[ChatGeneration, dict[str, Any] | None]:
        run = self._start_llm(messages, config, stop=stop, kwargs=kwargs, run_id=run_id)
        if run is None:
            result = self._generate(messages, stop, **kwargs)
            return result.generations[0], result.llm_output
        result = run.call(self._generate, messages, stop, **kwargs)
        run.end(LLMResult(generations=[result.generations], llm_output=result.llm_output))
        return result.generations[0], result.llm_output

    async def _agenerate_one(self, messages: list[BaseMessage], config: RunnableConfig, stop: list[str] | None, kwargs: dict[str, Any], run_id: UUID | None = None) -> tuple[ChatGeneration, dict[str, Any] | None]:
        run = self._start_llm(messages, config, stop=stop, kwargs=kwargs, run_id=run_id)
        if run is None:
            result = await self._agenerate(messages, stop, **kwargs)
            return result.generations[0], result.llm_output
        result = await run.acall(self._agenerate, messages, stop, **kwargs)
        run.end(LLMResult(generations=[result.generations], llm_output=result.llm_output))
        return result.generations[0], result.llm_output

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if value is not None and name not in ("callbacks",):
                yield name, value


def _legacy_config(callbacks: Any, tags: list[str] | None, metadata: dict[str, Any] | None, run_name: str | None) -> RunnableConfig:
    config: dict[str, Any] = {}
    if callbacks:
        config["callbacks"] = callbacks
    if tags:
        config["tags"] = tags
    if metadata:
        config["metadata"] = metadata
    if run_name:
        config["run_name"] = run_name
    return cast(RunnableConfig, config)


def _sum_chunks(chunks: list[ChatGenerationChunk]) -> ChatGenerationChunk:
    """The whole reply a stream's chunks make up, in one pass."""
    if not chunks:
        return ChatGenerationChunk(message=AIMessageChunk(content=""))
    info: dict[str, Any] = {}
    for chunk in chunks:
        if chunk.generation_info:
            info.update(chunk.generation_info)
    return ChatGenerationChunk(message=chunks[0].message + [c.message for c in chunks[1:]], generation_info=info or None)

