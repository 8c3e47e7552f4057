"""The live streams over real HTTP: a real server on 127.0.0.1, runs written by the real tracer.

`/live/events` tells a runs page about new and changed runs of a project; `/live/runs/<id>`
streams one run's ops (tokens as they arrive) and closes with `done` when the run ends.
Every event carries its log position as `id:`, and `Last-Event-ID` resumes after it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

import tracer
from tracer.chat_models import FakeChatModel
from tracer.chat_models.fake import tokenize
from viewer import create_app
from viewer.serving import BackgroundServer

REPLY = "The quick brown fox jumps over the lazy dog while the tokens stream in one by one."


@dataclass
class Event:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


def events(source: httpx.Response | Iterator[str]) -> Iterator[Event]:
    """Parse a text/event-stream body (a response, or the rest of its lines); events without
    data (resume points) are skipped."""
    kind, data, last_id = "message", [], None
    lines = source.iter_lines() if isinstance(source, httpx.Response) else source
    for line in lines:
        if line == "":
            if data:
                yield Event(kind, "\n".join(data), last_id)
            kind, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                last_id = value


@pytest.fixture
def server(tracing: tracer.Settings) -> Iterator[str]:
    """The viewer over the tracer's own store, served by werkzeug on a free port."""
    app = create_app(test_config={"LIVE_POLL_SECONDS": 0.05, "LIVE_KEEPALIVE_SECONDS": 0.5, "LIVE_MAX_SECONDS": 20})
    with BackgroundServer(app) as served:
        yield served.url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=httpx.Timeout(10.0)) as http:
        yield http


def _seed_project() -> str:
    """One finished run, so the project exists; returns its run id."""
    handle_ids: list[str] = []

    @tracer.traceable(name="seed")
    def seed() -> str:
        return "ok"

    seed()
    assert tracer.flush(10)
    with tracer.trace("probe") as handle:
        handle_ids.append(str(handle.id))
    assert tracer.flush(10)
    return handle_ids[0]


def _in_background(fn: Any) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def _stream_reply(latency: float = 0.03) -> None:
    model = FakeChatModel([REPLY], latency=latency)
    for _ in model.stream("Tell me about foxes."):
        pass
    tracer.flush(10)


def _first(stream: Iterator[Event], kind: str, predicate: Any = lambda item: True, within: float = 15.0) -> Event:
    deadline = time.monotonic() + within
    for event in stream:
        if event.event == kind and predicate(event.json()):
            return event
        assert time.monotonic() < deadline, f"no matching {kind!r} event within {within} s"
    raise AssertionError(f"the stream ended before a matching {kind!r} event")


def _tokens(ops: list[dict[str, Any]]) -> list[str]:
    """The streamed pieces in these ops, in order (also inside a whole-document replace)."""
    pieces = []
    for op in ops:
        if op["op"] == "replace" and op["path"] == "":
            found = op["value"].get("events", [])
        elif op["op"] == "add" and op["path"] == "/events/-":
            found = [op["value"]]
        else:
            continue
        pieces += [e["kwargs"]["token"] for e in found if e.get("name") == "new_token" and e.get("kwargs")]
    return pieces


def _watch_new_llm_run(client: httpx.Client, start: Any) -> tuple[dict[str, Any], threading.Thread]:
    """Start `start` in the background once the project stream is open; the first llm run it shows."""
    with client.stream("GET", "/live/events", params={"project": "tests"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"].startswith("no-cache")
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")  # the stream is open: what happens now is shown
        worker = _in_background(start)
        row = _first(events(lines), "run", lambda r: r["run_type"] == "llm").json()
    return row, worker


# -- /live/events ---------------------------------------------------------------------------------


def test_a_run_started_by_the_tracer_appears_on_the_project_stream(client: httpx.Client) -> None:
    _seed_project()

    def traced() -> None:
        FakeChatModel(["Hi there, I am new."]).invoke("hello")
        tracer.flush(10)

    with client.stream("GET", "/live/events", params={"project": "tests", "scope": "root"}) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")
        worker = _in_background(traced)
        event = _first(events(lines), "run")
    worker.join(10)
    row = event.json()
    assert row["name"] == "FakeChatModel"
    assert row["run_type"] == "llm"
    assert row["status"] == "success"
    assert row["new"] is True
    assert row["parent_run_id"] is None
    assert row["model_name"] == "fake-chat"
    assert row["total_tokens"] and row["latency_ms"] is not None
    assert datetime.fromisoformat(row["start_time"]).utcoffset() == timedelta(0)
    assert isinstance(row["tags"], list)
    assert event.id == str(row["pos"])


def test_a_running_run_shows_as_running_then_changes(client: httpx.Client) -> None:
    _seed_project()
    with client.stream("GET", "/live/events", params={"project": "tests"}) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")
        worker = _in_background(lambda: _stream_reply(latency=0.05))
        stream = events(lines)
        first = _first(stream, "run").json()
        assert first["status"] == "running" and first["new"] is True and first["end_time"] is None
        last = _first(stream, "run", lambda r: r["id"] == first["id"] and r["status"] != "running").json()
    worker.join(10)
    assert last["status"] == "success" and last["new"] is False
    assert last["latency_ms"] > 0 and last["first_token_ms"] is not None
    assert last["pos"] > first["pos"]
    assert first["seq"] == 0 and last["seq"] > 0


def test_after_zero_replays_the_project_from_the_start_of_the_log(client: httpx.Client) -> None:
    _seed_project()
    with client.stream("GET", "/live/events", params={"project": "tests", "after": "0"}) as response:
        names = [_first(events(response), "run").json()["name"]]
    assert names == ["seed"]


def test_the_scope_parameter_filters_child_runs(client: httpx.Client) -> None:
    _seed_project()

    @tracer.traceable(name="parent")
    def parent() -> str:
        return FakeChatModel(["child reply"]).invoke("q").text

    parent()
    assert tracer.flush(10)
    with client.stream("GET", "/live/events", params={"project": "tests", "after": "0", "scope": "llm"}) as response:
        row = _first(events(response), "run").json()
    assert row["run_type"] == "llm" and row["parent_run_id"] is not None
    with client.stream("GET", "/live/events", params={"project": "tests", "after": "0", "scope": "root"}) as response:
        stream = events(response)
        seen = [_first(stream, "run").json()["name"] for _ in range(3)]
    assert seen == ["seed", "probe", "parent"]


# -- /live/runs/<id> ------------------------------------------------------------------------------


def test_streamed_tokens_arrive_as_ops_events_in_order(client: httpx.Client) -> None:
    _seed_project()
    row, worker = _watch_new_llm_run(client, lambda: _stream_reply(latency=0.03))
    received: list[Event] = []
    with client.stream("GET", f"/live/runs/{row['id']}") as response:
        assert response.status_code == 200
        for event in events(response):
            received.append(event)
    worker.join(10)
    ops_events = [e for e in received if e.event == "ops"]
    assert received[-1].event == "done"
    assert received[-1].json() == {"run_id": row["id"], "status": "success"}
    # Tokens came in several writes, not all at the end, and in the order they were streamed.
    assert len(ops_events) >= 3
    payloads = [e.json() for e in ops_events]
    assert [p["seq"] for p in payloads] == list(range(len(payloads)))
    positions = [p["pos"] for p in payloads]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert [e.id for e in ops_events] == [str(p) for p in positions]
    assert all(p["run_id"] == row["id"] for p in payloads)
    pieces = [piece for p in payloads for piece in _tokens(p["ops"])]
    assert "".join(pieces) == REPLY
    assert [piece for piece in pieces if piece] == list(tokenize(REPLY))
    assert sum(1 for p in payloads if _tokens(p["ops"])) >= 2


def test_last_event_id_resumes_after_that_position(client: httpx.Client) -> None:
    _seed_project()
    row, worker = _watch_new_llm_run(client, lambda: _stream_reply(latency=0.02))
    worker.join(10)
    url = f"/live/runs/{row['id']}"
    with client.stream("GET", url) as response:
        everything = [e for e in events(response) if e.event == "ops"]
    assert len(everything) >= 2
    middle = everything[len(everything) // 2 - 1]
    with client.stream("GET", url, headers={"Last-Event-ID": middle.id}) as response:
        resumed = [e for e in events(response)]
    assert [e.id for e in resumed if e.event == "ops"] == [e.id for e in everything[len(everything) // 2 :]]
    assert resumed[-1].event == "done"
    # The header wins over ?after=, which does the same for a first connection.
    with client.stream("GET", url, params={"after": middle.id}) as response:
        by_param = [e.id for e in events(response) if e.event == "ops"]
    assert by_param == [e.id for e in everything[len(everything) // 2 :]]
    with client.stream("GET", url, params={"after": "0"}, headers={"Last-Event-ID": everything[-1].id}) as response:
        assert [e.event for e in events(response)] == ["done"]


def test_a_finished_run_replays_then_says_done(client: httpx.Client) -> None:
    run_id = _seed_project()
    with client.stream("GET", f"/live/runs/{run_id}") as response:
        received = list(events(response))
    assert [e.event for e in received] == ["ops", "done"]
    (op,) = received[0].json()["ops"]
    assert op["op"] == "replace" and op["path"] == "" and op["value"]["name"] == "probe"
    assert received[1].json()["status"] == "success"


# -- the stream's lifetime ------------------------------------------------------------------------


def test_keepalives_carry_the_position_and_the_stream_ends_after_its_time(tracing: tracer.Settings) -> None:
    _seed_project()
    app = create_app(test_config={"LIVE_POLL_SECONDS": 0.05, "LIVE_KEEPALIVE_SECONDS": 0.2, "LIVE_MAX_SECONDS": 1.0})
    with BackgroundServer(app) as served:
        started = time.monotonic()
        with httpx.Client(base_url=served.url, timeout=10) as http:
            body = http.get("/live/events", params={"project": "tests"}).text
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 5
    lines = body.splitlines()
    assert lines[0] == "retry: 1000"
    assert lines.count(": keepalive") >= 3
    assert "event: run" not in lines  # without ?after= the stream starts now: no earlier runs
    position = next(line for line in lines if line.startswith("id: "))
    assert int(position.removeprefix("id: ")) >= 2  # the end of the log when the stream opened


def test_open_streams_do_not_block_other_requests(client: httpx.Client, server: str) -> None:
    _seed_project()
    with httpx.Client(base_url=server, timeout=10) as other:
        with client.stream("GET", "/live/events", params={"project": "tests"}) as one, other.stream(
            "GET", "/live/events", params={"project": "tests"}
        ) as two:
            assert one.status_code == two.status_code == 200
            started = time.monotonic()
            answer = httpx.get(f"{server}/live/events", params={"project": ""}, timeout=5)
            assert answer.status_code == 400
            assert time.monotonic() - started < 2


# -- bad requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "headers", "status"),
    [
        ("/live/events", {}, 400),
        ("/live/events?project=", {}, 400),
        ("/live/events?project=tests&after=abc", {}, 400),
        ("/live/events?project=tests&after=-1", {}, 400),
        ("/live/events?project=tests&after=1.5", {}, 400),
        ("/live/events?project=tests&after=%D9%A3", {}, 400),
        ("/live/events?project=tests&after=99999999999999999999999", {}, 400),
        ("/live/events?project=tests&scope=everything", {}, 400),
        ("/live/events?project=tests", {"Last-Event-ID": "yesterday"}, 400),
        ("/live/events?project=no-such-project", {}, 404),
        ("/live/runs/not-a-uuid", {}, 404),
        ("/live/runs/0190d7c6-0000-7000-8000-000000000000", {}, 404),
        ("/live/runs/{run_id}?after=x", {}, 400),
    ],
)
def test_bad_requests_get_a_sentence_not_a_stream(
    client: httpx.Client, url: str, headers: dict[str, str], status: int
) -> None:
    run_id = _seed_project()
    response = client.get(url.format(run_id=run_id), headers={"Accept": "application/json", **headers})
    assert response.status_code == status
    assert not response.headers["content-type"].startswith("text/event-stream")
    message = response.json()["error"]["message"]
    assert message.endswith(".") and len(message) > 10
