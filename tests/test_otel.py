"""OpenTelemetry out: runs as spans, checked with the SDK's in-memory exporter.

The API's global provider can be set only once per process, so each test installs the SDK
provider by patching the API's global (`opentelemetry.trace._TRACER_PROVIDER`), which is what
`set_tracer_provider` sets, and the patch is undone after the test. One test sets it for real in
a child process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import tracer
from tracer import trace
from tracer.chat_models import FakeChatModel
from tracer.messages import HumanMessage, SystemMessage
from tracer.otel import CAPTURE_CONTENT_ENV
from tracer.store import open_store

REPLY = "Regularization prevents overfitting."
MESSAGES = [SystemMessage(content="Be brief."), HumanMessage(content="What is regularization?")]

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch, tracing: Any) -> Iterator[InMemorySpanExporter]:
    """Tracing on, an SDK provider installed as the global one, its exporter emptied."""
    monkeypatch.setattr(otel_trace, "_TRACER_PROVIDER", _PROVIDER)
    _EXPORTER.clear()
    yield _EXPORTER
    tracer.flush()
    _EXPORTER.clear()


def _finished(exporter: InMemorySpanExporter) -> dict[str, Any]:
    assert tracer.flush(timeout=30)
    return {span.name: span for span in exporter.get_finished_spans()}


def _runs() -> dict[str, Any]:
    store = open_store(tracer.get_settings().store_url)
    try:
        return {run.name: run for run in store.list_runs(limit=1000)}
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def test_the_span_tree_mirrors_the_run_tree(spans: InMemorySpanExporter) -> None:
    with trace("outer"):
        with trace("step", run_type="tool"):
            pass
        FakeChatModel([REPLY]).invoke(MESSAGES)
    by_name = _finished(spans)
    assert set(by_name) == {"outer", "execute_tool step", "chat fake-chat"}
    outer, tool, llm = by_name["outer"], by_name["execute_tool step"], by_name["chat fake-chat"]
    assert outer.parent is None
    assert tool.parent.span_id == outer.context.span_id and llm.parent.span_id == outer.context.span_id
    assert len({outer.context.trace_id, tool.context.trace_id, llm.context.trace_id}) == 1
    assert llm.kind is SpanKind.CLIENT and outer.kind is SpanKind.INTERNAL
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool" and tool.attributes["gen_ai.tool.name"] == "step"

    # The spans carry the runs' own times, and the runs keep the spans' ids.
    runs = _runs()
    for name, span in (("outer", outer), ("FakeChatModel", llm), ("step", tool)):
        run = runs[name]
        assert span.start_time == pytest.approx(run.start_time.timestamp() * 1e9, abs=2_000)
        assert span.end_time == pytest.approx(run.end_time.timestamp() * 1e9, abs=2_000)
        assert run.extra["otel"] == {"trace_id": f"{span.context.trace_id:032x}", "span_id": f"{span.context.span_id:016x}"}
        assert span.attributes["chat_tracer.run_id"] == str(run.id)


def test_llm_attributes_follow_the_genai_conventions(spans: InMemorySpanExporter) -> None:
    FakeChatModel([REPLY], model="gpt-4o-mini").invoke(MESSAGES, temperature=0.2, max_tokens=64)
    [span] = _finished(spans).values()
    run = _runs()["FakeChatModel"]
    assert span.name == "chat gpt-4o-mini"
    attributes = dict(span.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "fake"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == run.prompt_tokens > 0
    assert attributes["gen_ai.usage.output_tokens"] == run.completion_tokens > 0
    assert span.status.status_code is StatusCode.UNSET
    # Content is off by default.
    assert "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes


def test_streamed_calls_are_spans_too(spans: InMemorySpanExporter) -> None:
    assert "".join(c.content for c in FakeChatModel([[" w"] * 5]).stream("hi")) == " w" * 5
    [span] = _finished(spans).values()
    assert span.attributes["gen_ai.usage.output_tokens"] > 0


@pytest.mark.parametrize("switch", ["true", "SPAN_ONLY", "span_and_event"])
def test_message_content_only_when_opted_in(spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch, switch: str) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, switch)
    FakeChatModel([REPLY]).invoke(MESSAGES)
    [span] = _finished(spans).values()
    assert json.loads(span.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is regularization?"}]},
    ]
    assert json.loads(span.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": REPLY}], "finish_reason": "stop"},
    ]


@pytest.mark.parametrize("switch", ["false", "NO_CONTENT", ""])
def test_message_content_off_values(spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch, switch: str) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, switch)
    FakeChatModel([REPLY]).invoke(MESSAGES)
    [span] = _finished(spans).values()
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output")) for key in span.attributes)


def test_an_error_sets_the_status_and_records_the_exception(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError, match="boom"):
        with trace("outer"):
            FakeChatModel(error=ValueError("boom")).invoke("hi")
    by_name = _finished(spans)
    for span in by_name.values():
        assert span.status.status_code is StatusCode.ERROR
        assert "boom" in (span.status.description or "")
        assert span.attributes["error.type"] == "ValueError"
        [event] = [e for e in span.events if e.name == "exception"]
        assert event.attributes["exception.type"] == "ValueError"
        assert event.attributes["exception.message"] == "boom"
        assert event.timestamp == span.end_time
    assert by_name["chat fake-chat"].parent.span_id == by_name["outer"].context.span_id


def test_a_run_inside_an_active_span_is_its_child(spans: InMemorySpanExporter) -> None:
    user_tracer = _PROVIDER.get_tracer("user-app")
    with user_tracer.start_as_current_span("request") as request:
        with trace("handler"):
            FakeChatModel([REPLY]).invoke("hi")
    by_name = _finished(spans)
    handler, llm = by_name["handler"], by_name["chat fake-chat"]
    assert handler.parent.span_id == request.get_span_context().span_id
    assert handler.context.trace_id == request.get_span_context().trace_id == llm.context.trace_id
    assert llm.parent.span_id == handler.context.span_id
    assert _runs()["handler"].extra["otel"]["trace_id"] == f"{request.get_span_context().trace_id:032x}"


def test_no_sdk_no_spans(tracing: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otel_trace, "_TRACER_PROVIDER", None)
    _EXPORTER.clear()
    with trace("outer"):
        FakeChatModel([REPLY]).invoke("hi")
    assert tracer.flush(timeout=30)
    assert _EXPORTER.get_finished_spans() == ()
    runs = _runs()
    assert runs["outer"].status == "success" and runs["FakeChatModel"].status == "success"
    assert "otel" not in runs["outer"].extra and "otel" not in runs["FakeChatModel"].extra


def test_set_tracer_provider_for_real(tmp_path: Any) -> None:
    """In a fresh process, the public API: `set_tracer_provider`, then traced calls."""
    script = textwrap.dedent(
        """
        import json, os
        from opentelemetry import trace as t
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import tracer
        from tracer.chat_models import FakeChatModel
        FakeChatModel(["before"]).invoke("hi")  # no SDK yet: no span
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        t.set_tracer_provider(provider)
        with tracer.trace("outer"):
            FakeChatModel(["after"]).invoke("hi")
        tracer.flush()
        print(json.dumps(sorted(s.name for s in exporter.get_finished_spans())))
        """
    )
    env = {"TRACER_HOME": str(tmp_path / "home"), "LANGCHAIN_TRACING_V2": "true", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["chat fake-chat", "outer"]


def test_the_run_page_shows_the_otel_ids(spans: InMemorySpanExporter) -> None:
    from viewer import create_app

    FakeChatModel([REPLY]).invoke("hi")
    [span] = _finished(spans).values()
    run = _runs()["FakeChatModel"]
    app = create_app(tracer.get_settings().store_url, test_config={"TESTING": True})
    with app.test_client() as client:
        page = client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert f"{span.context.trace_id:032x}" in page and f"{span.context.span_id:016x}" in page
