"""Output parsers: the last step of most chains. `StrOutputParser` turns a model's message
into its text, and streams: each chunk's text passes through as it arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

from .messages import BaseMessage
from .runnables import Runnable, RunnableConfig

__all__ = ["StrOutputParser"]


def _text(value: Any) -> str:
    return value.text if isinstance(value, BaseMessage) else str(value)


class StrOutputParser(Runnable[Any, str]):
    """A message (or any value) to its text."""

    run_type: ClassVar[str] = "parser"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return self._call_with_run(lambda value, _: _text(value), input, config)

    def transform(self, inputs: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str]:
        return self._transform_with_run(lambda chunks, _: (_text(chunk) for chunk in chunks), inputs, config)

    def atransform(self, inputs: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[str]:
        async def texts(chunks: AsyncIterator[Any], _: RunnableConfig) -> AsyncIterator[str]:
            async for chunk in chunks:
                yield _text(chunk)

        return self._atransform_with_run(texts, inputs, config)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str]:
        return self.transform(iter([input]), config)

    def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[str]:
        async def one() -> AsyncIterator[Any]:
            yield input

        return self.atransform(one(), config)
