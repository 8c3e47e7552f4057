"""`ChatFireworks`: Fireworks AI's OpenAI-compatible chat completions
(`https://api.fireworks.ai/inference/v1`). Same requests and answers as `ChatOpenAI`,
including `stream_options.include_usage` for usage at the end of streams."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr

from .openai import ChatOpenAI

__all__ = ["ChatFireworks"]


class ChatFireworks(ChatOpenAI):
    """Models served by Fireworks (`model="accounts/fireworks/models/mixtral-8x7b-instruct"` by
    default). The key comes from `api_key=` (or `fireworks_api_key=`) or `FIREWORKS_API_KEY`."""

    model_name: str = Field(default="accounts/fireworks/models/mixtral-8x7b-instruct", alias="model")
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("api_key", "fireworks_api_key"))

    provider: ClassVar[str] = "fireworks"
    default_base_url: ClassVar[str] = "https://api.fireworks.ai/inference/v1"
    api_key_env: ClassVar[tuple[str, ...]] = ("FIREWORKS_API_KEY",)
    organization_env: ClassVar[tuple[str, ...]] = ()
    base_url_env: ClassVar[tuple[str, ...]] = ()
