"""Runs as LangSmith's ingestion protocol carries them (../shared/langsmith-protocol.md §4, §8).

A `RunChange` from the writer becomes an `Op`: `post` for a run's first change, `patch` for a
later one, each holding the run's whole payload (`tracer.langsmith_wire.wire_payload`) serialized
once, as the parts of `POST /runs/multipart` (`post.<id>` with the scalar fields, then
`post.<id>.inputs|outputs|events|extra|error|serialized`). The same bytes are spliced into the
JSON of `POST /runs/batch` when a server has no multipart endpoint, so nothing is serialized
twice and the buffer's byte count is what goes on the wire.

A run still running after its first change is not patched on every flush (a long stream would
resend its growing event list ten times a second): it is posted when it starts and patched
when it ends, as the official client does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._json import dumps
from .langsmith_wire import wire_payload
from .store.changes import RunChange

__all__ = ["Op", "ServerInfo", "encode", "multipart_body", "batch_body", "BOUNDARY"]

#: Fields sent as parts of their own, after the run's scalar part (§4.2).
SUB_PARTS = ("inputs", "outputs", "events", "extra", "error", "serialized")
#: One boundary per process, as the official client does; 32 hex digits never occur in JSON parts
#: by accident (they are headed by their length anyway).
BOUNDARY = uuid.uuid4().hex


@dataclass(slots=True)
class Op:
    """One run's post or patch, ready to send: (field, JSON bytes) parts, "" the scalar part."""

    kind: str
    run_id: str
    parts: list[tuple[str, bytes]]
    size: int


def encode(change: RunChange) -> Op | None:
    """The op for a change, or None for the update of a run that is still running."""
    first = change.seq == 0
    if not first and change.doc.get("status") == "running":
        return None
    payload = wire_payload(change.doc)
    scalars = {key: value for key, value in payload.items() if key not in SUB_PARTS}
    parts = [("", dumps(scalars).encode())]
    parts.extend((name, dumps(payload[name]).encode()) for name in SUB_PARTS if payload.get(name) is not None)
    return Op("post" if first else "patch", change.run_id, parts, sum(len(data) for _, data in parts))


def merged(pending: Op, newer: Op) -> Op:
    """A newer op of a run whose op is still unsent replaces it: a post stays a post."""
    return Op(pending.kind, newer.run_id, newer.parts, newer.size) if pending.kind != newer.kind else newer


def multipart_body(ops: Sequence[Op]) -> bytes:
    """`multipart/form-data` with `BOUNDARY`, each part headed by its name, type and length."""
    chunks: list[bytes] = []
    for op in ops:
        for field, data in op.parts:
            name = f"{op.kind}.{op.run_id}.{field}" if field else f"{op.kind}.{op.run_id}"
            head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n'
            chunks += (head.encode(), data, b"\r\n")
    chunks.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(chunks)


def batch_body(ops: Sequence[Op]) -> bytes:
    """`{"post": [...], "patch": [...]}`: each run is its scalar object with the sub-parts
    spliced in before its closing brace."""
    lists: dict[str, list[bytes]] = {"post": [], "patch": []}
    for op in ops:
        (_, scalars), *rest = op.parts
        fields = b"".join(b',"' + name.encode() + b'":' + data for name, data in rest)
        lists[op.kind].append(scalars[:-1] + fields + b"}")
    return b"{" + b",".join(b'"' + kind.encode() + b'":[' + b",".join(items) + b"]" for kind, items in lists.items() if items) + b"}"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What `GET /info` says about ingestion (§3.1); the defaults are the official client's."""

    multipart: bool = True
    zstd: bool = False
    size_limit: int = 100
    size_limit_bytes: int = 20 * 1024 * 1024

    @classmethod
    def read(cls, body: Any) -> ServerInfo:
        """From `/info`'s JSON; anything missing or malformed keeps its default."""
        if not isinstance(body, Mapping):
            return cls()
        config = body.get("batch_ingest_config")
        config = config if isinstance(config, Mapping) else {}
        flags = body.get("instance_flags")
        flags = flags if isinstance(flags, Mapping) else {}
        return cls(
            multipart=config.get("use_multipart_endpoint", True) is not False,
            zstd=flags.get("zstd_compression_enabled") is True,
            size_limit=_positive(config.get("size_limit"), cls.size_limit),
            size_limit_bytes=_positive(config.get("size_limit_bytes"), cls.size_limit_bytes),
        )


def _positive(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
