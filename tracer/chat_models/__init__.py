"""Chat models: the base class, the offline fake, and the providers (one module each).

Providers load on first use (`from tracer.chat_models import ChatOpenAI` imports httpx then),
so programs that only use `FakeChatModel` do not pay for them.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import BaseChatModel
from .fake import FakeChatModel

__all__ = [
    "BaseChatModel",
    "FakeChatModel",
    "ChatOpenAI",
    "ChatAnthropic",
    "ChatGoogleGenerativeAI",
    "ChatMistralAI",
    "ChatFireworks",
    "ChatTogether",
    "init_chat_model",
    "provider_class",
    "PROVIDERS",
]

#: Provider name (as in `init_chat_model("openai:gpt-4o-mini")`) -> (module, class).
PROVIDERS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "ChatOpenAI"),
    "anthropic": ("anthropic", "ChatAnthropic"),
    "google": ("google", "ChatGoogleGenerativeAI"),
    "mistral": ("mistral", "ChatMistralAI"),
    "fireworks": ("fireworks", "ChatFireworks"),
    "together": ("together", "ChatTogether"),
}
_BY_CLASS = {cls: module for module, cls in PROVIDERS.values()}


def __getattr__(name: str) -> Any:
    module = _BY_CLASS.get(name)
    if module is None:
        raise AttributeError(f"module 'tracer.chat_models' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def provider_class(provider: str) -> type[BaseChatModel]:
    """The chat model class of a provider name ("fake" included)."""
    if provider == "fake":
        return FakeChatModel
    if provider not in PROVIDERS:
        raise ValueError(f"Unknown provider {provider!r}: choose one of fake, {', '.join(PROVIDERS)}")
    module, cls = PROVIDERS[provider]
    return getattr(importlib.import_module(f".{module}", __name__), cls)  # type: ignore[no-any-return]


def init_chat_model(spec: str, **kwargs: Any) -> BaseChatModel:
    """A chat model from `"provider:model"` (e.g. `"anthropic:claude-3-5-haiku-latest"`), or
    `"provider"` for its default model; keyword arguments go to the class."""
    provider, _, model = spec.partition(":")
    cls = provider_class(provider.strip().lower())
    if model:
        kwargs["model"] = model
    return cls(**kwargs)
