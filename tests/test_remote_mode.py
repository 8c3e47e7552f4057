"""Remote mode: the tracer's runs sent to a server over HTTP, and `tracer.Client` through one.

The sender is tested against a recording WSGI server (it parses what arrives with the stdlib's
`email` parser and zstandard, and answers as each test scripts it) and end to end against the
real `tracer ui` app, whose store must then hold what local mode would have recorded.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import zstandard
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import tracer
from tracer import _writer, config, trace, traceable
from tracer.chat_models import FakeChatModel
from tracer.remote import MAX_ATTEMPTS, RemoteSink

ZSTD_INFO = {
    "version": "0.10.0",
    "license_expiration_time": None,
    "batch_ingest_config": {"use_multipart_endpoint": True, "size_limit": 100, "size_limit_bytes": 20971520, "scale_up_qsize_trigger": 1000, "scale_up_nthreads_limit": 16, "scale_down_nempty_trigger": 4},
    "instance_flags": {"zstd_compression_enabled": True},
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    #: (part name, decoded JSON) in order; for /runs/batch, ("post"|"patch", run) per run.
    parts: list[tuple[str, Any]]


@dataclass
class Recorder:
    """A server that records what the sender posts. `answers` are (status, headers) for the
    next ingest requests, in order; after them, 202."""

    info: dict[str, Any] | None = field(default_factory=lambda: dict(ZSTD_INFO))
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    multipart: bool = True
    received: list[Received] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.path == "/info":
            response = Response(json.dumps(self.info), 200, mimetype="application/json") if self.info is not None else Response("{}", 404)
            return response(environ, start_response)
        if request.path == "/runs/multipart" and not self.multipart:
            return Response('{"detail": "Not Found"}', 404)(environ, start_response)
        self.times.append(time.monotonic())
        status, headers = self.answers.pop(0) if self.answers else (202, {})
        if status < 300:
            self.received.append(Received(request.path, dict(request.headers), _parse(request)))
        body = {"detail": f"scripted {status}"} if status >= 300 else {}
        return Response(json.dumps(body), status, headers=headers, mimetype="application/json")(environ, start_response)

    def ops(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, run id, whole payload) of every op received, in order."""
        found: list[tuple[str, str, dict[str, Any]]] = []
        for request in self.received:
            if request.path == "/runs/batch":
                found += [(kind, run["id"], run) for kind, run in request.parts]
                continue
            current: dict[str, Any] | None = None
            for name, value in request.parts:
                kind, run_id, *sub = name.split(".", 2)
                if not sub:
                    current = dict(value)
                    found.append((kind, run_id, current))
                else:
                    assert current is not None and current["id"] == run_id
                    current[sub[0]] = value
        return found

    def runs(self) -> dict[str, dict[str, Any]]:
        """Each run's payload after every op (later fields win)."""
        merged: dict[str, dict[str, Any]] = {}
        for _kind, run_id, payload in self.ops():
            merged.setdefault(run_id, {}).update(payload)
        return merged


def _parse(request: Request) -> list[tuple[str, Any]]:
    body = request.get_data()
    if request.headers.get("Content-Encoding") == "zstd":
        body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    if request.path == "/runs/batch":
        data = json.loads(body)
        return [(kind, run) for kind in ("post", "patch") for run in data.get(kind, [])]
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.is_multipart()
    return [(part.get_param("name", header="content-disposition"), json.loads(part.get_payload(decode=True))) for part in message.iter_parts()]


class Served:
    """A WSGI app on 127.0.0.1:`port` in a thread (port 0: a free one)."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self._httpd = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"
        self._thread = threading.Thread(target=lambda: self._httpd.serve_forever(poll_interval=0.05), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._thread.join(5)
        self._httpd.server_close()


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    app = Recorder()
    served = Served(app)
    yield app, served.url
    _writer.close_all(timeout=30)
    served.close()


def _remote(monkeypatch: pytest.MonkeyPatch, endpoint: str, *, key: str | None = "test-key", project: str = "remote") -> config.Settings:
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    monkeypatch.setenv("LANGCHAIN_PROJECT", project)
    monkeypatch.setenv("LANGCHAIN_ENDPOINT", endpoint)
    if key:
        monkeypatch.setenv("LANGCHAIN_API_KEY", key)
    return config.configure()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sink(endpoint: str, **options: Any) -> RemoteSink:
    """Registers the writer for `endpoint` with a sink built with `options` (the tracer then
    finds it), and returns the sink."""
    sink = RemoteSink(endpoint, **options)
    _writer.writer_for(endpoint, lambda: sink)
    return sink


@traceable
def double(x: int) -> int:
    return 2 * x


@traceable(run_type="chain")
def pipeline(question: str) -> str:
    double(21)
    return FakeChatModel(["forty-two"]).invoke(question).content


# -- the sender, against the recorder -----------------------------------------------------------------


def test_runs_go_to_the_server_zstd_multipart_with_the_key(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch, isolated_tracer: Path) -> None:
    app, url = recorder
    _remote(monkeypatch, url)
    assert pipeline("the answer?") == "forty-two"
    assert tracer.flush(timeout=10)
    [request] = app.received
    assert request.path == "/runs/multipart"
    assert request.headers["Content-Encoding"] == "zstd"
    assert request.headers["X-Api-Key"] == "test-key"
    names = [name for name, _ in request.parts]
    runs = app.runs()
    assert len(runs) == 3 and all(kind == "post" for kind, _, _ in app.ops())
    root = next(r for r in runs.values() if r["name"] == "pipeline")
    assert root["session_name"] == "remote" and root["inputs"] == {"question": "the answer?"} and root["outputs"] == {"output": "forty-two"}
    assert f"post.{root['id']}.inputs" in names and f"post.{root['id']}.extra" in names
    llm = next(r for r in runs.values() if r["run_type"] == "llm")
    assert llm["parent_run_id"] == root["id"] and llm["trace_id"] == root["id"]
    assert llm["dotted_order"].startswith(root["dotted_order"] + ".")
    assert llm["extra"]["metadata"]["usage_metadata"]["total_tokens"] > 0
    assert not (isolated_tracer / "traces.db").exists(), "remote mode must not write the local store"


def test_plain_multipart_when_the_server_has_no_zstd(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch) -> None:
    app, url = recorder
    app.info = {**ZSTD_INFO, "instance_flags": {}}
    _remote(monkeypatch, url, key=None)
    double(1)
    assert tracer.flush(timeout=10)
    [request] = app.received
    assert "Content-Encoding" not in request.headers and "X-Api-Key" not in request.headers
    assert [name.split(".")[0] for name, _ in request.parts][0] == "post"


def test_no_info_and_no_multipart_endpoint_fall_back_to_runs_batch(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch) -> None:
    app, url = recorder
    app.info, app.multipart = None, False
    _remote(monkeypatch, url)
    pipeline("q")
    assert tracer.flush(timeout=10)
    pipeline("again")
    assert tracer.flush(timeout=10)
    assert [r.path for r in app.received] == ["/runs/batch", "/runs/batch"]
    assert len(app.runs()) == 6 and app.runs()[app.ops()[0][1]]["session_name"] == "remote"


def test_batches_honour_size_limit(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch) -> None:
    app, url = recorder
    app.info = {**ZSTD_INFO, "batch_ingest_config": {**ZSTD_INFO["batch_ingest_config"], "size_limit": 3}}
    _remote(monkeypatch, url)
    sink = _sink(url)
    for i in range(10):
        double(i)
    assert tracer.flush(timeout=10)
    assert len(app.runs()) == 10
    assert all(len([n for n, _ in r.parts if n.count(".") == 1]) <= 3 for r in app.received)
    assert len(app.received) >= 4 and sink.requests == len(app.received)


def test_batches_honour_size_limit_bytes(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch) -> None:
    app, url = recorder
    app.info = {**ZSTD_INFO, "batch_ingest_config": {**ZSTD_INFO["batch_ingest_config"], "size_limit_bytes": 3000}}
    _remote(monkeypatch, url)
    for i in range(6):
        double("x" * 1000 + str(i))  # type: ignore[arg-type]
    assert tracer.flush(timeout=10)
    assert len(app.runs()) == 6 and len(app.received) >= 3


def test_a_run_spanning_flushes_is_posted_then_patched(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch) -> None:
    app, url = recorder
    _remote(monkeypatch, url)
    with trace("slow", inputs={"n": 1}) as run:
        assert tracer.flush(timeout=10)
        for _ in FakeChatModel(["a b c"]).stream("hi"):
            pass
        assert tracer.flush(timeout=10)  # the child ends here; the parent's update is held back
        run.end({"done": True})
    assert tracer.flush(timeout=10)
    ops = [(kind, payload.get("name"), payload.get("end_time") is not None) for kind, _, payload in app.ops()]
    assert ops == [("post", "slow", False), ("post", "FakeChatModel", True), ("patch", "slow", True)]
    assert app.runs()[str(run.id)]["outputs"] == {"done": True}


def test_server_errors_are_retried_with_backoff_and_retry_after(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch) -> None:
    app, url = recorder
    app.answers = [(500, {}), (503, {}), (429, {"Retry-After": "1"})]
    _remote(monkeypatch, url)
    sink = _sink(url)
    double(3)
    assert tracer.flush(timeout=20)
    assert len(app.times) == 4 and len(app.runs()) == 1
    assert app.times[3] - app.times[2] >= 0.95, "Retry-After: 1 was not honoured"
    assert sink.refused_runs == 0 and sink.losses() == []


def test_a_server_that_keeps_failing_costs_that_batch_only(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch) -> None:
    app, url = recorder
    app.answers = [(502, {"Retry-After": "0"})] * MAX_ATTEMPTS
    _remote(monkeypatch, url)
    sink = _sink(url)
    double(1)
    assert not tracer.flush(timeout=20)
    double(2)
    assert tracer.flush(timeout=20)
    assert sink.refused_runs == 1 and len(app.runs()) == 1
    assert len(app.times) == MAX_ATTEMPTS + 1


def test_a_refused_batch_is_dropped_counted_and_warned_once(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    app, url = recorder
    app.answers = [(400, {}), (422, {})]
    _remote(monkeypatch, url)
    sink = _sink(url)
    with caplog.at_level(logging.WARNING, logger="tracer"):
        double(1)
        assert not tracer.flush(timeout=10)
        double(2)
        assert not tracer.flush(timeout=10)
        double(3)
        assert tracer.flush(timeout=10)
    assert len(app.times) == 3, "a 4xx must not be retried"
    assert sink.refused_runs == 2 and len(app.runs()) == 1
    warnings = [r.getMessage() for r in caplog.records if "did not take" in r.getMessage()]
    assert len(warnings) == 1 and "400" in warnings[0] and "scripted 400" in warnings[0]
    assert any("2 run changes refused" in phrase for phrase in sink.losses())


def test_a_401_names_the_api_key_variable(recorder: tuple[Recorder, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    app, url = recorder
    app.answers = [(401, {})]
    _remote(monkeypatch, url, key="wrong")
    with caplog.at_level(logging.WARNING, logger="tracer"):
        double(1)
        assert not tracer.flush(timeout=10)
    assert any("401" in r.getMessage() and "LANGCHAIN_API_KEY" in r.getMessage() for r in caplog.records)


def test_server_down_at_start_then_up_loses_nothing(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    _remote(monkeypatch, url)
    sink = _sink(url)
    with caplog.at_level(logging.WARNING, logger="tracer"):
        for i in range(20):
            pipeline(f"q{i}")
        assert not tracer.flush(timeout=0.5)
        assert sink.buffered_runs == 60
        app = Recorder()
        served = Served(app, port)
        try:
            for i in range(5):
                double(i)
            assert tracer.flush(timeout=20)
            assert len(app.runs()) == 65 and sink.losses() == []
        finally:
            _writer.close_all(timeout=10)
            served.close()
    assert len([r for r in caplog.records if "cannot reach" in r.getMessage()]) == 1


def test_overflow_is_counted_and_warned_once_never_blocking(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    _remote(monkeypatch, url)
    sink = _sink(url, max_buffer_runs=10)
    with caplog.at_level(logging.WARNING, logger="tracer"):
        started = time.perf_counter()
        for i in range(30):
            double(i)
        assert time.perf_counter() - started < 1.0
        assert not tracer.flush(timeout=0.5)
    assert sink.buffered_runs == 10 and sink.overflow_runs == 20
    assert len([r for r in caplog.records if "send buffer" in r.getMessage()]) == 1
    report = _writer.writer_for(url, lambda: sink).losses() or ""
    assert "20 run changes dropped" in report and "10 run changes not yet delivered" in report


def test_overflow_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    _remote(monkeypatch, url)
    sink = _sink(url, max_buffer_bytes=20_000)
    for i in range(10):
        double("x" * 5000 + str(i))  # type: ignore[arg-type]
    assert not tracer.flush(timeout=0.3)
    assert sink.buffered_bytes <= 20_000 and sink.overflow_runs >= 6 and sink.buffered_runs + sink.overflow_runs == 10


def test_runs_are_flushed_at_interpreter_exit(recorder: tuple[Recorder, str], tmp_path: Path) -> None:
    app, url = recorder
    program = textwrap.dedent(
        """
        from tracer import traceable
        from tracer.chat_models import FakeChatModel

        @traceable
        def ask(i):
            return FakeChatModel(["yes"]).invoke(f"question {i}").content

        for i in range(50):
            ask(i)
        """
    )
    env = {"LANGCHAIN_TRACING_V2": "true", "LANGCHAIN_ENDPOINT": url, "LANGCHAIN_PROJECT": "exit", "TRACER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "chat-tracer" not in done.stderr, done.stderr
    assert len(app.runs()) == 100 and {r["session_name"] for r in app.runs().values()} == {"exit"}


# -- end to end, against the real `tracer ui` app -----------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    from viewer import create_app
    from viewer.serving import BackgroundServer

    served = BackgroundServer(create_app(f"sqlite:///{tmp_path / 'server.db'}"))
    yield served
    _writer.close_all(timeout=30)
    served.close()


def _delivered(server: Any) -> None:
    """Everything traced so far acknowledged by the server, and stored by its ingest worker."""
    from viewer.langsmith.ingest import drain

    assert tracer.flush(timeout=30)
    assert drain(server.app, timeout=30)


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@traceable(run_type="tool")
def calculator(a: int, b: int) -> int:
    return multiply(a, b)


@traceable
def agent(question: str) -> str:
    reply = FakeChatModel(["six times seven"]).bind_tools([multiply]).invoke(question).content
    return f"{reply} = {calculator(6, 7)}"


def _program() -> None:
    """Every kind of run: invoke, stream, tools, an error, nested traceables."""
    FakeChatModel(["Paris is the capital of France."]).invoke([("system", "Be brief."), ("human", "Capital of France?")])
    for _ in FakeChatModel([["Reg", "ulari", "zation"]]).stream("Why regularize?"):
        pass
    agent("What is 6 times 7?")
    pipeline("nested?")
    try:
        FakeChatModel(error=ValueError("model down")).invoke("hello")
    except ValueError:
        pass
    with trace("block", inputs={"k": "v"}, tags=["t"], metadata={"m": 1}) as run:
        run.end({"ok": True})


def _documents(url: str) -> list[dict[str, Any]]:
    """The stored documents, in start order, with ids and times made comparable."""
    import re

    from sqlalchemy import select

    from tracer.store import open_store
    from tracer.store.tables import runs

    with open_store(url) as store, store.engines.reader.connect() as connection:
        texts = [text for (text,) in connection.execute(select(runs.c.doc).order_by(runs.c.start_time, runs.c.dotted_order))]
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    time_ = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?|\d{8}T\d{6}\d*Z")
    docs = [json.loads(time_.sub("<time>", uuid.sub("<id>", text))) for text in texts]
    return docs


def test_remote_runs_are_stored_as_local_mode_records_them(server: Any, monkeypatch: pytest.MonkeyPatch, isolated_tracer: Path) -> None:
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    monkeypatch.setenv("LANGCHAIN_PROJECT", "same")
    config.configure()
    _program()
    assert tracer.flush(timeout=30)
    local = _documents(config.get_settings().store_url)

    _remote(monkeypatch, server.url, project="same")
    _program()
    _delivered(server)
    remote = _documents(f"sqlite:///{Path(server.app.extensions['tracer_store'].engines.url.database)}")

    assert len(remote) == len(local) == 10
    for mine, theirs in zip(local, remote):
        assert mine["name"] == theirs["name"]
        for key in sorted(set(mine) | set(theirs)):
            assert theirs.get(key) == mine.get(key), f"{mine['name']}: {key}"


# -- tracer.Client in remote mode ------------------------------------------------------------------


def test_client_reads_and_writes_through_the_server(server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tracer.client_remote import RemoteBackend
    from tracer.store import NotFound

    _remote(monkeypatch, server.url, project="shared")
    for i in range(3):
        pipeline(f"question {i}")
    _delivered(server)
    client = tracer.Client()
    assert isinstance(client._backend, RemoteBackend) and server.url in repr(client)
    with pytest.raises(ValueError, match="no local store"):
        client.store

    [project] = client.list_projects()
    assert project.name == "shared" and project.run_count == 9
    runs = client.list_runs(project_name="shared", limit=None)
    assert len(runs) == 9 and runs == sorted(runs, key=lambda r: r.start_time, reverse=True)
    llm = client.list_runs(project_name="shared", run_type="llm", limit=2)
    assert len(llm) == 2 and all(r.run_type == "llm" and r.total_tokens for r in llm)
    assert [r.id for r in client.list_runs(filter='eq(name, "double")', limit=None, offset=1)] == [r.id for r in runs if r.name == "double"][1:]
    root = next(r for r in runs if r.name == "pipeline")
    assert {r.name for r in client.list_runs(trace_id=root.id, limit=None)} == {"pipeline", "double", "FakeChatModel"}
    assert [r.name for r in client.list_runs(parent_run_id=root.id, filter=lambda r: r.run_type == "llm")] == ["FakeChatModel"]
    assert client.read_run(root.id) == root

    feedback = client.create_feedback(root.id, "correctness", score=0.5, comment="close", correction={"output": "42"})
    assert client.read_feedback(feedback.id).comment == "close"
    assert client.update_feedback(feedback.id, comment=None).comment is None and client.read_feedback(feedback.id).score == 0.5
    assert [f.id for f in client.list_feedback([root.id], ["correctness"])] == [feedback.id]
    other = client.create_feedback(root.id, "thumbs", score=True)
    client.delete_feedback(other.id)
    assert len(client.list_feedback([root.id])) == 1

    client.create_feedback_key("tone", "categories", categories=["dry", "warm"])
    assert client.update_feedback_key("tone", description="How it sounds").description == "How it sounds"
    assert "tone" in [k.key for k in client.list_feedback_keys()]
    with pytest.raises(ValueError, match="already exists"):
        client.create_feedback_key("tone", "text")
    client.delete_feedback_key("tone")
    assert "tone" not in [k.key for k in client.list_feedback_keys()]

    dataset = client.create_dataset("team/qa", "questions", {"owner": "me"})
    assert client.read_dataset("team/qa").id == dataset.id and dataset.metadata == {"owner": "me"}
    assert client.create_examples("team/qa", [{"inputs": {"q": str(i)}, "outputs": {"a": i}, "split": "train" if i % 2 else None} for i in range(4)]) == 4
    example = client.create_example_from_run(root.id, "team/qa", split="test")
    assert example.source_run_id == root.id and example.outputs == {"output": "42"} and example.split == "test"
    assert client.create_examples_from_runs("team/qa", [r.id for r in llm]) == 2
    assert client.create_examples_from_filter("team/qa", "shared", filter='eq(name, "double")') == 3
    assert client.create_examples_from_filter("team/qa", "shared", run_type="llm", filter=lambda r: "question 0" in str(r.inputs)) == 1
    examples = client.list_examples("team/qa")
    assert len(examples) == 11 and [e.inputs for e in examples[:4]] == [{"q": str(i)} for i in range(4)]
    assert [e.inputs for e in client.list_examples("team/qa", split="train")] == [{"q": "1"}, {"q": "3"}]
    assert len(client.list_examples("team/qa", limit=3, offset=9)) == 2
    changed = client.update_example(examples[0].id, outputs=None, metadata={"checked": True})
    assert changed.outputs is None and changed.metadata == {"checked": True} and changed.inputs == {"q": "0"}
    client.delete_example(examples[1].id)
    assert client.read_dataset("team/qa").example_count == 10

    assert client.export_dataset("team/qa", "jsonl", tmp_path / "qa.jsonl") == 10
    assert client.export_dataset("team/qa", "csv", tmp_path / "qa.csv") == 10
    imported = client.import_dataset(tmp_path / "qa.jsonl", name="copy")
    assert imported.example_count == 10
    assert client.export_runs("shared", "jsonl", tmp_path / "runs.jsonl", run_type="llm") == 3
    assert client.export_runs("shared", "csv", tmp_path / "runs.csv", filter='eq(name, "pipeline")') == 3
    assert json.loads((tmp_path / "runs.jsonl").read_text().splitlines()[0])["inputs"]

    renamed = client.rename_dataset("copy", "copy2")
    assert client.update_dataset("copy2", description="again").description == "again" and renamed.name == "copy2"
    assert sorted(d.name for d in client.list_datasets()) == ["copy2", "team/qa"]
    client.delete_dataset("copy2")

    with pytest.raises(NotFound):
        client.read_run("01a21388-e793-75be-87a5-d85acbc099a0")
    with pytest.raises(NotFound):
        client.read_dataset("nope")
    with pytest.raises(ValueError, match="filter"):
        client.list_runs(filter="eq(name,")
    with pytest.raises(ValueError):
        client.create_dataset("team/qa")


def test_client_lists_runs_a_page_per_request_and_feedback_without_run_ids(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracer.remote_http import http_client

    _remote(monkeypatch, server.url, project="many")
    for i in range(120):
        double(i)
    _delivered(server)
    client = tracer.Client()
    requests: list[str] = []
    monkeypatch.setattr(http_client(), "event_hooks", {"request": [lambda request: requests.append(request.url.path)], "response": []})

    runs = client.list_runs(project_name="many", limit=100)
    assert len(runs) == 100 and requests == ["/api/v1/runs/full"]
    assert runs[0] == client.read_run(runs[0].id) and runs == sorted(runs, key=lambda r: r.start_time, reverse=True)
    requests.clear()
    assert [r.id for r in client.list_runs(project_name="many", limit=None, offset=100)] == [r.id for r in client.list_runs(project_name="many", limit=None)][100:]
    assert len(requests) == 2

    given = [client.create_feedback(run.id, "thumbs" if i % 2 else "note", score=i) for i, run in enumerate(runs[:5])]
    requests.clear()
    assert [f.id for f in client.list_feedback()] == [f.id for f in given] and requests == ["/api/v1/feedback"]
    assert [f.id for f in client.list_feedback(feedback_key=["thumbs"])] == [f.id for f in given[1::2]]


def test_client_feedback_on_a_run_still_queued_flushes_first(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _remote(monkeypatch, server.url)
    with trace("just now") as run:
        pass
    feedback = tracer.Client().create_feedback(run.id, "thumbs", score=1)
    assert feedback.run_id == run.id


def test_client_names_the_api_key_variable_on_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from viewer import create_app
    from viewer.serving import BackgroundServer

    from tracer.client_remote import RemoteError

    with BackgroundServer(create_app(f"sqlite:///{tmp_path / 'keyed.db'}", api_key="right-key")) as served:
        _remote(monkeypatch, served.url, key="wrong-key")
        with pytest.raises(RemoteError, match="LANGSMITH_API_KEY or LANGCHAIN_API_KEY") as caught:
            tracer.Client().list_datasets()
        assert caught.value.status == 401 and "wrong-key" not in str(caught.value)
        assert tracer.Client(api_key="right-key").list_datasets() == []
        _writer.close_all(timeout=10)


def test_client_without_a_server_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracer.client_remote import RemoteError

    _remote(monkeypatch, f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(RemoteError, match="Could not reach"):
        tracer.Client().list_projects()


def test_traced_program_exits_with_every_run_on_the_real_server(server: Any, tmp_path: Path) -> None:
    program = "from tracer import traceable\n\n@traceable\ndef step(i):\n    return i\n\nfor i in range(200):\n    step(i)\n"
    env = {"LANGSMITH_TRACING": "true", "LANGSMITH_ENDPOINT": server.url, "LANGSMITH_PROJECT": "exit", "TRACER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "chat-tracer" not in done.stderr, done.stderr
    from viewer.langsmith.ingest import drain

    assert drain(server.app, timeout=30)
    assert tracer.Client(endpoint=server.url).list_projects()[0].run_count == 200
