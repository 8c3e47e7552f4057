"""chat-tracer: local-first tracing for chat-model applications.

Set `LANGCHAIN_TRACING_V2=true` (or use `tracing_enabled()`), run the program, and every chat
model call, runnable and `traceable` function is recorded in a local SQLite store.
"""

from typing import TYPE_CHECKING, Any

from .config import Settings, configure, get_settings
from .tracing import RunHandle, Tracer, flush, trace, traceable, tracing_enabled

if TYPE_CHECKING:
    from .client import Client


def __getattr__(name: str) -> Any:
    # The client pulls in the store's queries, filters and migrations: a program that only
    # traces (and has tracing off, often) should not pay for importing them.
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Client",
    "RunHandle",
    "Settings",
    "Tracer",
    "configure",
    "flush",
    "get_settings",
    "trace",
    "traceable",
    "tracing_enabled",
]
