"""A fake chat-model provider: a real HTTP server on 127.0.0.1 that answers from a script.

Each test scripts what the "provider" does next, in order, one item per HTTP request:

    server.script(Reply("Hello there!", usage=Usage(12, 7)))
    server.script(Error(429, retry_after="0"), Reply("after the rate limit"))
    server.script(Drop(after_events=3), Malformed(), Slow(1.0), StreamError(after_events=2))

The request path picks the wire format (`openai_wire`, `anthropic_wire`, `gemini_wire`), which
renders the scripted item the way that provider's API reference documents it: one JSON body,
or server-sent events written and flushed one by one (HTTP/1.1 chunked), with `Reply.delay`
seconds between events or a pause after `Reply.pause_after` events until `server.resume()`.
A first path segment naming an OpenAI-compatible flavour (`/mistral/v1/chat/completions`,
`/together/...`, `/fireworks/...`) selects that provider's variant of the OpenAI format.

The wire also checks what the real API checks (the auth header, required fields, roles, tool
results that answer a tool call...) and answers those mistakes with the provider's own 400/401
error, so a test that expected success fails with the reason in the exception.

Every request is recorded (`server.requests`: method, path, query, headers, JSON body). With an
empty script the server answers `server.default` if set, else a 418 error saying nothing was
scripted (418 is never retried).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import parse_qsl, urlsplit

import pytest

__all__ = [
    "Usage",
    "ToolCall",
    "Reply",
    "Error",
    "Drop",
    "Malformed",
    "Slow",
    "StreamError",
    "Request",
    "FakeProviderServer",
    "fake_provider",
]

_PIECE = re.compile(r"\s*\S+|\s+")


# -- what a test scripts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Token counts, provider-neutral: `input` counts every prompt token (cached ones too),
    `output` every generated token (reasoning ones too). Each wire writes them the way its API
    reports them (Anthropic leaves cache reads out of `input_tokens`, Gemini reasoning out of
    `candidatesTokenCount`)."""

    input: int
    output: int
    cached: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict[str, Any]
    id: str = "call_fake_1"

    def arg_fragments(self, parts: int = 3) -> list[str]:
        """The arguments' JSON cut into `parts` pieces (streams send them like this)."""
        text = json.dumps(self.args)
        size = max(1, -(-len(text) // parts))
        return [text[i : i + size] for i in range(0, len(text), size)]


DEFAULT_USAGE = Usage(12, 7)


@dataclass
class Reply:
    """A successful answer. `text` as a list gives the exact streamed pieces; as a string it is
    streamed word by word. `usage=None`: the answer reports no usage at all. `finish` is neutral
    ("stop", "length", "tool_calls"; default from the tool calls), each wire writes its own.
    `echo=True` answers "echo: <last user text>" (for batches)."""

    text: str | list[str] = "Hello from the fake provider!"
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = DEFAULT_USAGE
    finish: str | None = None
    model: str | None = None
    id: str | None = None
    echo: bool = False
    delay: float = 0.0
    pause_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def pieces(self) -> list[str]:
        if isinstance(self.text, list):
            return list(self.text)
        return _PIECE.findall(self.text)

    @property
    def full_text(self) -> str:
        return "".join(self.pieces())

    @property
    def finish_reason(self) -> str:
        return self.finish or ("tool_calls" if self.tool_calls else "stop")


@dataclass
class Error:
    """An error status with the provider's error body (`message`/`type` default per status)."""

    status: int
    message: str | None = None
    type: str | None = None
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Drop:
    """Close the connection abruptly: a stream after `after_events` events, a JSON answer
    after half its body."""

    after_events: int = 2
    reply: Reply = field(default_factory=Reply)


@dataclass
class Malformed:
    """200 with a body that is not JSON; in a stream, `after_events` good events then a bad one."""

    after_events: int = 1
    reply: Reply = field(default_factory=Reply)


@dataclass
class Slow:
    """Wait `seconds` before answering at all (interrupted when the server stops)."""

    seconds: float
    then: Any = field(default_factory=Reply)


@dataclass
class StreamError:
    """A stream that starts well and then carries the provider's in-stream error event."""

    after_events: int = 2
    status: int = 529
    message: str | None = None
    reply: Reply = field(default_factory=Reply)


Scripted = Union[Reply, Error, Drop, Malformed, Slow, StreamError]


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any
    wire: str | None = None
    flavor: str | None = None
    stream: bool = False
    time: float = 0.0


# -- the server ----------------------------------------------------------------------------------


class _Abort(Exception):
    """The handler closed the connection on purpose."""


class FakeProviderServer:
    """The fake provider. `url` is its base URL; `start()`/`stop()` run it in a thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._httpd = _HTTPServer((host, 0), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._queue: deque[Scripted] = deque()
        self.default: Scripted | None = None
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self.paused = threading.Event()
        self._resume = threading.Event()
        self._connections: set[socket.socket] = set()
        #: Streams that ended (normally or not) and how many events each sent.
        self.events_sent: list[int] = []

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting -----------------------------------------------------------------------------

    def script(self, *items: Scripted) -> FakeProviderServer:
        """Queue what the next requests get, in order."""
        with self._lock:
            self._queue.extend(items)
        return self

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _next(self) -> Scripted | None:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def resume(self) -> None:
        """Let a stream paused by `Reply.pause_after` go on."""
        self._resume.set()

    def wait_paused(self, timeout: float = 5.0) -> bool:
        return self.paused.wait(timeout)

    # -- what was received ---------------------------------------------------------------------

    @property
    def last(self) -> Request:
        assert self.requests, "the fake provider received no request"
        return self.requests[-1]

    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    # -- lifetime ------------------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.005}, name="fake-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._resume.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            _close_hard(conn)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeProviderServer


def _close_hard(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        conn.close()
    except OSError:
        pass


def _wire_for(path: str) -> tuple[Any, str | None]:
    """The wire module object that speaks the format of `path`, and the flavour."""
    from . import anthropic_wire, gemini_wire, openai_wire

    first = path.lstrip("/").split("/", 1)[0]
    if path.endswith("/chat/completions"):
        flavor = first if first in openai_wire.FLAVORS else "openai"
        return openai_wire.OpenAIWire(flavor), flavor
    if path.endswith("/v1/messages"):
        return anthropic_wire.AnthropicWire(), None
    if re.search(r"/models/[^/]+:(stream)?[gG]enerateContent$", path):
        return gemini_wire.GeminiWire(), None
    return None, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    # Quiet: failures show up in the tests, not on stderr.
    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeProviderServer:
        return self.server.fake

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every answer on a kept-alive connection for ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except (_Abort, OSError, ValueError):
            pass

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        try:
            super().finish()
        except (OSError, ValueError):
            pass

    # -- one request ---------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._send_json(404, {"error": {"message": f"The fake provider has no GET {self.path}"}})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        wire, flavor = _wire_for(parts.path)
        request = Request(
            method="POST",
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            raw=raw,
            body=body,
            wire=getattr(wire, "name", None),
            flavor=flavor,
            time=time.monotonic(),
        )
        if wire is not None:
            request.stream = wire.stream_requested(request)
        with self.fake._lock:
            self.fake.requests.append(request)
        if wire is None:
            self._send_json(404, {"error": {"message": f"The fake provider speaks no API at {parts.path}"}})
            return
        if body is None or not isinstance(body, dict):
            self._send_error(wire, request, Error(400, "The request body is not a JSON object."))
            return
        problem = wire.check(request)
        if problem is not None:
            self._send_error(wire, request, problem)
            return
        item = self.fake._next()
        if item is None:
            self._send_json(418, {"error": {"message": "Nothing was scripted for this request (fake provider)."}})
            return
        self._answer(wire, request, item)

    def _answer(self, wire: Any, request: Request, item: Scripted) -> None:
        if isinstance(item, Slow):
            if self.fake.stopping.wait(item.seconds):
                raise _Abort
            self._answer(wire, request, item.then)
        elif isinstance(item, Error):
            self._send_error(wire, request, item)
        elif isinstance(item, Reply):
            reply = _resolve(wire, request, item)
            if request.stream:
                self._send_events(wire.events(reply, request), wire.stream_content_type(request), reply)
            else:
                self._send_json(200, wire.response(reply, request), reply.headers)
        elif isinstance(item, Drop):
            reply = _resolve(wire, request, item.reply)
            if request.stream:
                self._send_events(wire.events(reply, request)[: item.after_events], wire.stream_content_type(request), reply, drop=True)
            else:
                data = json.dumps(wire.response(reply, request)).encode()
                self._start(200, "application/json", {"content-length": str(len(data))})
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self._drop()
        elif isinstance(item, Malformed):
            reply = _resolve(wire, request, item.reply)
            if request.stream:
                events = wire.events(reply, request)[: item.after_events] + [wire.malformed_event()]
                self._send_events(events, wire.stream_content_type(request), reply)
            else:
                self._send_raw(200, "application/json", b'{"id": "broken", "choices": [{"message": ')
        elif isinstance(item, StreamError):
            reply = _resolve(wire, request, item.reply)
            error = Error(item.status, item.message)
            if request.stream:
                events = wire.events(reply, request)[: item.after_events] + [wire.error_event(error)]
                self._send_events(events, wire.stream_content_type(request), reply)
            else:
                self._send_error(wire, request, error)
        else:  # pragma: no cover - a test scripted something unknown
            raise TypeError(f"Cannot answer with {item!r}")

    # -- writing -------------------------------------------------------------------------------

    def _start(self, status: int, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _send_raw(self, status: int, content_type: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        self._start(status, content_type, {**(headers or {}), "content-length": str(len(data))})
        self.wfile.write(data)
        self.wfile.flush()

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, "application/json", json.dumps(body, ensure_ascii=False).encode(), headers)

    def _send_error(self, wire: Any, request: Request, error: Error) -> None:
        headers = dict(wire.error_headers(error))
        if error.retry_after is not None:
            headers["retry-after"] = error.retry_after
        headers.update(error.headers)
        self._send_json(error.status, wire.error_body(error), headers)

    def _send_events(self, events: list[str], content_type: str, reply: Reply, *, drop: bool = False) -> None:
        """Each event in its own HTTP chunk, flushed; then the last chunk, or a dropped socket."""
        self._start(200, content_type, {"transfer-encoding": "chunked", "cache-control": "no-cache", **reply.headers})
        sent = 0
        try:
            for i, event in enumerate(events):
                if i and reply.delay and self.fake.stopping.wait(reply.delay):
                    raise _Abort
                if reply.pause_after is not None and i == reply.pause_after:
                    self.fake.paused.set()
                    self.fake._resume.wait(5)
                    self.fake.paused.clear()
                    self.fake._resume.clear()
                data = event.encode()
                self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                sent += 1
            if drop:
                self._drop()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            with self.fake._lock:
                self.fake.events_sent.append(sent)

    def _drop(self) -> None:
        time.sleep(0.01)  # let what was written leave before the FIN
        self.close_connection = True
        _close_hard(self.connection)
        raise _Abort


def _resolve(wire: Any, request: Request, reply: Reply) -> Reply:
    """The reply as sent: echo filled in, the model named after the request's."""
    changes: dict[str, Any] = {}
    if reply.echo:
        changes["text"] = f"echo: {wire.last_user_text(request)}"
    if reply.model is None:
        changes["model"] = wire.request_model(request)
    if not changes:
        return reply
    return Reply(**{**reply.__dict__, **changes})


@pytest.fixture
def fake_provider() -> Iterator[FakeProviderServer]:
    """A running fake provider on 127.0.0.1 (ephemeral port), stopped after the test."""
    server = FakeProviderServer().start()
    try:
        yield server
    finally:
        server.stop()
