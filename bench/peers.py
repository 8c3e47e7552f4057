"""The peers, measured in the same run as ours: langchain-core + LangSmith, and OpenInference + OTel.

    python bench/peers.py [--quick] [--repeats N] [--calls N]   # = bench/run.py = overhead.py --peers

Ratios against ours need ours in the same run, so this runs `bench/overhead.py` with `--peers`:
one process, every scenario (ours and theirs) interleaved over the repeats, one table.

What is measured for the peers, against the same workload as ours:

- A langchain-core `BaseChatModel` fake that does what `FakeChatModel` does: the same reply,
  usage counted from the prompt with the same tokenizer, a 20-chunk stream (empty first chunk,
  18 words, an empty last chunk with usage and `chunk_position="last"`). Every prompt differs.
- LangSmith tracing through `tracing_v2_enabled(client=...)` to a stand-in server (`_sink.py`,
  a child process on 127.0.0.1): with zstd-compressed multipart (the default for a server that
  offers it) and, for `invoke`, plain multipart. `@langsmith.traceable` on a trivial function.
- OpenInference's LangChain instrumentor on the OTel SDK's `BatchSpanProcessor` with an exporter
  that only counts spans; instrumented before its blocks and uninstrumented after them.

Traps (shared/peer-benchmark-notes.md): the LangSmith clients are referenced several extra times
(langsmith 0.15.1's sender thread stops itself when the client's reference count looks low, after
which `flush()` hangs), every flush has a timeout, the sink answers `/info` with a complete
`batch_ingest_config`, and payloads differ from call to call.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import Pair, Scenario  # noqa: E402

PACKAGES = ["langchain-core", "langsmith", "zstandard", "opentelemetry-sdk", "openinference-instrumentation-langchain"]
_TOKENS = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")  # the same pieces FakeChatModel counts


def _start_sink() -> tuple[subprocess.Popen[str], str]:
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_sink.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    line = sink.stdout.readline()
    if not line.startswith("PORT "):
        sink.kill()
        raise RuntimeError(f"the sink did not start: {line!r}")
    return sink, f"http://127.0.0.1:{int(line.split()[1])}"


def _lc_fake_class() -> type:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    class BenchFakeChatModel(BaseChatModel):
        """langchain-core's twin of our FakeChatModel, for an equal workload."""

        reply: str = ""
        chunks: list[str] | None = None
        model_name: str = "fake-chat"

        @property
        def _llm_type(self) -> str:
            return "bench-fake"

        @property
        def _identifying_params(self) -> dict[str, Any]:
            return {"model_name": self.model_name}

        def _usage(self, messages: list[BaseMessage], pieces: list[str]) -> dict[str, int]:
            prompt = sum(len(_TOKENS.findall(m.text)) for m in messages)
            return {"input_tokens": prompt, "output_tokens": len(pieces), "total_tokens": prompt + len(pieces)}

        def _pieces(self) -> list[str]:
            return list(self.chunks) if self.chunks is not None else _TOKENS.findall(self.reply)

        def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
            pieces = self._pieces()
            message = AIMessage(
                content="".join(pieces),
                response_metadata={"finish_reason": "stop", "model_name": self.model_name},
                usage_metadata=self._usage(messages, pieces),  # type: ignore[arg-type]
            )
            return ChatResult(generations=[ChatGeneration(message=message, generation_info={"finish_reason": "stop"})])

        def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            # langchain-core's `stream` reports each chunk to the callbacks itself.
            pieces = self._pieces()
            yield ChatGenerationChunk(message=AIMessageChunk(content=""))
            for piece in pieces:
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
            last = AIMessageChunk(
                content="",
                response_metadata={"finish_reason": "stop", "model_name": self.model_name},
                usage_metadata=self._usage(messages, pieces),  # type: ignore[arg-type]
                chunk_position="last",
            )
            yield ChatGenerationChunk(message=last, generation_info={"finish_reason": "stop"})

    return BenchFakeChatModel


class _CountingExporter:
    """An OTel span exporter that keeps nothing: it counts."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class Peers:
    """The peers' scenarios, their flushes, and their delivery measurement."""

    PACKAGES = PACKAGES

    def __init__(self, calls: int) -> None:
        from overhead import REPLY, STREAM_CHUNKS

        self.calls = calls
        self.notes: list[str] = []
        self.sink, self.url = _start_sink()
        for name in ("LANGSMITH_TRACING", "LANGSMITH_TRACING_V2", "LANGCHAIN_TRACING", "LANGCHAIN_TRACING_V2"):
            os.environ.pop(name, None)  # tracing is switched per block, by context
        os.environ["LANGSMITH_ENDPOINT"] = self.url
        os.environ.setdefault("LANGSMITH_API_KEY", "bench-not-a-key")

        import langsmith
        from langchain_core.tracers.context import tracing_v2_enabled

        self._langsmith = langsmith
        self._tracing_v2_enabled = tracing_v2_enabled
        self.ls_zstd = langsmith.Client(api_url=self.url, api_key="bench-not-a-key")
        self.ls_plain = langsmith.Client(api_url=self.url + "/plain", api_key="bench-not-a-key")
        # The trap: hold extra references, or the sender thread may stop itself for good.
        self._refs = [self.ls_zstd] * 4 + [self.ls_plain] * 4
        fake = _lc_fake_class()
        self.model = fake(reply=REPLY)
        self.stream_model = fake(chunks=STREAM_CHUNKS)

        @langsmith.traceable
        def ls_traced(x: int) -> int:
            return x

        self.ls_traced = ls_traced
        self._open: Any = None  # the tracing context of the block in progress
        self.otel = self._otel()

    # -- OpenInference ------------------------------------------------------------------------

    def _otel(self) -> Any:
        try:
            from openinference.instrumentation.langchain import LangChainInstrumentor
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            self.notes.append(f"OpenInference skipped: {exc}")
            return None
        exporter = _CountingExporter()
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
        return {"provider": provider, "exporter": exporter, "instrumentor": LangChainInstrumentor()}

    def _oi_on(self) -> None:
        self.otel["instrumentor"].instrument(tracer_provider=self.otel["provider"])

    def _oi_off(self) -> None:
        self.otel["instrumentor"].uninstrument()

    # -- switching and flushing -----------------------------------------------------------------

    def _enter(self, context: Any) -> None:
        self._open = context
        context.__enter__()

    def stop_tracing(self) -> None:
        if self._open is not None:
            context, self._open = self._open, None
            context.__exit__(None, None, None)

    def _ls_on(self, client: Any) -> Any:
        return lambda: self._enter(self._tracing_v2_enabled(project_name="bench", client=client))

    def _ls_fn_on(self) -> None:
        self._enter(self._langsmith.tracing_context(enabled=True, client=self.ls_zstd, project_name="bench"))

    def quiesce(self) -> None:
        """Deliver everything the peers have queued (each with a timeout: see the traps)."""
        for client in (self.ls_zstd, self.ls_plain):
            t0 = time.perf_counter()
            client.flush(timeout=120)
            if time.perf_counter() - t0 > 119:
                self.notes.append("a LangSmith client's flush() ran into its 120 s timeout")
        if self.otel is not None:
            self.otel["provider"].force_flush(120_000)

    def sink_stats(self) -> dict[str, int]:
        import httpx

        return httpx.get(self.url + "/stats", timeout=10).json()

    # -- scenarios ------------------------------------------------------------------------------

    def scenarios(self) -> tuple[list[Scenario], list[Pair]]:
        from overhead import _stream_all, prompt

        model, stream_model, ls_traced = self.model, self.stream_model, self.ls_traced
        assert _stream_all(stream_model, "check") == 20, "the peers' stream must have 20 chunks too"
        invoke = lambda i: model.invoke(prompt(i))  # noqa: E731
        stream = lambda i: _stream_all(stream_model, prompt(i))  # noqa: E731
        off, quiet = self.stop_tracing, self.quiesce
        s = [
            Scenario("lc.invoke.off", invoke, prepare=quiet),
            Scenario("lc.invoke.ls", invoke, prepare=quiet, before_block=self._ls_on(self.ls_zstd), after_block=off),
            Scenario("lc.invoke.ls_plain", invoke, prepare=quiet, before_block=self._ls_on(self.ls_plain), after_block=off),
            Scenario("lc.stream.off", stream, prepare=quiet),
            Scenario("lc.stream.ls", stream, prepare=quiet, before_block=self._ls_on(self.ls_zstd), after_block=off),
            Scenario("ls.fn.traceable", ls_traced, prepare=quiet, before_block=self._ls_fn_on, after_block=off, per_call=False),
        ]
        p = [
            Pair("`invoke`", "langchain-core + LangSmith (zstd multipart)", "lc.invoke.off", "lc.invoke.ls", ours="ours.invoke.on"),
            Pair("`invoke`", "langchain-core + LangSmith (plain multipart)", "lc.invoke.off", "lc.invoke.ls_plain", ours="ours.invoke.on"),
            Pair("20-chunk `stream`", "langchain-core + LangSmith (zstd multipart)", "lc.stream.off", "lc.stream.ls", ours="ours.stream.on"),
            Pair("trivial fn vs `traceable`", "`langsmith.traceable`", "ours.fn.bare", "ls.fn.traceable", ours="ours.fn.traceable"),
        ]
        if self.otel is not None:
            s.insert(3, Scenario("lc.invoke.oi", invoke, prepare=quiet, before_block=self._oi_on, after_block=self._oi_off))
            s.insert(6, Scenario("lc.stream.oi", stream, prepare=quiet, before_block=self._oi_on, after_block=self._oi_off))
            p.insert(2, Pair("`invoke`", "langchain-core + OpenInference (OTel batch, no-op exporter)", "lc.invoke.off", "lc.invoke.oi", ours="ours.invoke.on"))
            p.insert(4, Pair("20-chunk `stream`", "langchain-core + OpenInference (OTel batch, no-op exporter)", "lc.stream.off", "lc.stream.oi", ours="ours.stream.on"))
        return s, p

    # -- delivery -------------------------------------------------------------------------------

    def throughput(self, runs: int, repeats: int = 1) -> list[Any]:
        from overhead import Throughput, prompt

        results = [Throughput("LangSmith (zstd multipart), end to end (calls, then `client.flush()`)", runs)]
        if self.otel is not None:
            results.append(Throughput("OpenInference + OTel `BatchSpanProcessor` (default queue 2,048), end to end", runs))
        from overhead import _log

        for _ in range(repeats):
            self.quiesce()
            before = self.sink_stats()["runs"]
            _log(f"LangSmith: {runs:,} traced calls")
            self._ls_on(self.ls_zstd)()
            t0 = time.perf_counter()
            for i in range(runs):
                self.model.invoke(prompt(i))
            t1 = time.perf_counter()
            self.stop_tracing()
            _log("LangSmith: client.flush()")
            self.ls_zstd.flush(timeout=600)
            t2 = time.perf_counter()
            if t2 - t1 > 599:
                results[0].note = "flush timed out (600 s)"
            time.sleep(0.2)  # the sink counts a request after answering it
            results[0].calls_us.append((t1 - t0) / runs * 1e6)
            results[0].flush_s.append(t2 - t1)
            results[0].total_s.append(t2 - t0)
            results[0].stored.append(self.sink_stats()["runs"] - before)
            if self.otel is not None:
                _log(f"OpenInference: {runs:,} traced calls")
                exporter = self.otel["exporter"]
                before = exporter.spans
                self._oi_on()
                t0 = time.perf_counter()
                for i in range(runs):
                    self.model.invoke(prompt(i))
                t1 = time.perf_counter()
                self._oi_off()
                self.otel["provider"].force_flush(600_000)
                t2 = time.perf_counter()
                results[1].calls_us.append((t1 - t0) / runs * 1e6)
                results[1].flush_s.append(t2 - t1)
                results[1].total_s.append(t2 - t0)
                results[1].stored.append(exporter.spans - before)
        for t in results:
            t.flush_only = False  # their senders run during the calls: no "writer alone" figure
        return results

    def close(self) -> None:
        self.stop_tracing()
        self.quiesce()
        if self.otel is not None:
            self.otel["provider"].shutdown()
        if self.sink.stdin is not None:
            self.sink.stdin.close()
        try:
            self.sink.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.sink.kill()


if __name__ == "__main__":
    import overhead

    raise SystemExit(overhead.main(["--peers", *sys.argv[1:]]))
