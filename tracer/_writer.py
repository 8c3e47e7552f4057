"""The background writer: the only code that touches storage, on its own thread.

The caller's thread pays for one `deque.append` per event. The writer wakes every
`interval` seconds (or sooner when a batch's worth is waiting), turns the waiting events
into run documents (`RunBuilder`) and hands the store one transaction per batch.

The queue is bounded. When it is full, new events are dropped, counted, and reported: once
when it first happens (a warning on the `tracer` logger) and again at exit with the totals.
A failed write is counted and reported the same way. Nothing is lost silently, and nothing
here raises into the user's code.

`flush()` puts a marker in the queue and waits until the writer has passed it, so everything
submitted before the call is stored when it returns. Exit flushes every writer.

A sink that buffers (remote mode's `tracer.remote.RemoteSink`) may also define `tick()`, called
on every wake so it can retry what it holds; `flush(deadline)`, called at each flush marker,
whose answer the marker carries back (delivered or not); and `losses()`, phrases for the report.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ._rundoc import RunBuilder
from .store.changes import RunChange

__all__ = ["Writer", "Sink", "writer_for", "flush_all", "close_all", "all_writers"]

_log = logging.getLogger("tracer")


class Sink(Protocol):
    def write(self, changes: Sequence[RunChange]) -> None: ...


class _Marker:
    """A flush request: set once every event queued before it is written; `ok` says whether
    the sink delivered it all (by `deadline`, monotonic)."""

    __slots__ = ("done", "deadline", "ok")

    def __init__(self, deadline: float | None) -> None:
        self.done = threading.Event()
        self.deadline = deadline
        self.ok = True


class Writer:
    """Batches events from any thread into a sink, on one daemon thread."""

    def __init__(
        self,
        open_sink: Callable[[], Sink],
        *,
        name: str = "store",
        max_queue: int = 500_000,
        batch_size: int = 2_000,
        interval: float = 0.1,
    ) -> None:
        self._open_sink = open_sink
        self._sink: Sink | None = None
        self._queue: deque[Any] = deque()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._interval = interval
        self._wake = threading.Event()
        self._kicked = False
        self._builder = RunBuilder()
        self.name = name
        #: Events refused because the queue was full.
        self.dropped_events = 0
        #: Runs whose batch could not be written.
        self.failed_runs = 0
        #: Events the builder could not turn into a document.
        self.faulty_events = 0
        self._warned: set[str] = set()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=f"tracer-writer-{name}", daemon=True)
        self._thread.start()

    # -- the caller's side ----------------------------------------------------------------------

    def submit(self, event: Any) -> None:
        """Queue one event. Costs an append; never blocks, never raises."""
        queue = self._queue
        waiting = len(queue)
        if waiting >= self._max_queue:
            self.dropped_events += 1
            self._warn("queue", f"chat-tracer: the trace queue is full ({self._max_queue} events); events are being dropped and counted.")
            return
        queue.append(event)
        if waiting >= self._batch_size and not self._kicked:
            self._kicked = True
            self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is written (delivered, for a sink that
        buffers). False if `timeout` ran out or the sink could not deliver it all."""
        if not self._thread.is_alive():
            return False
        marker = _Marker(None if timeout is None else time.monotonic() + timeout)
        self._queue.append(marker)
        self._wake.set()
        return marker.done.wait(timeout) and marker.ok

    @property
    def alive(self) -> bool:
        """False once closed: a new writer must take over its destination."""
        return not self._closing

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- the writer thread ----------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued, stop the thread and close the sink. False on timeout."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._kicked = False
            try:
                self._drain()
                tick = getattr(self._sink, "tick", None)
                if tick is not None:
                    tick()
            except Exception as exc:  # a bug here must not kill the thread
                self._warn("loop", f"chat-tracer: the trace writer hit an unexpected error: {exc!r}")
            if self._closing:
                break
        close = getattr(self._sink, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                self._warn("close", f"chat-tracer: could not close the {self.name}: {exc!r}")

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            events: list[Any] = []
            markers: list[_Marker] = []
            while queue and len(events) < self._batch_size:
                item = queue.popleft()
                if type(item) is _Marker:
                    markers.append(item)
                    break
                events.append(item)
            if events:
                self._write(events)
            for marker in markers:
                marker.ok = self._settle(marker.deadline)
                marker.done.set()

    def _write(self, events: list[Any]) -> None:
        builder = self._builder
        for event in events:
            try:
                builder.apply(event)
            except Exception as exc:
                self.faulty_events += 1
                self._warn("build", f"chat-tracer: could not record a trace event ({exc!r}); such faults are counted.")
        changes = builder.take_changes()
        if not changes:
            return
        try:
            if self._sink is None:
                self._sink = self._open_sink()
            self._sink.write(changes)
        except Exception as exc:
            self.failed_runs += len(changes)
            self._warn("write", f"chat-tracer: could not write runs to the {self.name}: {exc}")

    def _settle(self, deadline: float | None) -> bool:
        """Have a sink that buffers deliver what it holds; True for one that does not."""
        flush = getattr(self._sink, "flush", None)
        if flush is None:
            return True
        try:
            return bool(flush(deadline))
        except Exception as exc:
            self._warn("flush", f"chat-tracer: could not deliver runs to the {self.name}: {exc!r}")
            return False

    def _warn(self, cause: str, message: str) -> None:
        if cause not in self._warned:
            self._warned.add(cause)
            _log.warning(message)

    def losses(self) -> str | None:
        """A sentence about what was not recorded, or None when nothing was lost."""
        parts = []
        if self.dropped_events:
            parts.append(f"{self.dropped_events} events dropped because the queue was full")
        if self.failed_runs:
            parts.append(f"{self.failed_runs} run changes that could not be written")
        if self.faulty_events:
            parts.append(f"{self.faulty_events} events that could not be recorded")
        if self._builder.orphans:
            parts.append(f"{self._builder.orphans} events of runs whose start was lost")
        sink_losses = getattr(self._sink, "losses", None)
        if sink_losses is not None:
            parts.extend(sink_losses())
        return f"chat-tracer ({self.name}): " + "; ".join(parts) + "." if parts else None


_writers: dict[str, Writer] = {}
_lock = threading.Lock()


def writer_for(key: str, open_sink: Callable[[], Sink]) -> Writer:
    """The process's writer for one destination (a store URL or an endpoint)."""
    writer = _writers.get(key)
    if writer is None:
        with _lock:
            writer = _writers.get(key)
            if writer is None:
                writer = _writers[key] = Writer(open_sink, name=key)
    return writer


def all_writers() -> list[Writer]:
    return list(_writers.values())


def flush_all(timeout: float | None = None) -> bool:
    """Flush every writer; True if all finished within `timeout` (each)."""
    return all([writer.flush(timeout) for writer in all_writers()])


def close_all(timeout: float | None = None) -> None:
    """Flush and stop every writer (they start again on the next traced run)."""
    with _lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        writer.close(timeout)


def _at_exit() -> None:
    flush_all(timeout=30)
    for writer in all_writers():
        message = writer.losses()
        if message:
            _log.warning(message)


def _forget_after_fork() -> None:
    # A forked child has the parent's queue but not its thread: start afresh.
    _writers.clear()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
