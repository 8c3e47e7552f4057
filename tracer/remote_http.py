"""What remote mode's sender (`tracer.remote`) and client (`tracer.client_remote`) share: one
`httpx.Client` per process, the headers every request carries, and the server's own words
from an error answer.

One client per process keeps connections alive across batches and calls; a forked child must
not share its parent's sockets, so the client is remembered with the pid that made it and a
child makes its own on first use.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import httpx

__all__ = ["http_client", "headers", "server_message", "API_KEY_VARIABLES", "TIMEOUT"]

#: Where the key sent as `x-api-key` comes from (the first wins), named in 401 errors.
API_KEY_VARIABLES = "LANGSMITH_API_KEY or LANGCHAIN_API_KEY"
#: As the official client's background sends: a dead address fails fast, a busy server gets time.
TIMEOUT = httpx.Timeout(10.0, connect=3.0)

_client: tuple[int, httpx.Client] | None = None
_lock = threading.Lock()


def http_client() -> httpx.Client:
    """The process's client (a new one after `fork`)."""
    global _client
    current = _client
    pid = os.getpid()
    if current is None or current[0] != pid:
        with _lock:
            current = _client
            if current is None or current[0] != pid:
                current = _client = (pid, httpx.Client(timeout=TIMEOUT))
    return current[1]


def headers(api_key: str | None) -> dict[str, str]:
    """`x-api-key` when a key is configured (a server on loopback needs none)."""
    base = {"accept": "application/json", "user-agent": "chat-tracer"}
    if api_key:
        base["x-api-key"] = api_key
    return base


def server_message(response: httpx.Response) -> str:
    """The reason a server gave: our API's `{"error": {"message"}}`, LangSmith's `{"detail"}`,
    or the start of the body."""
    text = response.text
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("detail", "message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return text[:300] or response.reason_phrase or "no message"
