"""The ingestion queue: accepted requests wait here for one worker thread to store them.

A request is validated whole before it is queued, so what waits here is known to be good; the
request is answered 202 at once, and a slow store never makes the client time out (its read
timeout is 10 s). The worker takes every waiting batch (up to `batch_ops` ops), in arrival
order, and applies them together: one store transaction for many requests. Order is kept:
batches in the order they were accepted, and within one, its ops in their order.

The queue is bounded by the bytes waiting: a batch that does not fit is refused
(`submit` returns False; the endpoint answers 429 with Retry-After, and the client retries),
never dropped. A batch the store refuses is retried alone, so one bad request cannot sink the
others; if it still fails it is logged with its run ids and counted in `failed`.

`drain()` waits until everything accepted before the call is applied (tests, shutdown);
`close()` drains, then stops the worker.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Apply", "Batch", "IngestQueue"]

log = logging.getLogger("viewer.langsmith")

@dataclass(slots=True)
class Batch:
    """What one request asks the store to do, in order."""

    runs: list[dict[str, Any]] = field(default_factory=list)  # post/patch ops, mapped (`to_doc`)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # attachments: (sha256, content)
    size: int = 0  # bytes of the body it came from: what it weighs in the queue

    def __len__(self) -> int:
        return len(self.runs) + len(self.feedback) + len(self.files)


Apply = Callable[[Sequence[Batch]], None]


class IngestQueue:
    """Batches applied by one daemon thread, started on the first `submit`."""

    def __init__(
        self,
        apply: Apply,
        *,
        max_bytes: int,
        batch_ops: int = 5_000,
        name: str = "langsmith-ingest",
    ) -> None:
        self._apply = apply
        self._max_bytes = max_bytes
        self._batch_ops = batch_ops
        self._name = name
        self._waiting: deque[Batch] = deque()
        self._bytes = 0
        self._accepted = 0  # batches accepted so far
        self._done = 0  # batches applied (or failed) so far
        self._closed = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.failed = 0  # batches the store refused, after a retry alone

    def submit(self, batch: Batch) -> bool:
        """Queue `batch`; False when it does not fit now (an empty queue takes any batch) or the
        queue is closed (the server is stopping: the client retries, maybe on its successor)."""
        with self._cond:
            if self._closed or (self._waiting and self._bytes + batch.size > self._max_bytes):
                return False
            self._waiting.append(batch)
            self._bytes += batch.size
            self._accepted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return True

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every batch accepted before this call is applied; False on timeout."""
        with self._cond:
            target = self._accepted
            return self._cond.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Drain, then stop the worker; later submits are refused. False if the drain timed out."""
        drained = self.drain(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        return drained

    @property
    def waiting_bytes(self) -> int:
        return self._bytes

    # -- the worker -----------------------------------------------------------------------------

    def _take(self) -> list[Batch] | None:
        """The next batches to apply (None once closed and empty)."""
        with self._cond:
            self._cond.wait_for(lambda: self._waiting or self._closed)
            taken: list[Batch] = []
            ops = 0
            while self._waiting and (not taken or ops + len(self._waiting[0]) <= self._batch_ops):
                batch = self._waiting.popleft()
                taken.append(batch)
                ops += len(batch)
            return taken or None

    def _finish(self, taken: list[Batch]) -> None:
        with self._cond:
            self._bytes -= sum(batch.size for batch in taken)
            self._done += len(taken)
            self._cond.notify_all()

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            try:
                self._apply_all(taken)
            finally:
                self._finish(taken)

    def _apply_all(self, taken: list[Batch]) -> None:
        try:
            self._apply(taken)
            return
        except Exception:
            if len(taken) == 1:
                self._give_up(taken[0])
                return
            log.warning("Storing %d ingestion requests together failed; storing them one by one", len(taken), exc_info=True)
        for batch in taken:
            try:
                self._apply([batch])
            except Exception:
                self._give_up(batch)

    def _give_up(self, batch: Batch) -> None:
        self.failed += 1
        ids = sorted({str(run.get("id")) for run in batch.runs})
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        log.exception(
            "Could not store an accepted ingestion request (%d run ops, %d feedback, %d attachments; runs %s)",
            len(batch.runs), len(batch.feedback), len(batch.files), shown,
        )
