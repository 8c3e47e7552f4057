"""The measuring loop every benchmark here shares: interleaved scenarios, medians, one table.

A *scenario* is one way of making one kind of call (our `invoke` with tracing on, LangSmith's
`stream`, a bare function...). Every repeat runs every scenario once, in an order that is
reversed on odd repeats (A B C, C B A, ...), so a machine that drifts for a few seconds weighs
on all of them alike. Before each block the scenario's `prepare` runs untimed: it empties the
tracers' queues, so no block pays for the previous block's backlog unless it says so.

Per block we keep the wall time of every call (the caller's latency, which includes waiting for
the GIL while a background sender holds it) and the CPU time of the caller's thread for the
whole block (the tracer's own work on that thread, without the waits). A call cheaper than a
microsecond is timed as a block instead, since the clock itself costs ~0.05 µs.
"""

from __future__ import annotations

import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Scenario", "Result", "Pair", "run_interleaved", "pair_row", "markdown_table", "environment"]


@dataclass
class Scenario:
    """`call(i)` makes call number i. `prepare()` runs untimed before every block."""

    key: str
    call: Callable[[int], Any]
    prepare: Callable[[], Any] | None = None
    per_call: bool = True  # time each call (gives p99); False: time the block only
    runs_per_call: int = 0  # runs each call records (for the store's check)
    calls: int | None = None  # calls per block; None: the run's default
    before_block: Callable[[], Any] | None = None  # untimed, after prepare (e.g. switch a tracer on)
    after_block: Callable[[], Any] | None = None  # untimed (e.g. switch it off again)


@dataclass
class Result:
    key: str
    means_us: list[float] = field(default_factory=list)  # one per repeat: µs per call
    cpu_us: list[float] = field(default_factory=list)  # one per repeat: caller-thread CPU µs per call
    samples_ns: list[int] = field(default_factory=list)  # every call's wall time (per_call only)
    calls_made: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.means_us)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_us)

    @property
    def p99(self) -> float | None:
        if not self.samples_ns:
            return None
        ordered = sorted(self.samples_ns)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] / 1000


def _block(scenario: Scenario, calls: int, start: int, result: Result) -> None:
    call = scenario.call
    perf = time.perf_counter_ns
    cpu0 = time.thread_time_ns()
    if scenario.per_call:
        samples = [0] * calls
        for j in range(calls):
            t0 = perf()
            call(start + j)
            samples[j] = perf() - t0
        cpu = time.thread_time_ns() - cpu0
        result.samples_ns.extend(samples)
        wall = sum(samples)
    else:
        t0 = perf()
        for j in range(start, start + calls):
            call(j)
        wall = perf() - t0
        cpu = time.thread_time_ns() - cpu0
    result.means_us.append(wall / calls / 1000)
    result.cpu_us.append(cpu / calls / 1000)


def run_interleaved(scenarios: Sequence[Scenario], *, repeats: int, calls: int, warmup: int = 200, log: Callable[[str], None] | None = None) -> dict[str, Result]:
    """Run every scenario `repeats` times, interleaved; returns their results by key."""
    results = {s.key: Result(s.key) for s in scenarios}
    # Each scenario numbers its calls from its own base, so no two share an input (and a cache).
    counters = {s.key: k * 100_000_000 for k, s in enumerate(scenarios)}
    for s in scenarios:  # warm caches, imports, connections and lazily started threads
        if s.prepare:
            s.prepare()
        if s.before_block:
            s.before_block()
        for j in range(min(warmup, s.calls or calls)):
            s.call(counters[s.key] + j)
        if s.after_block:
            s.after_block()
        counters[s.key] += warmup
        results[s.key].calls_made += min(warmup, s.calls or calls)
    for r in range(repeats):
        order = list(scenarios) if r % 2 == 0 else list(reversed(scenarios))
        for s in order:
            n = s.calls or calls
            if s.prepare:
                s.prepare()
            if s.before_block:
                s.before_block()
            gc.collect()
            _block(s, n, counters[s.key], results[s.key])
            if s.after_block:
                s.after_block()
            counters[s.key] += n
            results[s.key].calls_made += n
        if log:
            log(f"repeat {r + 1}/{repeats} done")
    return results


@dataclass
class Pair:
    """One table row: scenario `on` against its baseline `off`."""

    label: str
    sdk: str
    off: str
    on: str
    ours: str | None = None  # the row of ours this one is compared with (its `on` key)


def _paired_added(off: Result, on: Result) -> list[float]:
    return [b - a for a, b in zip(off.means_us, on.means_us)]


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if abs(value) >= 1 else f"{value:.2f}"


def pair_row(pair: Pair, results: dict[str, Result], pairs_by_on: dict[str, Pair]) -> list[str]:
    off, on = results[pair.off], results[pair.on]
    added = _paired_added(off, on)
    added_med = statistics.median(added)
    q = statistics.quantiles(added, n=4) if len(added) >= 2 else [added_med, added_med, added_med]
    cpu_added = statistics.median([b - a for a, b in zip(off.cpu_us, on.cpu_us)])
    ratio = "(ours)"
    if pair.ours is not None:
        ours = pairs_by_on[pair.ours]
        ours_added = statistics.median(_paired_added(results[ours.off], results[ours.on]))
        ratio = f"{added_med / ours_added:,.0f}×" if ours_added > 0 else "—"
    return [
        pair.label,
        pair.sdk,
        _fmt(off.median),
        _fmt(on.median),
        f"**{_fmt(added_med)}** ({_fmt(q[0])}–{_fmt(q[2])})",
        _fmt(cpu_added),
        _fmt(off.p99),
        _fmt(on.p99),
        ratio,
    ]


HEADER = [
    "scenario",
    "SDK / tracing",
    "off µs/call",
    "on µs/call",
    "added µs (IQR)",
    "added caller CPU µs",
    "off p99 µs",
    "on p99 µs",
    "added vs ours",
]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def environment(packages: Sequence[str]) -> str:
    from importlib import metadata

    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    import os
    import sqlite3

    load = "load average %.1f / %.1f / %.1f (1 / 5 / 15 min, at the end)" % os.getloadavg()
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; Python {platform.python_version()} ({sys.implementation.name}); "
        f"{os.cpu_count()} cores, {load}; SQLite {sqlite3.sqlite_version}; " + ", ".join(versions)
    )
