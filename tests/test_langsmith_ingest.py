"""LangSmith ingestion on a real server: the official `langsmith` client and `langchain-core`
send to a `BackgroundServer` on 127.0.0.1, in each of the client's modes (zstd multipart, plain
multipart, JSON batch, the legacy single-run calls), and hand-made requests probe the edges:
large batches, posts and patches split across requests, and every malformed request, which
must get a 4xx with a message and leave the store as it was.

The client reads its settings from the environment behind caches (`_reset_langsmith`), and keeps
one cached client that it shares with langchain-core; each test gets a fresh one, flushed with
a timeout, then `ingest.drain` waits for the server's queue: no sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import langsmith
import langsmith.run_trees
import langsmith.utils
import pytest
import zstandard
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langsmith.schemas import Attachment

from tracer.store import NotFound, Store, open_store
from tracer.store.browse_feedback import list_feedback
from viewer import STORE_EXTENSION, close_app, create_app
from viewer.langsmith import ingest
from viewer.langsmith.queue import Batch, IngestQueue
from viewer.serving import BackgroundServer

USAGE = {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}
BOUNDARY = "b7d1c0ffee"
START = datetime(2026, 11, 25, 16, 0, tzinfo=timezone.utc)


# -- fixtures -----------------------------------------------------------------------------------


def _reset_langsmith() -> None:
    """Forget the client's cached settings and its cached client (set again from the env)."""
    langsmith.utils.get_env_var.cache_clear()
    langsmith.utils.get_tracer_project.cache_clear()
    langsmith.run_trees._parse_write_replicas_from_env_var.cache_clear()
    langsmith.run_trees._CLIENT = None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., BackgroundServer]]:
    """Start a server over a fresh store, with `create_app` keywords and app config."""
    servers: list[BackgroundServer] = []

    def start(*, api_key: str | None = None, **config: Any) -> BackgroundServer:
        config.setdefault("TRACER_ATTACHMENTS_DIR", str(tmp_path / "attachments"))
        app = create_app(f"sqlite:///{tmp_path / f'ingest{len(servers)}.db'}", api_key=api_key, test_config=config)
        servers.append(BackgroundServer(app))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def server(serve: Callable[..., BackgroundServer]) -> BackgroundServer:
    return serve()


@pytest.fixture
def traced_by(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., langsmith.Client]]:
    """Point the official client (and langchain-core) at a server, as a user would: through the
    environment. Returns the cached client both use; it is flushed and closed after the test."""
    clients: list[langsmith.Client] = []

    def point(url: str, *, api_key: str = "any-key", **env: str) -> langsmith.Client:
        for name, value in {
            "LANGSMITH_ENDPOINT": url,
            "LANGCHAIN_ENDPOINT": url,
            "LANGCHAIN_TRACING_V2": "true",
            "LANGCHAIN_PROJECT": "ingest-tests",
            "LANGSMITH_API_KEY": api_key,
            **env,
        }.items():
            monkeypatch.setenv(name, value)
        _reset_langsmith()
        clients.append(langsmith.run_trees.get_cached_client())
        return clients[-1]

    yield point
    for client in clients:
        client.close(timeout=10)
    _reset_langsmith()


def _store(server: BackgroundServer) -> Store:
    return server.app.extensions[STORE_EXTENSION]  # type: ignore[no-any-return]


def _delivered(client: langsmith.Client, server: BackgroundServer) -> Store:
    """Everything the client traced, stored: its queue flushed, then the server's drained."""
    client.flush(timeout=30)
    assert ingest.drain(server.app, 30)
    assert server.app.extensions[ingest.QUEUE_EXTENSION].failed == 0
    return _store(server)


def _runs(store: Store, project: str = "ingest-tests") -> dict[str, Any]:
    return {run.name: run for run in store.list_runs(project_name=project, limit=1000)}


# -- the official client, each mode ---------------------------------------------------------------


@langsmith.traceable(name="inner")
def _inner(x: int) -> int:
    return x * 2


@langsmith.traceable(name="outer")
def _outer(x: int) -> int:
    return _inner(x) + 1


@langsmith.traceable(name="fails")
def _fails() -> None:
    raise RuntimeError("boom")


def _chain() -> Any:
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Regularization avoids overfitting.", usage_metadata=USAGE)]))
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief"), ("human", "{question}")])
    return prompt | model | StrOutputParser()


def _trace_an_app() -> str:
    """Nested traceables, a failing one, and a prompt | model | parser chain; the chain's answer."""
    assert _outer(20) == 41
    with pytest.raises(RuntimeError):
        _fails()
    return str(_chain().invoke({"question": "Why regularize?"}))


def _assert_app_stored(store: Store) -> None:
    runs = _runs(store)
    assert {"outer", "inner", "fails", "RunnableSequence", "ChatPromptTemplate", "GenericFakeChatModel", "StrOutputParser"} <= set(runs)
    assert runs["outer"].outputs == {"output": 41} and runs["outer"].status == "success"
    assert str(runs["inner"].parent_run_id) == str(runs["outer"].id)
    assert str(runs["inner"].trace_id) == str(runs["outer"].id)
    assert runs["fails"].status == "error" and "boom" in (runs["fails"].error or "")
    llm = runs["GenericFakeChatModel"]
    assert llm.run_type == "llm" and llm.status == "success"
    assert (llm.prompt_tokens, llm.completion_tokens, llm.total_tokens) == (12, 5, 17)
    assert str(llm.parent_run_id) == str(runs["RunnableSequence"].id)


def test_zstd_multipart_through_the_root_url(server: BackgroundServer, traced_by: Callable[..., langsmith.Client]) -> None:
    client = traced_by(server.url)
    assert client.info.instance_flags["zstd_compression_enabled"] is True
    assert _trace_an_app() == "Regularization avoids overfitting."
    _assert_app_stored(_delivered(client, server))


def test_plain_multipart(server: BackgroundServer, traced_by: Callable[..., langsmith.Client]) -> None:
    client = traced_by(server.url + "/langsmith", LANGSMITH_DISABLE_RUN_COMPRESSION="true")
    _trace_an_app()
    _assert_app_stored(_delivered(client, server))


def test_json_batch_mode(serve: Callable[..., BackgroundServer], traced_by: Callable[..., langsmith.Client]) -> None:
    server = serve(TRACER_LANGSMITH_MODE="batch")
    client = traced_by(server.url)
    assert client.info.batch_ingest_config["use_multipart_endpoint"] is False
    _trace_an_app()
    _assert_app_stored(_delivered(client, server))


def test_legacy_single_run_calls(server: BackgroundServer, traced_by: Callable[..., langsmith.Client]) -> None:
    traced_by(server.url)
    client = langsmith.Client(auto_batch_tracing=False)  # POST /runs, PATCH /runs/<id>, in the caller's thread
    run_id = uuid.uuid4()  # no trace_id, no dotted_order: the server derives them
    client.create_run("legacy", inputs={"q": "hi"}, run_type="chain", id=run_id, project_name="ingest-tests")
    client.update_run(run_id, outputs={"a": "hello"}, end_time=datetime.now(timezone.utc))
    assert ingest.drain(server.app, 30)
    run = _store(server).read_run(run_id)
    assert run.inputs == {"q": "hi"} and run.outputs == {"a": "hello"} and run.status == "success"
    assert str(run.trace_id) == str(run_id)
    client.close(timeout=10)


def test_feedback_parts_and_attachments(server: BackgroundServer, traced_by: Callable[..., langsmith.Client]) -> None:
    client = traced_by(server.url)

    @langsmith.traceable(name="with_file")
    def with_file(question: str, doc: Attachment) -> str:
        return question.upper()

    run = langsmith.run_trees.RunTree(name="root", run_type="chain", inputs={"q": 1}, client=client)
    run.post()
    run.end(outputs={"a": 2})
    run.patch()
    with_file("hi", Attachment(mime_type="text/plain", data=b"hello file"))
    client.flush(timeout=30)  # the runs first (feedback that comes before its run is kept too)
    with pytest.warns(langsmith.utils.LangSmithWarning, match="session_id"):  # the client's own warning
        client.create_feedback(run.id, key="helpfulness", score=0.75, comment="batched", trace_id=run.id)
    store = _delivered(client, server)
    [feedback] = list_feedback(store, run_ids=[str(run.id)])
    assert (feedback.key, feedback.score, feedback.comment) == ("helpfulness", 0.75, "batched")
    stored = _runs(store)["with_file"]
    digest = hashlib.sha256(b"hello file").hexdigest()
    assert stored.model_dump()["extra"]["attachments"]["doc"] == {"mime_type": "text/plain", "size": 10, "sha256": digest}
    assert (Path(server.app.config["TRACER_ATTACHMENTS_DIR"]) / digest[:2] / digest).read_bytes() == b"hello file"


def test_info_advertises_every_key_the_client_requires(server: BackgroundServer) -> None:
    info = httpx.get(server.url + "/info", headers={"Accept": "application/json"}).json()
    config = info["batch_ingest_config"]
    assert {"size_limit", "scale_up_nthreads_limit", "scale_up_qsize_trigger", "scale_down_nempty_trigger"} <= set(config)
    assert config["size_limit_bytes"] == 20 * 1024 * 1024 and config["use_multipart_endpoint"] is True
    assert tuple(int(n) for n in info["version"].split(".")) >= (0, 16, 0)
    assert info["instance_flags"] == {"zstd_compression_enabled": True} and info["license_expiration_time"] is None


# -- hand-made requests -----------------------------------------------------------------------------


def _run(run_id: str, kind: str = "post", **fields: Any) -> dict[str, Any]:
    start = START + timedelta(seconds=int(run_id[-4:], 16) % 1000)
    base = {"id": run_id, "trace_id": run_id, "name": f"hand-{run_id[:8]}", "run_type": "chain", "session_name": "hand",
            "start_time": start.isoformat(), "dotted_order": start.strftime("%Y%m%dT%H%M%S%fZ") + run_id}
    if kind == "patch":
        base["end_time"] = (start + timedelta(seconds=1)).isoformat()
    return {**base, **fields}


def _parts(kind: str, run: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """A run op as the client splits it: the main part, then one part per large field."""
    main = {k: v for k, v in run.items() if k not in ingest.RUN_FIELDS}
    parts = [(f"{kind}.{run['id']}", json.dumps(main).encode(), "application/json")]
    parts += [(f"{kind}.{run['id']}.{k}", json.dumps(v).encode(), "application/json") for k, v in run.items() if k in ingest.RUN_FIELDS]
    return parts


def _body(parts: list[tuple[str, bytes, str]], boundary: str = BOUNDARY) -> bytes:
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n\r\n'.encode()
        + data + b"\r\n"
        for name, data, kind in parts
    ]
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def _send(server: BackgroundServer, body: bytes, *, zstd: bool = False, headers: dict[str, str] | None = None, path: str = "/runs/multipart") -> httpx.Response:
    sent = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Accept": "application/json", **(headers or {})}
    if zstd:
        body, sent["Content-Encoding"] = zstandard.ZstdCompressor().compress(body), "zstd"
    return httpx.post(server.url + "/langsmith" + path, content=body, headers=sent, timeout=30)


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def test_a_batch_of_100_runs_with_200_kb_inputs_each(server: BackgroundServer) -> None:
    ids = _ids(100)
    inputs = {run_id: {"text": os.urandom(100_000).hex()} for run_id in ids}  # random: barely compressible
    parts = [part for run_id in ids for part in _parts("post", _run(run_id, inputs=inputs[run_id], outputs={"n": 1}))]
    body = _body(parts)
    assert len(body) > 20_000_000 and len(parts) == 300
    answer = _send(server, body, zstd=True)
    assert answer.status_code == 202, answer.text
    assert ingest.drain(server.app, 60)
    store = _store(server)
    assert store.count_runs("hand") == 100
    assert store.read_run(ids[57]).inputs == inputs[ids[57]]


@pytest.mark.parametrize("patch_first", [False, True], ids=["post-then-patch", "patch-then-post"])
def test_posts_and_patches_split_across_requests(server: BackgroundServer, patch_first: bool) -> None:
    ids = _ids(3)
    posts = [p for run_id in ids for p in _parts("post", _run(run_id, inputs={"q": run_id}, outputs={}, events=[{"name": "start"}]))]
    patches = [p for run_id in ids for p in _parts("patch", _run(run_id, "patch", outputs={"a": run_id[:4]}, events=[{"name": "start"}, {"name": "end"}]))]
    for parts in (patches, posts) if patch_first else (posts, patches):
        assert _send(server, _body(parts), zstd=True).status_code == 202
    assert ingest.drain(server.app, 30)
    for run_id in ids:
        run = _store(server).read_run(run_id)
        assert run.inputs == {"q": run_id} and run.outputs == {"a": run_id[:4]} and run.status == "success" and run.end_time


def test_post_and_patch_in_one_request_apply_in_order(server: BackgroundServer) -> None:
    [run_id] = _ids(1)
    parts = _parts("patch", _run(run_id, "patch", outputs={"a": 1})) + _parts("post", _run(run_id, inputs={"q": 1}, outputs={}))
    assert _send(server, _body(parts)).status_code == 202
    assert ingest.drain(server.app, 30)
    run = _store(server).read_run(run_id)
    assert run.outputs == {"a": 1} and run.inputs == {"q": 1} and run.status == "success"


def test_json_batch_and_legacy_endpoints_by_hand(server: BackgroundServer) -> None:
    a, b = _ids(2)
    body = json.dumps({"post": [_run(a, inputs={"x": 1})], "patch": [_run(a, "patch", outputs={"y": 2})]}).encode()
    assert _send(server, body, headers={"Content-Type": "application/json"}, path="/runs/batch").status_code == 202
    legacy = {k: v for k, v in _run(b, inputs={"x": 3}, attachments={}).items() if k not in ("trace_id", "dotted_order")}
    assert _send(server, json.dumps(legacy).encode(), headers={"Content-Type": "application/json"}, path="/runs").status_code == 202
    update = json.dumps({"outputs": {"y": 4}, "end_time": (START + timedelta(hours=1)).isoformat(), "name": None}).encode()
    answer = httpx.patch(f"{server.url}/runs/{b}", content=update, headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert answer.status_code == 202, answer.text
    assert ingest.drain(server.app, 30)
    store = _store(server)
    assert store.read_run(a).outputs == {"y": 2}
    run_b = store.read_run(b)
    assert run_b.outputs == {"y": 4} and run_b.name == legacy["name"] and str(run_b.trace_id) == b


# -- refused requests: a 4xx with a message, and nothing written -------------------------------------


def _counts(server: BackgroundServer) -> tuple[int, int, int]:
    """Runs, run-log rows and feedback rows in the server's store."""
    assert ingest.drain(server.app, 30)
    path = str(_store(server).engines.url.database)
    with sqlite3.connect(path) as db:
        return tuple(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("runs", "run_log", "feedback"))  # type: ignore[return-value]


def _good() -> list[tuple[str, bytes, str]]:
    [run_id] = _ids(1)
    return _parts("post", _run(run_id, inputs={"q": 1}))


REFUSED: dict[str, tuple[Callable[[], tuple[bytes, dict[str, Any]]], int, str]] = {
    "malformed multipart": (lambda: (b"this is not multipart at all", {}), 400, "boundary"),
    "no boundary": (lambda: (_body(_good()), {"headers": {"Content-Type": "multipart/form-data"}}), 400, "boundary"),
    "not multipart": (lambda: (_body(_good()), {"headers": {"Content-Type": "application/json"}}), 400, "multipart/form-data"),
    "header without colon": (lambda: (_body(_good()).replace(b"Content-Length", b"Content Length", 1), {}), 400, "header"),
    "truncated body": (lambda: (_body(_good() + _good())[:-40], {}), 400, "truncated"),
    "truncated zstd": (lambda: (zstandard.ZstdCompressor().compress(_body(_good()))[:-9], {"headers": {"Content-Encoding": "zstd"}}), 400, ""),
    "bad zstd": (lambda: (b"\x28\xb5\x2f\xfd garbage " * 8, {"headers": {"Content-Encoding": "zstd"}}), 400, "zstd"),
    "gzip": (lambda: (_body(_good()), {"headers": {"Content-Encoding": "gzip"}}), 415, "zstd"),
    "oversized": (lambda: (_body(_good() + [("post.x.inputs", b"0" * 300_000, "application/json")]), {}), 413, "larger"),
    "zstd bomb": (lambda: (_body(_good() + [(f"post.{uuid.uuid4()}.inputs", b'"' + b"0" * 1_000_000 + b'"', "application/json")]), {"zstd": True}), 413, "decompressed"),
    "bad json part": (lambda: (_body(_good() + [(f"post.{uuid.uuid4()}", b"{not json", "application/json")]), {}), 400, "not valid JSON"),
    "unknown part kind": (lambda: (_body(_good() + [(f"delete.{uuid.uuid4()}", b"{}", "application/json")]), {}), 400, "Unknown part kind"),
    "unknown run field": (lambda: (_body(_good() + [(f"post.{uuid.uuid4()}.secrets", b"{}", "application/json")]), {}), 400, "Unknown run field"),
    "bad run id": (lambda: (_body(_good() + [("post.not-a-uuid", b"{}", "application/json")]), {}), 400, "not-a-uuid"),
    "id differs from its part": (lambda: (_body(_good() + [(f"post.{uuid.uuid4()}", json.dumps(_run(str(uuid.uuid4()))).encode(), "application/json")]), {}), 400, "holds the id"),
    "bad start time": (lambda: (_body(_good() + _parts("post", _run(str(uuid.uuid4()), start_time="yesterday"))), {}), 400, "start_time"),
    "part twice": (lambda: (_body(_good() * 2), {}), 400, "twice"),
    "unknown run": (lambda: (_body(_good() + [(f"patch.{uuid.uuid4()}", b'{"outputs": {"a": 1}}', "application/json")]), {}), 404, "unknown"),
    "attachment alone": (lambda: (_body(_good() + [(f"attachment.{uuid.uuid4()}.doc", b"x", "text/plain")]), {}), 400, "without its post"),
    "feedback not an object": (lambda: (_body(_good() + [(f"feedback.{uuid.uuid4()}", b"[1]", "application/json")]), {}), 400, "object"),
    "feedback without key": (lambda: (_body(_good() + [(f"feedback.{uuid.uuid4()}", b'{"run_id": "x"}', "application/json")]), {}), 400, "feedback"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_requests_write_nothing(serve: Callable[..., BackgroundServer], case: str) -> None:
    server = serve(TRACER_INGEST_SIZE_LIMIT_BYTES=64 * 1024)  # a cap of 256 KB, decompressed
    assert _send(server, _body(_good())).status_code == 202  # something stored already
    before = _counts(server)
    make, status, message = REFUSED[case]
    body, options = make()
    answer = _send(server, body, **options)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["status"] == status and message.lower() in error["message"].lower()
    assert _counts(server) == before


def test_refused_json_endpoints(server: BackgroundServer) -> None:
    before = _counts(server)
    json_headers = {"Content-Type": "application/json"}
    for path, body, fragment in (
        ("/runs/batch", b"[]", "object"),
        ("/runs/batch", b'{"post": [{"id": "nope"}]}', "nope"),
        ("/runs/batch", b'{"upsert": []}', "upsert"),
        ("/runs", b"{bad", "not valid JSON"),
        ("/runs", json.dumps({"name": "no id"}).encode(), "no id"),
    ):
        answer = _send(server, body, headers=json_headers, path=path)
        assert answer.status_code == 400 and fragment in answer.json()["error"]["message"], (path, answer.text)
    answer = httpx.patch(f"{server.url}/langsmith/runs/{uuid.uuid4()}", content=b'{"outputs": {}}', headers=json_headers)
    assert answer.status_code == 404 and "unknown" in answer.json()["error"]["message"]
    assert _counts(server) == before


# -- auth, back-pressure, shutdown --------------------------------------------------------------------


def test_a_server_with_a_key_refuses_ingestion_without_it(serve: Callable[..., BackgroundServer], traced_by: Callable[..., langsmith.Client]) -> None:
    server = serve(api_key="s3cret")
    for headers in ({}, {"x-api-key": "wrong"}):
        answer = _send(server, _body(_good()), headers=headers)
        assert answer.status_code == 401 and answer.json()["error"]["message"]
    assert httpx.get(server.url + "/info", headers={"Accept": "application/json"}).status_code == 401
    rebound = _send(server, _body(_good()), headers={"x-api-key": "s3cret", "Host": "evil.example"})
    assert rebound.status_code == 403  # the key never lifts the Host check
    assert _counts(server) == (0, 0, 0)
    client = traced_by(server.url, api_key="s3cret")  # no CSRF token needed, the key is enough
    _outer(1)
    assert _runs(_delivered(client, server))["outer"].outputs == {"output": 3}


def _locked(path: str) -> sqlite3.Connection:
    """Another connection holding SQLite's write lock: the store stalls until it commits."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_stalled_store_neither_blocks_nor_loses_requests(serve: Callable[..., BackgroundServer]) -> None:
    server = serve(TRACER_INGEST_QUEUE_BYTES=1)  # room for one waiting request
    holder = _locked(str(_store(server).engines.url.database))
    try:
        first, second = _good(), _good()
        assert _send(server, _body(first)).status_code == 202  # taken by the worker, which stalls
        queued = _send(server, _body(second))
        while queued.status_code == 429:  # until the worker has taken the first off the queue
            queued = _send(server, _body(second))
        assert queued.status_code == 202
        refused = _send(server, _body(_good()))
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert "busy" in refused.json()["error"]["message"]
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert ingest.drain(server.app, 30)
    assert _store(server).count_runs("hand") == 2


def test_closing_the_server_stores_what_it_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'closing.db'}"
    server = BackgroundServer(create_app(url))
    holder = _locked(str(tmp_path / "closing.db"))
    ids = []
    for _ in range(3):
        parts = _good()
        ids.append(parts[0][0].split(".", 1)[1])
        assert _send(server, _body(parts)).status_code == 202
    holder.execute("COMMIT")
    holder.close()
    server.close()  # drains the queue before the store closes
    with open_store(url) as store:
        assert [str(store.read_run(run_id).id) for run_id in ids] == ids


def test_one_request_the_store_refuses_does_not_sink_the_others(caplog: pytest.LogCaptureFixture) -> None:
    stored: list[str] = []

    def apply(batches: Any) -> None:
        if any(run.get("bad") for batch in batches for run in batch.runs):
            raise ValueError("the store refuses this")
        stored.extend(run["id"] for batch in batches for run in batch.runs)

    queue = IngestQueue(apply, max_bytes=1 << 20)
    for name in ("a", "b", "c"):
        assert queue.submit(Batch(runs=[{"id": name, "bad": name == "b"}], size=10))
    assert queue.close(30)
    assert stored == ["a", "c"] and queue.failed == 1
    assert "runs b" in caplog.text
    assert not queue.submit(Batch(runs=[{"id": "d"}], size=1))  # closed: refused, never lost


# -- any multipart body: never a 500, never half a request ---------------------------------------------

_UUIDS = st.uuids().map(str)
_FIELD = st.sampled_from(["", ".inputs", ".outputs", ".events", ".extra", ".error", ".serialized", ".bogus"])
_NAMES = st.one_of(
    st.tuples(st.sampled_from(["post", "patch"]), _UUIDS, _FIELD).map(lambda t: f"{t[0]}.{t[1]}{t[2]}"),
    st.tuples(_UUIDS, st.text("abc", min_size=0, max_size=3)).map(lambda t: f"attachment.{t[0]}.{t[1]}"),
    _UUIDS.map(lambda u: f"feedback.{u}"),
    st.text(min_size=0, max_size=20),
)
_CONTENT = st.one_of(
    st.builds(lambda u: json.dumps(_run(u)).encode(), _UUIDS),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=40),
)
_BOUNDARY_TEXT = st.text("abcdefXYZ0123456789'()+_,-./:=?", min_size=1, max_size=70)


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    boundary = draw(_BOUNDARY_TEXT)
    if draw(st.booleans()):  # well-formed ops, the usual case for a client
        parts = [p for u in draw(st.lists(_UUIDS, min_size=1, max_size=4)) for p in _parts(draw(st.sampled_from(["post", "patch"])), _run(u, inputs={"q": u}))]
    else:
        parts = draw(st.lists(st.tuples(_NAMES, _CONTENT, st.sampled_from(["application/json", "text/plain"])), max_size=6))
    body = _body(parts, boundary)
    cut = draw(st.one_of(st.none(), st.integers(0, len(body))))
    if cut is not None:
        body = body[:cut] + draw(st.binary(max_size=8)) + body[cut + draw(st.integers(0, 8)):]
    return body, draw(st.one_of(st.just(boundary), _BOUNDARY_TEXT))


@pytest.fixture
def any_app(tmp_path: Path) -> Iterator[Any]:
    """One app for all of the property's examples: a fresh store per example would take seconds."""
    app = create_app(f"sqlite:///{tmp_path / 'any.db'}", test_config={"TRACER_ATTACHMENTS_DIR": str(tmp_path / "files")})
    yield app
    close_app(app)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_bodies())
def test_any_multipart_body_is_stored_whole_or_refused(any_app: Any, case: tuple[bytes, str]) -> None:
    body, boundary = case
    store = any_app.extensions[STORE_EXTENSION]
    before = store.count_runs()
    answer = any_app.test_client().post("/langsmith/runs/multipart", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code in (202, 400, 404), answer.data
    event(f"answered {answer.status_code}")
    assert ingest.drain(any_app, 30)
    assert any_app.extensions[ingest.QUEUE_EXTENSION].failed == 0  # accepted means stored: never half
    if answer.status_code != 202:
        assert answer.get_json()["error"]["message"] and store.count_runs() == before
        return
    for run_id in {name.split(".")[1] for name in _names_in(body, boundary) if name.startswith(("post.", "patch."))}:
        try:
            store.read_run(run_id)
        except NotFound:
            pytest.fail(f"run {run_id} was accepted but not stored")


def _names_in(body: bytes, boundary: str) -> list[str]:
    from viewer.langsmith.multipart import Parser

    parser = Parser(boundary.encode())
    return [part.name for part in parser.feed(body)]
