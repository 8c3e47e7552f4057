"""What tracing costs the caller, and how fast the writer stores runs. Prints markdown tables.

    python bench/overhead.py                 # ours: 11 repeats x 2,000 calls, 3 x 50,000-run writer runs
    python bench/overhead.py --quick         # a short run (about 20 s)
    python bench/overhead.py --peers         # ours and the peers in one interleaved run (= bench/run.py)

Scenarios, all in one process, interleaved over repeats (see `_harness`):

- `FakeChatModel.invoke`, tracing off / on. "on" starts each block with the writer's queue
  flushed, then the writer runs concurrently with the block (on 2 cores it competes for the
  GIL and a core). "on, writer busy" first queues one block's worth of runs untimed, so the
  writer is still writing a backlog the whole time the block runs. "writer held asleep" keeps
  the writer from running during the block (see `held_writer`): the caller's own cost, with no
  GIL contention, which is what the hot path itself costs.
- A 20-chunk `stream` (an empty first chunk, 18 word chunks, an empty last chunk with the
  usage), consumed whole, off / on.
- A trivial `@traceable` function against the bare function (tracing on, and off).
- The writer: K runs queued while the writer is held asleep, then the time until
  `tracer.flush()` returns (runs/s, the writer alone); and K traced calls with the writer
  running, then flush (end to end). Every run is then counted in the SQLite file.

Every call's prompt is different, as in a real program, so no cache flatters a call.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tracer  # noqa: E402
from tracer import _writer  # noqa: E402
from tracer.chat_models import FakeChatModel  # noqa: E402

from _harness import Pair, Scenario, environment, markdown_table, pair_row, run_interleaved, HEADER  # noqa: E402

REPLY = "Paris is the capital of France; it has been since the tenth century, give or take a few kings."
STREAM_CHUNKS = [" w"] * 18  # + the empty first and last chunks = 20

# Targets from the issue (item 11).
TARGET_INVOKE_ADDED = 25.0
TARGET_TRACEABLE_ADDED = 10.0
TARGET_INVOKE_OFF = 20.0
TARGET_WRITER = 20_000.0

PACKAGES = ["chat-tracer", "pydantic", "pydantic_core", "SQLAlchemy"]


def prompt(i: int) -> str:
    """Call i's prompt: every call of a run asks something new, as a real program's do."""
    return f"Question {i}: what is the capital of France, and why {i % 97} times?"


@dataclass
class Ours:
    """Our SDK's side of the run: settings to switch, the store to count runs in."""

    home: Path
    fills: int = 0  # traced calls made outside timed blocks (backlog fills)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.on = tracer.Settings(tracing=True, project="bench", home=self.home)
        self.off = tracer.Settings(tracing=False, project="bench", home=self.home)
        self.model = FakeChatModel([REPLY])
        self.stream_model = FakeChatModel([STREAM_CHUNKS])
        self._held: held_writer | None = None
        self.trace_on()  # one traced call starts the writer, so it can be held from the first block
        self.model.invoke("start the writer")
        self.flush()
        self.fills += 1
        self.trace_off()

    def hold_writer(self) -> None:
        """Trace with the writer asleep: the block then shows the caller's own cost alone."""
        self.trace_on()
        self._held = held_writer(next(w for w in _writer.all_writers() if w.name == self.on.store_url))
        if not self._held.__enter__():
            self.notes.append("could not hold the writer: the `writer held` rows had it running")

    def release_writer(self) -> None:
        if self._held is not None:
            self._held.__exit__(None, None, None)
            self._held = None

    def trace_on(self) -> None:
        tracer.configure(self.on)

    def trace_off(self) -> None:
        tracer.configure(self.off)

    def flush(self) -> None:
        if not tracer.flush(timeout=120):
            self.notes.append("tracer.flush() timed out (120 s) between blocks")


def _stream_all(model: Any, text: str) -> int:
    n = 0
    for _ in model.stream(text):
        n += 1
    return n


def our_scenarios(ours: Ours, calls: int) -> tuple[list[Scenario], list[Pair]]:
    model, stream_model = ours.model, ours.stream_model
    assert _stream_all(stream_model, "check") == 20, "the stream scenario must have 20 chunks"

    def bare(x: int) -> int:
        return x

    @tracer.traceable
    def traced(x: int) -> int:
        return x

    def fill_backlog() -> None:
        ours.flush()
        ours.trace_on()
        base = 900_000_000 + ours.fills
        for i in range(calls):
            model.invoke(prompt(base + i))
        ours.fills += calls

    invoke = lambda i: model.invoke(prompt(i))  # noqa: E731
    stream = lambda i: _stream_all(stream_model, prompt(i))  # noqa: E731
    fast = calls * 5  # sub-microsecond calls: more of them per block
    scenarios = [
        Scenario("ours.invoke.off", invoke, prepare=ours.flush, before_block=ours.trace_off),
        Scenario("ours.invoke.on", invoke, prepare=ours.flush, before_block=ours.trace_on, runs_per_call=1),
        Scenario("ours.invoke.on_busy", invoke, prepare=fill_backlog, before_block=ours.trace_on, runs_per_call=1),
        Scenario("ours.invoke.on_held", invoke, prepare=ours.flush, before_block=ours.hold_writer, after_block=ours.release_writer, runs_per_call=1),
        Scenario("ours.stream.off", stream, prepare=ours.flush, before_block=ours.trace_off),
        Scenario("ours.stream.on", stream, prepare=ours.flush, before_block=ours.trace_on, runs_per_call=1),
        Scenario("ours.fn.bare", bare, prepare=ours.flush, before_block=ours.trace_on, per_call=False, calls=fast),
        Scenario("ours.fn.traceable_off", traced, prepare=ours.flush, before_block=ours.trace_off, per_call=False, calls=fast),
        Scenario("ours.fn.traceable", traced, prepare=ours.flush, before_block=ours.trace_on, per_call=False, calls=fast, runs_per_call=1),
        Scenario("ours.fn.traceable_held", traced, prepare=ours.flush, before_block=ours.hold_writer, after_block=ours.release_writer, per_call=False, calls=fast, runs_per_call=1),
    ]
    pairs = [
        Pair("`invoke`", "chat-tracer (writer flushed before each block)", "ours.invoke.off", "ours.invoke.on"),
        Pair("`invoke`", f"chat-tracer (writer busy with a {calls:,}-run backlog)", "ours.invoke.off", "ours.invoke.on_busy"),
        Pair("`invoke`", "chat-tracer (writer held asleep: the caller's own cost, no GIL contention)", "ours.invoke.off", "ours.invoke.on_held"),
        Pair("20-chunk `stream`", "chat-tracer", "ours.stream.off", "ours.stream.on"),
        Pair("trivial fn vs `traceable`", "chat-tracer", "ours.fn.bare", "ours.fn.traceable"),
        Pair("trivial fn vs `traceable`", "chat-tracer (writer held asleep)", "ours.fn.bare", "ours.fn.traceable_held"),
        Pair("trivial fn vs `traceable`, tracing off", "chat-tracer", "ours.fn.bare", "ours.fn.traceable_off"),
    ]
    return scenarios, pairs


def count_runs(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


# -- writer throughput ---------------------------------------------------------------------------


@dataclass
class Throughput:
    label: str
    runs: int
    calls_us: list[float] = field(default_factory=list)  # caller µs per traced call
    flush_s: list[float] = field(default_factory=list)  # time from the last call to flush's return
    total_s: list[float] = field(default_factory=list)  # first call to flush's return
    stored: list[int] = field(default_factory=list)  # runs found in the store (or at the sink)
    note: str = ""
    flush_only: bool = True  # the flush drained a backlog queued while the writer was held

    def drain_rate(self) -> float:
        return statistics.median(self.runs / s for s in self.flush_s)

    def end_to_end(self) -> float:
        return statistics.median(self.runs / s for s in self.total_s)


class held_writer:
    """Keep a `Writer` asleep while the caller queues a backlog, then let `flush()` time it alone.

    Measurement tooling only: it sets two of the writer's private knobs (its wake-up interval
    and the backlog that wakes it early) and puts them back before the timed flush. Holding the
    GIL instead does not work: every run id reads `os.urandom`, which releases the GIL.
    """

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.ok = hasattr(writer, "_interval") and hasattr(writer, "_batch_size")

    def __enter__(self) -> bool:
        if self.ok:
            self._saved = (self.writer._interval, self.writer._batch_size)
            self.writer._interval, self.writer._batch_size = 3600.0, 10**12
            time.sleep(0.15)  # let the thread finish its current short wait
            self.writer.flush(timeout=60)  # ... and go back to sleep with the long one
        return self.ok

    def __exit__(self, *exc: Any) -> None:
        if self.ok:
            self.writer._interval, self.writer._batch_size = self._saved


def _our_throughput_once(runs: int, held: bool, result: Throughput) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as home:
        settings = tracer.Settings(tracing=True, project="bench-writer", home=Path(home))
        tracer.configure(settings)
        model = FakeChatModel([REPLY])
        for i in range(20):  # opens the store (and migrates it) outside the timing
            model.invoke(prompt(i))
        if not tracer.flush(timeout=120):
            result.note = "flush timed out during warm-up"
        warm = count_runs(Path(home) / "traces.db")
        import gc

        gc.collect()
        t0 = time.perf_counter()
        if held:
            writer = next(w for w in _writer.all_writers() if w.name == settings.store_url)
            with held_writer(writer) as ok:
                if not ok:
                    result.note = "could not hold the writer: it ran during the calls"
                t0 = time.perf_counter()
                for i in range(runs):
                    model.invoke(prompt(i))
                t1 = time.perf_counter()
        else:
            for i in range(runs):
                model.invoke(prompt(i))
            t1 = time.perf_counter()
        ok = tracer.flush(timeout=600)
        t2 = time.perf_counter()
        if not ok:
            result.note = "tracer.flush() timed out (600 s)"
        result.calls_us.append((t1 - t0) / runs * 1e6)
        result.flush_s.append(t2 - t1)
        result.total_s.append(t2 - t0)
        result.stored.append(count_runs(Path(home) / "traces.db") - warm)
        close_all = getattr(_writer, "close_all", None)
        if close_all is not None:
            close_all(timeout=60)


def our_throughput(runs: int, repeats: int) -> list[Throughput]:
    held = Throughput("chat-tracer, writer alone (runs queued first, then `flush()`)", runs)
    live = Throughput("chat-tracer, end to end (calls with the writer running, then `flush()`)", runs, flush_only=False)
    for _ in range(repeats):
        _our_throughput_once(runs, True, held)
        _our_throughput_once(runs, False, live)
    return [held, live]


THROUGHPUT_HEADER = ["writer", "runs", "caller µs/call", "flush s (after the calls)", "**runs/s, flush only**", "runs/s, calls + flush", "runs stored / made"]


def throughput_rows(items: list[Throughput]) -> list[list[str]]:
    rows = []
    for t in items:
        stored = f"{min(t.stored):,} / {t.runs:,}" if t.stored else "—"
        rows.append(
            [
                t.label + (f" ({t.note})" if t.note else ""),
                f"{t.runs:,}",
                f"{statistics.median(t.calls_us):.1f}",
                f"{statistics.median(t.flush_s):.2f}",
                f"**{t.drain_rate():,.0f}**" if t.flush_only else "—",
                f"{t.end_to_end():,.0f}",
                stored,
            ]
        )
    return rows


# -- the run -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 3 repeats x 500 calls, 10,000 writer runs")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 11; --quick 3)")
    parser.add_argument("--calls", type=int, default=None, help="calls per block (default 2,000; --quick 500)")
    parser.add_argument("--writer-runs", type=int, default=None, help="runs per writer measurement (default 50,000; --quick 10,000)")
    parser.add_argument("--writer-repeats", type=int, default=None, help="writer measurements (default 3; --quick 1)")
    parser.add_argument("--peers", action="store_true", help="also run the peers (langchain-core + LangSmith, OpenInference) interleaved")
    parser.add_argument("--peer-writer-runs", type=int, default=None, help="runs per peer delivery measurement (default 5,000; --quick 1,000)")
    parser.add_argument("--wait-load", type=float, default=None, metavar="X", help="first wait (up to 15 min) until the 1-minute load average is below X")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 11)
    args.calls = args.calls or (500 if args.quick else 2_000)
    args.writer_runs = args.writer_runs or (10_000 if args.quick else 50_000)
    args.writer_repeats = args.writer_repeats or (1 if args.quick else 3)
    args.peer_writer_runs = args.peer_writer_runs or (1_000 if args.quick else 5_000)
    return args


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _both(first: Callable[[], Any], then: Callable[[], Any] | None) -> Callable[[], None]:
    def prepare() -> None:
        first()
        if then is not None:
            then()

    return prepare


def verdicts(results: dict[str, Any], writer_rate: float) -> list[str]:
    def added(off: str, on: str) -> float:
        return statistics.median([b - a for a, b in zip(results[off].means_us, results[on].means_us)])

    def mark(ok: bool) -> str:
        return "met" if ok else "**NOT met**"

    inv = added("ours.invoke.off", "ours.invoke.on")
    busy = added("ours.invoke.off", "ours.invoke.on_busy")
    held = added("ours.invoke.off", "ours.invoke.on_held")
    fn = added("ours.fn.bare", "ours.fn.traceable")
    fn_held = added("ours.fn.bare", "ours.fn.traceable_held")
    off = results["ours.invoke.off"].median
    return [
        f"- tracing adds ≤ {TARGET_INVOKE_ADDED:.0f} µs to an invoke: {inv:.1f} µs with the writer running (busy with a backlog: {busy:.1f} µs; held asleep: {held:.1f} µs) — {mark(inv <= TARGET_INVOKE_ADDED)}",
        f"- tracing adds ≤ {TARGET_TRACEABLE_ADDED:.0f} µs to a `traceable` call: {fn:.1f} µs with the writer running (held asleep: {fn_held:.1f} µs) — {mark(fn <= TARGET_TRACEABLE_ADDED)}",
        f"- `FakeChatModel.invoke` with tracing off ≤ {TARGET_INVOKE_OFF:.0f} µs: {off:.1f} µs — {mark(off <= TARGET_INVOKE_OFF)}",
        f"- the writer sustains ≥ {TARGET_WRITER:,.0f} runs/s: {writer_rate:,.0f} runs/s — {mark(writer_rate >= TARGET_WRITER)}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.wait_load is not None:
        deadline = time.monotonic() + 900
        while os.getloadavg()[0] >= args.wait_load and time.monotonic() < deadline:
            _log(f"waiting for a quiet machine: load average {os.getloadavg()[0]:.2f}")
            time.sleep(15)
    load_start = os.getloadavg()
    peers: Any = None
    if args.peers:
        import peers as peers_module

        peers = peers_module.Peers(args.calls)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as home:
        ours = Ours(Path(home))
        scenarios, pairs = our_scenarios(ours, args.calls)
        if peers is not None:
            peer_scenarios, peer_pairs = peers.scenarios()
            for s in scenarios:  # our blocks too start with every peer's queue delivered
                s.prepare = _both(peers.quiesce, s.prepare)
            for s in peer_scenarios:  # ... and theirs with our queue written
                s.prepare = _both(ours.flush, s.prepare)
            scenarios += peer_scenarios
            pairs += peer_pairs
        _log(f"{len(scenarios)} scenarios, {args.repeats} repeats x {args.calls:,} calls, interleaved")
        try:
            results = run_interleaved(scenarios, repeats=args.repeats, calls=args.calls, log=_log)
        finally:
            if peers is not None:
                peers.stop_tracing()
        ours.trace_off()
        ours.flush()
        expected = ours.fills + sum(results[s.key].calls_made * s.runs_per_call for s in scenarios if s.key.startswith("ours."))
        stored = count_runs(Path(home) / "traces.db")
        losses = [w.losses() for w in _writer.all_writers() if w.losses()]
        _log("per-call scenarios done; measuring the writer")
        throughput = our_throughput(args.writer_runs, args.writer_repeats)
        if peers is not None:
            _log("measuring the peers' delivery")
            throughput += peers.throughput(args.peer_writer_runs)
            _log("stopping the peers")
            peers.close()
    _log("done")

    by_on = {p.on: p for p in pairs}
    print(f"\n### Per-call cost, {args.repeats} interleaved repeats x {args.calls:,} calls (trivial-function rows: x {args.calls * 5:,})\n")
    print(environment(PACKAGES + (peers.PACKAGES if peers is not None else [])) + "\n")
    print(markdown_table(HEADER, [pair_row(p, results, by_on) for p in pairs]))
    print(
        "\nµs/call: median over repeats of each block's mean; added: median of the paired (same repeat) "
        "differences, IQR over repeats; caller CPU: CPU time of the calling thread only (excludes waiting "
        "for the GIL held by background threads); p99: over every call of every repeat."
    )
    print(f"\n### Writer throughput ({args.writer_repeats} x {args.writer_runs:,} `invoke` runs; medians)\n")
    print(markdown_table(THROUGHPUT_HEADER, throughput_rows(throughput)))
    print("\n### Checks\n\n- load average at the start: %.1f / %.1f / %.1f (1 / 5 / 15 min)" % load_start)
    print(f"- runs in the per-call store after the final flush: {stored:,} of {expected:,} traced calls")
    for line in losses + ours.notes + (peers.notes if peers is not None else []):
        print(f"- {line}")
    print("\n### Targets\n")
    print("\n".join(verdicts(results, throughput[0].drain_rate())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
