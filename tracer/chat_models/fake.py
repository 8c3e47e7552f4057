"""`FakeChatModel`: an offline, deterministic chat model for demos, tests and benchmarks.

It answers with its `responses` in turn (cycling), or, with none, with a short reply that
quotes the question. It streams the way OpenAI-style servers do: an empty first chunk (the role),
the reply in word-sized pieces, and an empty last chunk carrying the finish reason and the
token usage. Its tokens are the pieces it streams (`tokenize`), so the usage it reports is exact
by its own count: prompt tokens are the pieces of every input message's text.

A response may also be given as a list of strings: those are its chunks, verbatim, to replay a
real provider's token boundaries.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from pydantic import ConfigDict, Field, PrivateAttr

from ..messages import AIMessage, AIMessageChunk, BaseMessage, UsageMetadata
from ..outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from .base import BaseChatModel

__all__ = ["FakeChatModel", "tokenize"]

# A word with the spaces before it, a run of punctuation with the spaces before it, or
# trailing spaces: every character belongs to exactly one piece, so "".join(pieces) == text.
_PIECE = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")


@functools.lru_cache(maxsize=4096)
def tokenize(text: str) -> tuple[str, ...]:
    """The fake model's tokens: word-sized pieces that join back into `text`."""
    return tuple(_PIECE.findall(text))


def _count(messages: Sequence[BaseMessage]) -> int:
    return sum(len(tokenize(m.text)) for m in messages)


class FakeChatModel(BaseChatModel):
    """Offline chat model. `error` (an exception, exception class or message) makes every
    call raise it; `latency` is the pause, in seconds, before each streamed piece (and the
    whole reply's worth for `invoke`)."""

    model_config = ConfigDict(populate_by_name=True)

    responses: list[str | list[str]] | None = None
    latency: float = 0.0
    error: Any = None
    model_name: str = Field(default="fake-chat", alias="model")

    _turn: Iterator[int] = PrivateAttr(default_factory=itertools.count)

    def __init__(self, responses: Sequence[str | list[str]] | None = None, /, **kwargs: Any) -> None:
        if responses is not None:
            kwargs["responses"] = list(responses)
        super().__init__(**kwargs)

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _reply(self, messages: list[BaseMessage]) -> tuple[str, ...]:
        if self.error is not None:
            raise _as_exception(self.error)
        if not self.responses:
            question = next((m.text for m in reversed(messages) if m.type == "human"), "")
            return tokenize(f"This is a fake reply from {self.model_name} to: {question}" if question else "Hello! I am an offline fake chat model.")
        response = self.responses[next(self._turn) % len(self.responses)]
        return tuple(response) if isinstance(response, list) else tokenize(response)

    def _usage(self, messages: list[BaseMessage], pieces: tuple[str, ...]) -> UsageMetadata:
        prompt = _count(messages)
        return {"input_tokens": prompt, "output_tokens": len(pieces), "total_tokens": prompt + len(pieces)}

    def _result(self, messages: list[BaseMessage], pieces: tuple[str, ...]) -> ChatResult:
        usage = self._usage(messages, pieces)
        message = AIMessage(
            content="".join(pieces),
            response_metadata={"finish_reason": "stop", "model_name": self.model_name},
            usage_metadata=usage,
        )
        token_usage = {"prompt_tokens": usage["input_tokens"], "completion_tokens": usage["output_tokens"], "total_tokens": usage["total_tokens"]}
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info={"finish_reason": "stop"})],
            llm_output={"token_usage": token_usage, "model_name": self.model_name},
        )

    def _chunks(self, messages: list[BaseMessage], pieces: tuple[str, ...]) -> Iterator[ChatGenerationChunk]:
        yield ChatGenerationChunk(message=AIMessageChunk(content=""))
        for piece in pieces:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        last = AIMessageChunk(
            content="",
            response_metadata={"finish_reason": "stop", "model_name": self.model_name},
            usage_metadata=self._usage(messages, pieces),
        )
        yield ChatGenerationChunk(message=last, generation_info={"finish_reason": "stop"})

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        pieces = self._reply(messages)
        if self.latency:
            time.sleep(self.latency * len(pieces))
        return self._result(messages, pieces)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        pieces = self._reply(messages)
        if self.latency:
            await asyncio.sleep(self.latency * len(pieces))
        return self._result(messages, pieces)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        pieces = self._reply(messages)
        for chunk in self._chunks(messages, pieces):
            if self.latency and chunk.text:
                time.sleep(self.latency)
            yield chunk

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        pieces = self._reply(messages)
        for chunk in self._chunks(messages, pieces):
            if self.latency and chunk.text:
                await asyncio.sleep(self.latency)
            yield chunk


def _as_exception(error: Any) -> BaseException:
    if isinstance(error, BaseException):
        return error
    if isinstance(error, type) and issubclass(error, BaseException):
        return error("FakeChatModel was told to fail")
    return RuntimeError(str(error))
