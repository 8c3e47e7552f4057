"""How many runs per second a `tracer ui` server ingests from the official `langsmith` client.

    python bench/ingest.py [--runs 20000] [--senders 4] [--repeats 3] [--input-bytes 600]

The official client, tracing an app, makes about 1,200 runs/s here (shared/peer-benchmark-notes.md),
and on two cores it would take one from the server: so what it sends is recorded, then replayed:

1. Record (untimed). The real client, in zstd multipart mode, sends `--runs` runs (a post when
   each starts, a patch when it ends, each run's prompt and reply different: identical payloads
   compress unrealistically well) to a recording sink on a thread of this process, which keeps
   every request's headers and body as they came.
2. Replay (timed). A `tracer ui` server runs in its own process over a fresh SQLite store; this
   process sends it the recorded requests from `--senders` threads, and the clock stops when
   every run is in the store, finished (a read-only count from an index, every 20 ms).

Each repeat uses a fresh server and store. The figures are runs per second (a run is two ops)
and the server process's CPU time per run (all its threads, from /proc), which other work on a
shared machine blurs far less than the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import logging

import httpx
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import environment  # noqa: E402
from _sink import _INFO as INFO  # noqa: E402  (the stand-in server's complete /info)

_WORDS = "the a model run token trace prompt reply chain tool answer question local store fast batch".split()


# --- 1. record -------------------------------------------------------------------------------


class Recorder:
    """A stand-in LangSmith server that keeps every ingestion request."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == "/info":
            return Response(json.dumps(INFO), mimetype="application/json")(environ, start_response)
        keep = ("Content-Type", "Content-Encoding")
        self.requests.append(({k: request.headers[k] for k in keep if k in request.headers}, request.get_data()))
        return Response("{}", status=202, mimetype="application/json")(environ, start_response)

    def close(self) -> None:
        self._server.shutdown()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)) + f" #{rng.getrandbits(48):x}"


def record(runs: int, input_bytes: int, seed: int = 7) -> list[tuple[dict[str, str], bytes]]:
    """The requests the real client makes for `runs` chat-model runs, in order."""
    import langsmith

    recorder = Recorder()
    client = langsmith.Client(api_url=recorder.url, api_key="bench", auto_batch_tracing=True)
    keep = [client]  # extra references: the client's sender must not retire mid-run (trap 1)
    rng = random.Random(seed)
    start = datetime(2026, 11, 25, tzinfo=timezone.utc)
    words = max(1, input_bytes // 6)
    for i in range(runs):
        run_id = uuid.uuid4()  # the client itself makes UUIDv7s; any UUID is a run id
        begun = start + timedelta(milliseconds=i)
        dotted = begun.strftime("%Y%m%dT%H%M%S%fZ") + str(run_id)
        prompt, reply = _text(rng, words), _text(rng, 12)
        common = {"id": run_id, "trace_id": run_id, "dotted_order": dotted, "project_name": "bench-ingest"}
        client.create_run(
            name="ChatModel",
            run_type="llm",
            inputs={"messages": [[{"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "HumanMessage"], "kwargs": {"content": prompt, "type": "human"}}]]},
            start_time=begun,
            extra={"metadata": {"ls_provider": "fake", "ls_model_name": "fake-chat", "user": f"u{i % 50}"}},
            **common,
        )
        usage = {"input_tokens": len(prompt) // 4, "output_tokens": 12, "total_tokens": len(prompt) // 4 + 12}
        client.update_run(
            run_id,
            outputs={"generations": [[{"text": reply, "type": "ChatGeneration", "message": {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessage"], "kwargs": {"content": reply, "type": "ai", "usage_metadata": usage}}}]], "llm_output": None, "type": "LLMResult"},
            start_time=begun,  # as RunTree.patch sends it: a patch may overtake its post
            end_time=begun + timedelta(milliseconds=40),
            extra={"metadata": {"ls_provider": "fake", "ls_model_name": "fake-chat", "usage_metadata": usage}},
            trace_id=run_id,
            dotted_order=dotted,
        )
    client.flush(timeout=120)
    recorder.close()
    del keep
    return recorder.requests


# --- 2. replay -------------------------------------------------------------------------------


class Server:
    """`tracer ui` over a fresh SQLite store, in its own process."""

    def __init__(self, folder: Path) -> None:
        self.db = folder / "traces.db"
        self._log = open(folder / "server.log", "w")  # what the server says, for a failed run
        env = {**os.environ, "TRACER_HOME": str(folder), "PYTHONUNBUFFERED": "1"}
        tracer = shutil.which("tracer", path=str(Path(sys.executable).parent)) or "tracer"
        self.process = subprocess.Popen(
            [tracer, "ui", "--db", f"sqlite:///{self.db}", "--port", "0"],
            stdout=subprocess.PIPE, stderr=self._log, text=True, env=env,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if " is at " not in line:
            raise RuntimeError(f"tracer ui did not start: {line!r}")
        self.url = line.split(" is at ", 1)[1].split()[0].rstrip("/")

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used so far (user + system, every thread), from
        /proc: on a machine shared with other work, the cost per run that load does not blur."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def finished_runs(self) -> int:
        """Runs with an end (so a latency): read from an index, never the kilobyte-sized rows."""
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT count(*) FROM runs WHERE latency_ms IS NOT NULL").fetchone()[0]
        finally:
            db.close()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self._log.close()


def _wait_for(server: Server, runs: int, patience: float = 30.0) -> None:
    """Until `runs` runs are finished in the store; a stall (a lost run) fails loudly."""
    seen, since = -1, time.perf_counter()
    while (done := server.finished_runs()) < runs:
        if done != seen:
            seen, since = done, time.perf_counter()
        elif time.perf_counter() - since > patience:
            log = (server.db.parent / "server.log").read_text()[-2000:]
            raise RuntimeError(f"the store holds {done} of {runs} runs and has not moved for {patience:.0f} s; the server said:\n{log}")
        time.sleep(0.02)


def replay(requests: list[tuple[dict[str, str], bytes]], runs: int, senders: int) -> tuple[float, int, float | None]:
    """Seconds from the first request sent until all `runs` are stored; the 429s seen; and the
    server's CPU seconds over that time (None without /proc)."""
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder))
        try:
            busy = 0
            with httpx.Client(base_url=server.url + "/langsmith", timeout=30, limits=httpx.Limits(max_connections=senders)) as http:
                http.get("/info").raise_for_status()

                def send(request: tuple[dict[str, str], bytes]) -> int:
                    retries = 0
                    while (answer := http.post("/runs/multipart", headers=request[0], content=request[1])).status_code == 429:
                        retries += 1
                        time.sleep(float(answer.headers.get("Retry-After", "1")))
                    answer.raise_for_status()
                    return retries

                cpu_before = server.cpu_seconds()
                began = time.perf_counter()
                # Each sender takes every k-th request: a run's patch may arrive before its post.
                with ThreadPoolExecutor(senders) as pool:
                    busy = sum(pool.map(lambda k: sum(send(r) for r in requests[k::senders]), range(senders)))
                _wait_for(server, runs)
                elapsed = time.perf_counter() - began
                cpu_after = server.cpu_seconds()
                cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
                return elapsed, busy, cpu
        finally:
            server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--input-bytes", type=int, default=600, help="size of each run's prompt")
    args = parser.parse_args()

    began = time.perf_counter()
    requests = record(args.runs, args.input_bytes)
    recorded = time.perf_counter() - began
    raw = sum(len(body) for _, body in requests)
    zstd = sum(1 for headers, _ in requests if headers.get("Content-Encoding") == "zstd")
    print(f"recorded {len(requests)} requests ({zstd} zstd, {raw / 1e6:.1f} MB sent) for {args.runs} runs in {recorded:.1f} s "
          f"({args.runs / recorded:,.0f} runs/s from the client itself)\n")
    results = [replay(requests, args.runs, args.senders) for _ in range(args.repeats)]
    rates = [args.runs / seconds for seconds, _, _ in results]
    cpus = [cpu for _, _, cpu in results if cpu is not None]
    cpu_per_run = f"{statistics.median(cpus) / args.runs * 1e6:,.0f}" if cpus else "—"
    print("| runs | senders | repeats | runs/s (median) | min | max | server CPU µs/run (median) | 429s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {args.runs:,} | {args.senders} | {args.repeats} | {statistics.median(rates):,.0f} | {min(rates):,.0f} | {max(rates):,.0f} | {cpu_per_run} | {sum(b for _, b, _ in results)} |")
    print()
    print(environment(["langsmith", "zstandard", "flask", "werkzeug", "sqlalchemy"]))


if __name__ == "__main__":
    main()
