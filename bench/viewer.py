"""How fast the viewer's reads are on a store of a million runs. Prints markdown tables.

    python bench/viewer.py                  # 1,000,000 runs (built once, ~3 min, then cached)
    python bench/viewer.py --rebuild        # build the store again
    python bench/viewer.py --runs 100000    # a smaller store (cached under its own name)
    python bench/viewer.py --write-rate     # only: Store.write on 20,000 FakeChatModel runs

The store is written through `Store.write`, in batches of 5,000 changes, exactly as the
background writer would (same documents, ops, indexes and search index; only the documents
are made by this script instead of by traced calls, which would take an hour). It is cached at
`/tmp/tracer-viewer-bench/runs-<N>.db`. Its shape:

- Four projects (50%, 30%, 15%, 5% of the runs), runs spread over 30 days.
- Documents of 1-2 KB: chat-model runs with a system prompt, a question and a reply of a few
  sentences drawn from a 2,000-word vocabulary (Zipf-distributed, so some words are in most
  runs and most words in few), usage, cost, model, tags; 3% of runs fail with a traceback;
  5% are written in two changes (running, then finished), as a streamed run is.
- 80% single model calls, 10% small traces (a chain and two calls), 10% in deep agent traces
  (depth up to 6), among them one trace of 10,000 runs. 1% of root runs have feedback.

Then each read is timed in this process (server-side, warm cache), 30 times after 3 warm-up
calls, through `tracer.store.browse`; and, when the viewer package is importable, the same
pages through Flask's test client (the whole request: routing, query, template).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tracer.store import RunChange, Store, open_store  # noqa: E402

try:
    from tracer.store import browse
except ImportError:  # a chat-tracer from before the viewer: only --write-rate works (a "before" figure)
    browse = None  # type: ignore[assignment]

CACHE = Path("/tmp/tracer-viewer-bench")
PROJECTS = [("support-bot", 0.50), ("rag-search", 0.30), ("agent", 0.15), ("evals", 0.05)]
MODELS = [("gpt-4o-mini", 0.15e-6, 0.6e-6), ("gpt-4o", 2.5e-6, 10e-6), ("claude-3-5-haiku", 0.8e-6, 4e-6), ("mistral-small", 0.2e-6, 0.6e-6)]
T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
SPAN = timedelta(days=30)
RARE_WORD = "quetzalcoatl"  # in about 1 run in 10,000
REPEATS, WARMUP = 30, 3


class Vocabulary:
    """Pseudo-words with Zipf frequencies: sentences that search like real text."""

    def __init__(self, rng: random.Random, size: int = 2_000) -> None:
        syllables = ["ka", "lo", "mi", "ten", "ra", "su", "ve", "no", "qui", "dor", "pa", "zel", "an", "tri", "mo", "sha"]
        words: set[str] = set()
        while len(words) < size:
            words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
        self.words = sorted(words, key=lambda w: (len(w), w))
        self.weights = [1 / (rank + 1) for rank in range(size)]
        self.rng = rng

    def sentence(self, n: int) -> str:
        words = self.rng.choices(self.words, self.weights, k=n)
        return " ".join(words).capitalize() + "."

    def text(self, sentences: int) -> str:
        return " ".join(self.sentence(self.rng.randint(6, 16)) for _ in range(sentences))


def uuid7_at(t: datetime, rng: random.Random) -> str:
    ms = int(t.timestamp() * 1000)
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


class Maker:
    """Run documents in the tracer's shape (`tracer/_rundoc.py`)."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.vocab = Vocabulary(self.rng)

    def doc(self, project: str, start: datetime, parent: dict[str, Any] | None, run_type: str, name: str) -> dict[str, Any]:
        rng = self.rng
        run_id = uuid7_at(start, rng)
        segment = start.strftime("%Y%m%dT%H%M%S%fZ") + run_id
        latency = rng.lognormvariate(6.5, 0.8) if run_type == "llm" else rng.lognormvariate(5, 1)
        end = start + timedelta(milliseconds=latency)
        failed = rng.random() < 0.03
        question = self.vocab.text(rng.randint(1, 3))
        if rng.random() < 0.0001:
            question += f" Tell me about {RARE_WORD}."
        doc: dict[str, Any] = {
            "id": run_id,
            "trace_id": parent["trace_id"] if parent else run_id,
            "parent_run_id": parent["id"] if parent else None,
            "dotted_order": f"{parent['dotted_order']}.{segment}" if parent else segment,
            "name": name,
            "run_type": run_type,
            "project": project,
            "start_time": start.isoformat(timespec="microseconds"),
            "end_time": end.isoformat(timespec="microseconds"),
            "status": "error" if failed else "success",
            "inputs": {"question": question},
            "outputs": None,
            "error": None,
            "extra": {"invocation_params": {}, "metadata": {"user": f"user-{rng.randint(1, 500)}"}, "runtime": {"sdk": "chat-tracer", "sdk_version": "0.1.0"}},
            "tags": rng.sample(["prod", "beta", "eu", "us", "mobile", "web"], rng.randint(0, 2)),
            "events": [{"name": "start", "time": start.isoformat()}, {"name": "end", "time": end.isoformat()}],
            "first_token_time": None,
            "model_name": None,
            "prompt_tokens": None,
            "completion_tokens": None,
            "total_tokens": None,
            "cost": None,
            "reference_example_id": None,
        }
        if run_type == "llm":
            model, price_in, price_out = rng.choice(MODELS)
            reply = self.vocab.text(rng.randint(2, 6))
            prompt_tokens, completion_tokens = len(question) // 4 + 40, len(reply) // 4
            doc["inputs"] = {"messages": [[{"content": "You are a helpful assistant. Answer briefly and cite your sources.", "type": "system"}, {"content": question, "type": "human"}]]}
            doc["extra"]["invocation_params"] = {"model_name": model, "temperature": 0.2, "_type": "openai-chat"}
            doc["model_name"] = model
            doc["first_token_time"] = (start + timedelta(milliseconds=latency / 3)).isoformat(timespec="microseconds")
            if not failed:
                usage = {"input_tokens": prompt_tokens, "output_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
                message = {"content": reply, "type": "ai", "response_metadata": {"finish_reason": "stop", "model_name": model}, "usage_metadata": usage}
                doc["outputs"] = {"generations": [[{"text": reply, "generation_info": {"finish_reason": "stop"}, "type": "ChatGeneration", "message": message}]], "llm_output": {"model_name": model}, "type": "LLMResult"}
                doc.update(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens)
                doc["cost"] = prompt_tokens * price_in + completion_tokens * price_out
        elif not failed:
            doc["outputs"] = {"output": self.vocab.text(rng.randint(1, 2))}
        if failed:
            doc["error"] = f"RateLimitError('Rate limit reached for {doc['model_name'] or name}')\n\nTraceback (most recent call last):\n  File \"app.py\", line 42, in answer\n    return chain.invoke(question)\nRateLimitError: Rate limit reached"
        return doc

    def trace(self, project: str, start: datetime, size: int) -> Iterator[dict[str, Any]]:
        """A trace of `size` runs: a root chain, then a tree of chains, tools and model calls."""
        rng = self.rng
        root = self.doc(project, start, None, "chain", "AgentExecutor" if size > 3 else "RetrievalQA")
        yield root
        frontier, made, clock = [(root, 0)], 1, start
        while made < size:
            parent, depth = frontier[rng.randrange(len(frontier))] if len(frontier) > 1 else frontier[0]
            clock += timedelta(milliseconds=rng.uniform(1, 50))
            kind = rng.choice(["llm", "llm", "tool", "chain"]) if depth < 5 else rng.choice(["llm", "tool"])
            child = self.doc(project, clock, parent, kind, {"llm": "ChatOpenAI", "tool": "search", "chain": "Step"}[kind])
            made += 1
            yield child
            if kind == "chain":
                frontier.append((child, depth + 1))


def changes(total: int, maker: Maker) -> Iterator[RunChange]:
    """`total` runs as RunChanges, in time order; some in two changes (running, then done)."""
    rng = maker.rng
    names = [name for name, _ in PROJECTS]
    weights = [share for _, share in PROJECTS]
    step = SPAN / total
    made, clock = 0, T0
    pending: list[tuple[int, RunChange]] = []  # (made count after which to write it, change)
    big_trace_at = total // 3
    while made < total:
        project = rng.choices(names, weights)[0]
        roll = rng.random()
        if made >= big_trace_at and big_trace_at >= 0 and total >= 20_000:
            docs, big_trace_at = list(maker.trace(names[0], clock, 10_000)), -1
        elif roll < 0.80:
            docs = [maker.doc(project, clock, None, "llm", "ChatOpenAI")]
        elif roll < 0.90:
            docs = list(maker.trace(project, clock, 3))
        else:
            docs = list(maker.trace(project, clock, rng.randint(20, 60)))
        docs = docs[: total - made]
        while pending and pending[0][0] <= made:
            yield pending.pop(0)[1]
        for doc in docs:
            if rng.random() < 0.05:  # written twice, as a streamed run spanning flushes
                running = {**doc, "end_time": None, "status": "running", "outputs": None, "error": None, "total_tokens": None, "prompt_tokens": None, "completion_tokens": None, "cost": None, "events": doc["events"][:1]}
                yield RunChange(doc["id"], running, [{"op": "replace", "path": "", "value": running}], 0)
                ops = [{"op": "replace", "path": f"/{key}", "value": doc[key]} for key in ("outputs", "end_time", "status", "error", "total_tokens", "cost")]
                pending.append((made + 2_000, RunChange(doc["id"], doc, ops, 1)))
            else:
                yield RunChange(doc["id"], doc, [{"op": "replace", "path": "", "value": doc}], 0)
        made += len(docs)
        clock += step * len(docs)
    yield from (change for _, change in pending)


def build(path: Path, total: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    maker = Maker()
    started = time.perf_counter()
    written = 0
    with open_store(f"sqlite:///{path}") as store:
        batch: list[RunChange] = []
        roots: list[str] = []
        for change in changes(total, maker):
            batch.append(change)
            if change.doc["parent_run_id"] is None and change.seq == 0 and maker.rng.random() < 0.01:
                roots.append(change.run_id)
            if len(batch) >= 5_000:
                store.write(batch)
                written += len(batch)
                batch = []
                if written % 100_000 < 5_000:
                    print(f"  {written:,} changes, {time.perf_counter() - started:.0f} s", file=sys.stderr)
        store.write(batch)
        for run_id in roots:
            browse.add_feedback(store, run_id, "correctness", score=maker.rng.choice([0.0, 0.5, 1.0]))
    print(f"built {total:,} runs in {time.perf_counter() - started:.0f} s ({path}, {path.stat().st_size / 1e9:.2f} GB)", file=sys.stderr)


def timed(call: Callable[[], Any]) -> tuple[float, float]:
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)]


def measure(store: Store, url: str) -> list[tuple[str, str, float, float, str]]:
    big = PROJECTS[0][0]
    rows: list[tuple[str, str, float, float, str]] = []

    def add(what: str, how: str, call: Callable[[], Any], target: str = "") -> None:
        p50, p95 = timed(call)
        rows.append((what, how, p50, p95, target))

    first = browse.RunFilter(project=big)
    add("runs page, first (root runs, newest first)", "list_run_rows", lambda: browse.list_run_rows(store, first), "p95 ≤ 50 ms")
    for label, f in [
        ("filtered page: status=error", browse.RunFilter(project=big, status="error")),
        ("filtered page: llm, model=gpt-4o, tag=eu", browse.RunFilter(project=big, scope="llm", model="gpt-4o", tag="eu")),
        ("filtered page: all runs, slowest first", browse.RunFilter(project=big, scope="all", sort="latency")),
        ("filtered page: most tokens, last 7 days", browse.RunFilter(project=big, sort="tokens", since=T0 + SPAN - timedelta(days=7))),
        ("filtered page: feedback correctness ≥ 0.5", browse.RunFilter(project=big, feedback_key="correctness", feedback_min=0.5)),
    ]:
        add(label, "list_run_rows", lambda f=f: browse.list_run_rows(store, f), "p95 ≤ 50 ms")
    deep = browse.RunFilter(project=big, limit=500)
    for _ in range(200):  # 100,000 rows in
        deep = browse.RunFilter(project=big, limit=500, cursor=browse.list_run_rows(store, deep).next_cursor)
    deep = browse.RunFilter(project=big, cursor=deep.cursor)
    add("deep page (after 100,000 rows)", "list_run_rows", lambda: browse.list_run_rows(store, deep), "p95 ≤ 50 ms")
    common = Maker().vocab.words[5]
    for label, word in [(f"search, rare word ({RARE_WORD})", RARE_WORD), (f"search, common word ({common})", common), ("search, two words", f"{common} {Maker().vocab.words[40]}")]:
        f = browse.RunFilter(project=big, scope="all", search=word)
        add(label, "list_run_rows", lambda f=f: browse.list_run_rows(store, f), "p95 ≤ 200 ms")
    trace_id = _largest_trace(store)
    add("trace of 10,000 runs: tree rows", "trace_rows", lambda: browse.trace_rows(store, trace_id), "≤ 500 ms")
    add("project summaries (4 projects, 1M runs)", "project_summaries", lambda: browse.project_summaries(store))
    add("project series, 48 buckets (whole project)", "project_series", lambda: browse.project_series(store, big))
    last_day = T0 + SPAN - timedelta(days=1)
    add("project series, 48 buckets (last day)", "project_series", lambda: browse.project_series(store, big, since=last_day, until=T0 + SPAN))
    run_id = browse.list_run_rows(store, first).rows[3].id
    add("run detail (document)", "run_detail", lambda: browse.run_detail(store, run_id))
    add("run neighbors (prev/next root)", "run_neighbors", lambda: browse.run_neighbors(store, run_id))
    position = browse.log_position(store)
    add("live: log_since (last 500 rows of a project)", "log_since", lambda: browse.log_since(store, position - 2_000, project=big))
    rows.extend(_flask(url, big, trace_id, run_id))
    return rows


def _largest_trace(store: Store) -> str:
    with store.engines.reader.connect() as connection:
        return str(connection.exec_driver_sql("SELECT trace_id FROM runs GROUP BY trace_id ORDER BY count(*) DESC LIMIT 1").scalar())


def _flask(url: str, project: str, trace_id: str, run_id: str) -> list[tuple[str, str, float, float, str]]:
    try:
        from viewer import create_app
    except ImportError:
        return []
    client = create_app(url).test_client()
    rows = []
    for label, path, target in [
        ("projects page", "/", ""),
        ("runs page", f"/projects/{project}", "p95 ≤ 50 ms"),
        ("runs page, search", f"/projects/{project}?scope=all&search={RARE_WORD}", "p95 ≤ 200 ms"),
        ("trace page, 10,000 runs", f"/traces/{trace_id}", "≤ 500 ms"),
        ("run page", f"/runs/{run_id}", ""),
    ]:
        status = client.get(path).status_code
        p50, p95 = timed(lambda path=path: client.get(path))
        rows.append((f"{label} (HTTP {status})", "Flask test client", p50, p95, target))
    return rows


def write_rate(runs: int = 20_000, repeats: int = 5) -> None:
    """Store.write alone on `runs` FakeChatModel runs (collected from the real tracer first)."""
    import tracer
    from tracer import _writer
    from tracer import config
    from tracer.chat_models import FakeChatModel

    class Collect:
        def __init__(self) -> None:
            self.batches: list[list[RunChange]] = []

        def write(self, batch: Any) -> None:
            self.batches.append(list(batch))

    home = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    sink = Collect()
    settings = config.Settings(tracing=True, project="bench-write", home=home)
    _writer.writer_for(settings.store_url, lambda: sink)
    token = config._override.set(settings)
    model = FakeChatModel(["Bonjour, voici une réponse assez longue pour ressembler à une vraie réponse d'un modèle. Elle parle de programmation et de traduction."])
    try:
        for i in range(runs):
            model.invoke([("system", "You are a helpful translator."), ("human", f"Translate request number {i}: I love programming and long walks on the beach.")])
        tracer.flush()
    finally:
        config._override.reset(token)
    total = sum(len(batch) for batch in sink.batches)
    rates = []
    for repeat in range(repeats):
        with open_store(f"sqlite:///{home}/store-{repeat}.db") as store:
            t0 = time.perf_counter()
            for batch in sink.batches:
                store.write(batch)
            rates.append(total / (time.perf_counter() - t0))
    print(f"Store.write: {total:,} FakeChatModel runs in {len(sink.batches)} batches, {repeats} fresh stores: "
          f"median {statistics.median(rates):,.0f} runs/s (each: {', '.join(f'{r:,.0f}' for r in rates)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--write-rate", action="store_true", help="only measure Store.write's rate")
    args = parser.parse_args()
    if args.write_rate:
        write_rate()
        return
    path = CACHE / f"runs-{args.runs}.db"
    if args.rebuild or not path.exists():
        build(path, args.runs)
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        count = store.count_runs()
        rows = measure(store, url)
    print(f"\n{count:,} runs, {path.stat().st_size / 1e9:.2f} GB; {REPEATS} timed calls after {WARMUP} warm-up, ms\n")
    print("| read | through | p50 ms | p95 ms | target |")
    print("| --- | --- | --- | --- | --- |")
    for what, how, p50, p95, target in rows:
        print(f"| {what} | {how} | {p50:.1f} | {p95:.1f} | {target} |")


if __name__ == "__main__":
    main()
