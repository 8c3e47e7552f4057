"""How long a server asks a client to wait before retrying: one reading of its headers for the
chat-model providers and for remote mode's sender. Imports nothing heavy (no asyncio): the
sender may first need it while the interpreter exits."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

__all__ = ["retry_after"]


def retry_after(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, or `Retry-After` in seconds or as an HTTP date; None when absent or
    unreadable. Never negative."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
