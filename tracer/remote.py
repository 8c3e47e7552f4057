"""Remote mode's sink: the background writer's runs sent to a LangSmith-compatible server.

With `LANGCHAIN_ENDPOINT` set, the writer (`tracer._writer`, the same thread, queue and flush
as local mode) hands its changes to a `RemoteSink` instead of the store. Everything here runs
on the writer thread, so nothing needs a lock and the caller never waits for the network.

- **Buffer.** Each change becomes an `Op` (`remote_wire`), serialized once, kept in a buffer
  keyed by run id until the server acknowledges it (a newer op of an unsent run replaces it).
  The buffer is bounded in bytes and runs: what does not fit is dropped, counted, and warned
  about once; the totals go into the writer's report at exit.
- **Sending.** Batches of at most `/info`'s `size_limit` ops and `size_limit_bytes`, as
  `multipart/form-data` to `/runs/multipart`, zstd-compressed when `/info` says the server takes
  it; `/runs/batch` JSON when the server has no multipart endpoint (or answers 404 there).
- **Failures.** A connection error, a timeout, 408, 425, 429 or 5xx keeps the batch and retries
  it with exponential backoff and jitter (or the server's `Retry-After`). An unreachable server
  costs only buffer space: its batches wait for it. A server that answers with an error is
  given `MAX_ATTEMPTS` tries per batch, then the batch is dropped and counted, so one poisoned
  batch cannot hold up the rest. Any other 4xx is not retried: the batch is dropped, counted,
  and the server's message logged once (401/403 name the API-key variables). 409 means the
  server already has the runs.
- **Flush.** `flush(deadline)` (the writer's flush marker) sends everything buffered, waiting
  out backoffs until `deadline`; it is True only when the server acknowledged all of it and
  nothing was lost since the previous flush.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence

import httpx

from ._retry import retry_after
from .remote_http import API_KEY_VARIABLES, headers, http_client, server_message
from .remote_wire import BOUNDARY, Op, ServerInfo, batch_body, encode, merged, multipart_body
from .store.changes import RunChange

__all__ = ["RemoteSink", "MAX_ATTEMPTS"]

_log = logging.getLogger("tracer")

#: Tries per batch while the server answers with an error (a dead connection does not count);
#: also the most failed tries one flush makes before it gives up (keeping the runs buffered).
MAX_ATTEMPTS = 6
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 10.0
_MAX_RETRY_AFTER = 60.0
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: How long `close` (end of the writer) keeps trying to deliver what is buffered.
_CLOSE_SECONDS = 5.0


class _Retry(Exception):
    """The batch is worth another try, after `delay` seconds (None: backoff)."""

    def __init__(self, reason: str, *, delay: float | None = None, answered: bool = False) -> None:
        super().__init__(reason)
        self.delay = delay
        #: The server answered (with an error status), as opposed to not being reached.
        self.answered = answered


class _Refused(Exception):
    """The server will not take the batch as it is: drop it."""


class RemoteSink:
    """Sends run changes to `endpoint`; see the module docstring for the policy."""

    def __init__(self, endpoint: str, api_key: str | None = None, *, max_buffer_bytes: int = 64 * 1024 * 1024, max_buffer_runs: int = 50_000) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._headers = headers(api_key)
        self._max_bytes = max_buffer_bytes
        self._max_runs = max_buffer_runs
        self._info: ServerInfo | None = None
        self._pending: dict[str, Op] = {}
        self._pending_bytes = 0
        self._batch: list[Op] | None = None
        self._batch_bytes = 0
        #: Answered failures of the current batch; failures in a row (for the backoff).
        self._attempt = 0
        self._streak = 0
        self._retry_at = 0.0
        self._lost_since_flush = False
        self._warned: set[str] = set()
        #: Runs dropped because the buffer was full.
        self.overflow_runs = 0
        #: Runs the server refused (4xx), or kept failing on until the tries ran out.
        self.refused_runs = 0
        #: Runs that could not be converted to the wire format.
        self.faulty_runs = 0
        #: Requests the server acknowledged.
        self.requests = 0

    # -- the writer's side ------------------------------------------------------------------------

    def write(self, changes: Sequence[RunChange]) -> None:
        """Buffer the changes, then send what is due (never waits out a backoff)."""
        for change in changes:
            try:
                op = encode(change)
            except Exception as exc:  # a document that cannot be converted: lose that run only
                self.faulty_runs += 1
                self._lost_since_flush = True
                self._warn("encode", f"chat-tracer: could not convert a run for {self.endpoint} ({exc!r}); such runs are counted.")
                continue
            if op is not None:
                self._buffer(op)
        self._pump(deadline=None, flushing=False)

    def tick(self) -> None:
        """Called by the writer on every wake: retry a waiting batch once its backoff is over."""
        if self._batch is not None or self._pending:
            self._pump(deadline=None, flushing=False)

    def flush(self, deadline: float | None) -> bool:
        """Send everything buffered; True when all of it (and all since the last flush) was
        acknowledged. Gives up at `deadline` (monotonic) or after `MAX_ATTEMPTS` failed tries."""
        delivered = self._pump(deadline, flushing=True)
        ok = delivered and not self._lost_since_flush
        self._lost_since_flush = False
        return ok

    def close(self) -> None:
        self._pump(time.monotonic() + _CLOSE_SECONDS, flushing=True)

    @property
    def buffered_runs(self) -> int:
        return len(self._pending) + len(self._batch or ())

    @property
    def buffered_bytes(self) -> int:
        return self._pending_bytes + self._batch_bytes

    def losses(self) -> list[str]:
        """Phrases for the writer's report: what never reached the server."""
        parts = []
        if self.overflow_runs:
            parts.append(f"{self.overflow_runs} run changes dropped because the send buffer for {self.endpoint} was full")
        if self.refused_runs:
            parts.append(f"{self.refused_runs} run changes refused by {self.endpoint} or failed after {MAX_ATTEMPTS} tries")
        if self.faulty_runs:
            parts.append(f"{self.faulty_runs} run changes that could not be converted for {self.endpoint}")
        if self.buffered_runs:
            parts.append(f"{self.buffered_runs} run changes not yet delivered to {self.endpoint}")
        return parts

    # -- the buffer -------------------------------------------------------------------------------

    def _buffer(self, op: Op) -> None:
        previous = self._pending.get(op.run_id)
        if previous is not None:
            op = merged(previous, op)
            self._pending_bytes -= previous.size
        elif self.buffered_runs >= self._max_runs or self.buffered_bytes + op.size > self._max_bytes:
            self._overflow()
            return
        self._pending[op.run_id] = op
        self._pending_bytes += op.size

    def _overflow(self) -> None:
        self.overflow_runs += 1
        self._lost_since_flush = True
        self._warn("overflow", f"chat-tracer: the send buffer for {self.endpoint} is full ({self._max_bytes // 1024 // 1024} MB or {self._max_runs} runs) while the server is slow or unreachable; new runs are dropped and counted.")

    def _next_batch(self, info: ServerInfo) -> None:
        """Move the oldest buffered ops into the batch, within the server's limits."""
        batch: list[Op] = []
        size = 0
        for op in self._pending.values():
            if batch and (len(batch) >= info.size_limit or size + op.size > info.size_limit_bytes):
                break
            batch.append(op)
            size += op.size
        for op in batch:
            del self._pending[op.run_id]
        self._pending_bytes -= size
        self._batch, self._batch_bytes = batch, size

    def _done(self) -> None:
        self._batch, self._batch_bytes, self._attempt = None, 0, 0

    # -- sending ----------------------------------------------------------------------------------

    def _pump(self, deadline: float | None, *, flushing: bool) -> bool:
        """Send batches until the buffer is empty (True), or a failure must wait (False)."""
        failures = 0
        while True:
            now = time.monotonic()
            if now < self._retry_at:
                if not flushing or (deadline is not None and self._retry_at > deadline):
                    return False
                time.sleep(self._retry_at - now)
            try:
                info = self._server_info()
                if self._batch is None:
                    if not self._pending:
                        return True
                    self._next_batch(info)
                self._send(info, self._batch or [])
            except _Retry as retry:
                failures += 1
                self._back_off(retry)
                if flushing and failures >= MAX_ATTEMPTS:
                    return False
                continue
            except _Refused as refused:
                self._drop(str(refused))
            else:
                self.requests += 1
                self._streak = 0
                self._retry_at = 0.0
            self._done()

    def _back_off(self, retry: _Retry) -> None:
        """Count an answered failure against the batch (dropping it at `MAX_ATTEMPTS`), and
        set when to try again: the server's `Retry-After`, else exponential with jitter."""
        if retry.answered:
            self._attempt += 1
            if self._attempt >= MAX_ATTEMPTS and self._batch is not None:
                self._drop(f"{retry}; {MAX_ATTEMPTS} tries")
                self._done()
        else:
            self._warn("unreachable", f"chat-tracer: cannot reach {self.endpoint} ({retry}); runs are kept (up to {self._max_bytes // 1024 // 1024} MB) and sent when it answers.")
        delay = retry.delay
        if delay is None or delay > _MAX_RETRY_AFTER:
            delay = min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** min(self._streak, 16)) * random.uniform(0.5, 1.0)
        self._streak += 1
        self._retry_at = time.monotonic() + delay

    def _drop(self, reason: str) -> None:
        lost = len(self._batch or ())
        self.refused_runs += lost
        self._lost_since_flush = True
        self._warn("refused", f"chat-tracer: {self.endpoint} did not take {lost} runs ({reason}); such losses are counted and reported at exit.")

    def _server_info(self) -> ServerInfo:
        """`/info`, fetched once it answers; a server without one gets the defaults."""
        if self._info is None:
            response = self._request("GET", "/info")
            if response.status_code in _RETRY_STATUSES:
                self._check(response, "/info")
            try:
                body = response.json() if response.is_success else None
            except ValueError:
                body = None
            # No /info (404), or one that cannot be read: the official client's defaults.
            self._info = ServerInfo.read(body)
        return self._info

    def _send(self, info: ServerInfo, batch: list[Op]) -> None:
        if info.multipart:
            body = multipart_body(batch)
            extra = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
            if info.zstd:
                body = _zstd(body)
                extra["content-encoding"] = "zstd"
            response = self._request("POST", "/runs/multipart", body, extra)
            if response.status_code != 404:
                self._check(response, "/runs/multipart")
                return
            self._info = ServerInfo(False, info.zstd, info.size_limit, info.size_limit_bytes)
        response = self._request("POST", "/runs/batch", batch_body(batch), {"content-type": "application/json"})
        self._check(response, "/runs/batch")

    def _request(self, method: str, path: str, body: bytes | None = None, extra: dict[str, str] | None = None) -> httpx.Response:
        try:
            return http_client().request(method, self.endpoint + path, content=body, headers={**self._headers, **(extra or {})})
        except httpx.TransportError as exc:
            raise _Retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc

    def _check(self, response: httpx.Response, path: str) -> None:
        """Nothing for a 2xx or 409; `_Retry` or `_Refused` otherwise."""
        status = response.status_code
        if response.is_success or status == 409:
            return
        message = f"{path} answered {status}: {server_message(response)}"
        if status in _RETRY_STATUSES:
            raise _Retry(message, delay=retry_after(response.headers), answered=True)
        if status in (401, 403):
            message += f"; set {API_KEY_VARIABLES} to the server's key"
        raise _Refused(message)

    def _warn(self, cause: str, message: str) -> None:
        if cause not in self._warned:
            self._warned.add(cause)
            _log.warning(message)


def _zstd(body: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=1).compress(body)
