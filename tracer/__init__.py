"""chat-tracer: local-first tracing for chat-model applications.

Set `LANGCHAIN_TRACING_V2=true` (or use `tracing_enabled()`), run the program, and every chat
model call, runnable and `traceable` function is recorded in a local SQLite store.
"""

from .config import Settings, configure, get_settings
from .client import Client
from .tracing import RunHandle, Tracer, flush, trace, traceable, tracing_enabled

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
