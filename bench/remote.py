"""Remote mode: what tracing to a `tracer ui` server costs the caller, and how fast runs arrive.

    python bench/remote.py                 # 11 repeats x 2,000 calls, 3 x 20,000-run deliveries
    python bench/remote.py --quick

The server is `tracer ui` in a child process on 127.0.0.1 (so it never takes the measured
process's GIL), over a fresh SQLite store. Per repeat, interleaved: a block of
`FakeChatModel.invoke` calls with tracing off, then one with remote tracing on (the writer
flushed, i.e. the server acknowledged everything, before each block; it then runs beside the
block as in local mode). "added" is the median of the paired differences. Delivery: K traced
calls, then `tracer.flush()` (True only once the server acknowledged every run), then the
server's ingest queue is waited for by polling its JSON API until all K runs are listed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tracer  # noqa: E402
from tracer.chat_models import FakeChatModel  # noqa: E402

REPLY = "Paris is the capital of France; it has been since the tenth century, give or take a few kings."


def _serve(folder: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tracer.cli", "ui", "--db", f"sqlite:///{folder / 'server.db'}", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/info", timeout=1).is_success:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("tracer ui did not start")


def _block(model: FakeChatModel, calls: int, start: int) -> float:
    """Mean µs per call over one block."""
    began = time.perf_counter()
    for i in range(start, start + calls):
        model.invoke(f"question number {i}?")
    return (time.perf_counter() - began) / calls * 1e6


def _stored(url: str, project: str) -> int:
    found = httpx.get(f"{url}/api/v1/projects/{project}", timeout=30)
    return int(found.json()["run_count"]) if found.is_success else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--port", type=int, default=5077)
    args = parser.parse_args(argv)
    repeats, calls, runs, deliveries = (3, 500, 5_000, 1) if args.quick else (11, 2_000, 20_000, 3)
    folder = Path(tempfile.mkdtemp(prefix="tracer-remote-bench-"))
    url = f"http://127.0.0.1:{args.port}"
    server = _serve(folder, args.port)
    try:
        model = FakeChatModel([REPLY])
        off_settings = tracer.Settings(tracing=False, home=folder)
        on_settings = tracer.Settings(tracing=True, project="bench", endpoint=url, home=folder)
        off, on, added = [], [], []
        counter = 0
        for repeat in range(repeats):
            tracer.configure(on_settings)
            model.invoke("warm up")
            assert tracer.flush(timeout=60)
            tracer.configure(off_settings)
            a = _block(model, calls, counter)
            tracer.configure(on_settings)
            b = _block(model, calls, counter + calls)
            counter += 2 * calls
            assert tracer.flush(timeout=120), "the server did not acknowledge every run"
            off.append(a)
            on.append(b)
            added.append(b - a)
            print(f"[{time.strftime('%H:%M:%S')}] repeat {repeat + 1}/{repeats}: off {a:.1f} µs, on {b:.1f} µs", file=sys.stderr)
        rates = []
        for d in range(deliveries):
            project = f"delivery-{d}"
            tracer.configure(on_settings.with_changes(project=project))
            began = time.perf_counter()
            for i in range(runs):
                model.invoke(f"delivery {d} question {i}?")
            assert tracer.flush(timeout=300)
            acknowledged = time.perf_counter() - began
            while _stored(url, project) < runs:
                time.sleep(0.05)
            rates.append((runs / acknowledged, runs / (time.perf_counter() - began)))
        tracer.configure(off_settings)
    finally:
        server.terminate()
        server.wait(10)
    q1, _, q3 = statistics.quantiles(added, n=4)
    print("| scenario | off µs/call | on µs/call | added µs (IQR) |")
    print("| --- | --- | --- | --- |")
    print(f"| `invoke`, remote mode to `tracer ui` on 127.0.0.1 (writer flushed before each block) | {statistics.median(off):.1f} | {statistics.median(on):.1f} | **{statistics.median(added):.1f}** ({q1:.1f}–{q3:.1f}) |")
    print()
    print("| delivery | runs | runs/s until `flush()` is True (server acknowledged) | runs/s until stored by the server |")
    print("| --- | --- | --- | --- |")
    print(f"| remote mode, calls then flush (median of {deliveries}) | {runs:,} | {statistics.median(r[0] for r in rates):,.0f} | {statistics.median(r[1] for r in rates):,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
