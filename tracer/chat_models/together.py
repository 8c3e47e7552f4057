"""`ChatTogether`: Together AI's OpenAI-compatible chat completions
(`https://api.together.xyz/v1`). Same requests and answers as `ChatOpenAI`; the key may be
given as `together_api_key=`, as in Together's own examples."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr

from .openai import ChatOpenAI

__all__ = ["ChatTogether"]


class ChatTogether(ChatOpenAI):
    """Models served by Together (`model="mistralai/Mixtral-8x7B-Instruct-v0.1"` by default).
    The key comes from `api_key=` (or `together_api_key=`) or `TOGETHER_API_KEY`."""

    model_name: str = Field(default="mistralai/Mixtral-8x7B-Instruct-v0.1", alias="model")
    api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("api_key", "together_api_key"))

    provider: ClassVar[str] = "together"
    default_base_url: ClassVar[str] = "https://api.together.xyz/v1"
    api_key_env: ClassVar[tuple[str, ...]] = ("TOGETHER_API_KEY",)
    organization_env: ClassVar[tuple[str, ...]] = ()
    base_url_env: ClassVar[tuple[str, ...]] = ()
