"""WAL checkpoints on a thread of their own, so the writer only appends.

In WAL mode a commit appends pages to the `-wal` file, and a checkpoint later copies them into
the database file. SQLite runs that copy inside whichever commit crosses `wal_autocheckpoint`
pages: measured here, it was about 20 ms of a 1,000-run batch's 45 ms, on the writer's thread
while every traced process waits for the write lock. A PASSIVE checkpoint needs no lock and
runs beside writers, with the GIL released, so a `Checkpointer` does it on a second core after
each write. The writer's own automatic checkpoint stays on, at a high threshold, as a safety
valve in case this thread falls behind (a reader holding an old snapshot can stall any
checkpoint; then the WAL grows until that reader moves on, as with SQLite's default).
"""

from __future__ import annotations

import logging
import os
import threading

from sqlalchemy import Engine

__all__ = ["Checkpointer", "WRITER_AUTOCHECKPOINT_PAGES"]

_log = logging.getLogger(__name__)

#: `wal_autocheckpoint` of writer connections: well above one batch (~2,000 pages of 4 KiB).
WRITER_AUTOCHECKPOINT_PAGES = 16_000


class Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` in the background after writes; one per store."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._wake = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def poke(self) -> None:
        """Note that a write committed: a checkpoint will follow soon (pokes coalesce)."""
        if self._closed:
            return
        if self._thread is None or self._pid != os.getpid():
            self._start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread after its current checkpoint (SQLite checkpoints at the last close)."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _start(self) -> None:
        with self._lock:
            # After a fork the parent's thread does not exist in the child: start another.
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="tracer-store-checkpoint", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One PASSIVE checkpoint: (busy, WAL frames, frames copied), or None if it failed."""
        try:
            # A raw DBAPI connection in autocommit: SQLAlchemy would open a write transaction.
            connection = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    row = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                finally:
                    cursor.close()
            finally:
                connection.close()
        except Exception:  # noqa: BLE001 - a missed checkpoint only delays the next one
            _log.debug("WAL checkpoint failed", exc_info=True)
            return None
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))
