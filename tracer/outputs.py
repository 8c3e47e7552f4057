"""What the legacy `generate` API returns: `LLMResult`, `ChatGeneration`, `RunInfo`.

Shapes and `repr` follow LangChain's, as the seed prints them:
`LLMResult(generations=[[ChatGeneration(text=..., generation_info=..., message=...)]],
llm_output={'token_usage': {...}, 'model_name': ...}, run=[RunInfo(run_id=UUID(...))])`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, SerializeAsAny, model_validator

from .messages import AIMessage, AIMessageChunk, BaseMessage, BaseMessageChunk, add_usage, UsageMetadata

__all__ = ["Generation", "ChatGeneration", "ChatGenerationChunk", "ChatResult", "LLMResult", "RunInfo"]


class _Reprs(BaseModel):
    """Hides the `type` tag from repr: it says what the class name already says."""

    def __repr_args__(self) -> Iterator[tuple[str, Any]]:
        for name, value in super().__repr_args__():
            if name != "type":
                yield name, value

    def __str__(self) -> str:
        return repr(self)


class Generation(_Reprs):
    text: str = ""
    generation_info: dict[str, Any] | None = None
    type: Literal["Generation"] = "Generation"


class ChatGeneration(Generation):
    """One reply of a chat model; `text` mirrors the message's text."""

    text: str = ""
    message: SerializeAsAny[BaseMessage]
    type: Literal["ChatGeneration"] = "ChatGeneration"  # type: ignore[assignment]

    @model_validator(mode="after")
    def _text_from_message(self) -> ChatGeneration:
        if not self.text:
            self.text = self.message.text
        return self


class ChatGenerationChunk(ChatGeneration):
    message: SerializeAsAny[BaseMessageChunk]
    type: Literal["ChatGenerationChunk"] = "ChatGenerationChunk"  # type: ignore[assignment]

    def __add__(self, other: ChatGenerationChunk) -> ChatGenerationChunk:
        info = None
        if self.generation_info or other.generation_info:
            info = {**(self.generation_info or {}), **(other.generation_info or {})}
        return ChatGenerationChunk(message=self.message + other.message, generation_info=info)


class ChatResult(BaseModel):
    """What one chat model call produces before it is wrapped for the caller."""

    generations: list[SerializeAsAny[ChatGeneration]]
    llm_output: dict[str, Any] | None = None


class RunInfo(_Reprs):
    run_id: UUID


class LLMResult(_Reprs):
    """The result of `generate`: one list of generations per input, the provider's summary
    (`token_usage`, `model_name`), and the id of each input's run."""

    generations: list[list[SerializeAsAny[Generation]]]
    llm_output: dict[str, Any] | None = None
    run: list[RunInfo] | None = None
    type: Literal["LLMResult"] = "LLMResult"

    def usage(self) -> UsageMetadata | None:
        """Token counts summed over every generated message."""
        total: UsageMetadata | None = None
        for generations in self.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                if isinstance(message, (AIMessage, AIMessageChunk)):
                    total = add_usage(total, message.usage_metadata)
        return total
