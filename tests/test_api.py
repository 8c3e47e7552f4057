"""The JSON API over real HTTP: a werkzeug server on 127.0.0.1 over a real SQLite store, runs
written by the real tracer, requests made with httpx. Every endpoint, the round trip from a
filter to a dataset to a downloaded file and back, keyset paging, the API key, and errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracer
from tracer.chat_models import FakeChatModel
from tracer.export import import_dataset
from tracer.filters import FilterError, matches, parse_filter
from tracer.messages import HumanMessage, SystemMessage
from tracer.schemas import Feedback
from viewer import create_app
from viewer.openapi import PREFIX
from viewer.serving import BackgroundServer

API = PREFIX


@pytest.fixture
def server(tracing: tracer.Settings) -> Iterator[str]:
    with BackgroundServer(create_app()) as served:
        yield served.url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=httpx.Timeout(10.0)) as client:
        yield client


@tracer.traceable(name="answer", tags=["prod"])
def _answer(question: str) -> str:
    model = FakeChatModel([f"Answer to {question}"])
    return str(model.invoke([SystemMessage(content="Be brief."), HumanMessage(content=question)]).content)


@pytest.fixture
def traced(tracing: tracer.Settings) -> list[str]:
    """Three traces in project "tests" (a chain with one llm child each) and one in "other";
    the root ids of "tests", oldest first."""
    for question in ("What is Lyon?", "What is Paris?", "What is Nice?"):
        _answer(question)
    with tracer.tracing_enabled(project_name="other"):
        _answer("Elsewhere?")
    assert tracer.flush(30)
    with tracer.Client() as client:
        roots = client.list_runs(project_name="tests", filter='eq(name, "answer")')
    return [str(run.id) for run in reversed(roots)]


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["status"] == status and body["error"]["message"]
    return str(body["error"]["message"])


# -- the document --------------------------------------------------------------------------------


def test_openapi_documents_every_route_and_only_those(http: httpx.Client) -> None:
    document = http.get(f"{API}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    app = create_app(test_config={"TRACER_STORE": object()})
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API) and rule.rule != f"{API}/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == served
    schemas = document["components"]["schemas"]
    assert {"Run", "RunRow", "Feedback", "Dataset", "Example", "ErrorBody"} <= set(schemas)
    assert set(schemas["Feedback"]["properties"]) == set(Feedback.model_fields)
    post = document["paths"][f"{API}/feedback"]["post"]
    assert {"201", "400", "404", "413", "415"} <= set(post["responses"])


# -- projects and runs ---------------------------------------------------------------------------


def test_projects(http: httpx.Client, traced: list[str]) -> None:
    projects = http.get(f"{API}/projects").json()["projects"]
    assert {p["name"] for p in projects} == {"tests", "other"}
    tests = http.get(f"{API}/projects/tests").json()
    assert tests["root_count"] == 3 and tests["run_count"] == 6
    assert "nothing" in _error(http.get(f"{API}/projects/nothing"), 404)


def test_runs_list_filters_and_reads(http: httpx.Client, traced: list[str]) -> None:
    roots = http.get(f"{API}/runs", params={"project": "tests"}).json()
    assert [run["id"] for run in roots["runs"]] == traced[::-1] and roots["next_cursor"] is None
    llm = http.get(f"{API}/runs", params={"project": "tests", "scope": "all", "filter": 'eq(run_type, "llm")'}).json()["runs"]
    assert len(llm) == 3 and {run["run_type"] for run in llm} == {"llm"}
    everywhere = http.get(f"{API}/runs", params={"scope": "all", "run_type": "chain"}).json()["runs"]
    assert len(everywhere) == 4
    searched = http.get(f"{API}/runs", params={"project": "tests", "search": "Lyon"}).json()["runs"]
    assert [run["id"] for run in searched] == [traced[0]]

    run = http.get(f"{API}/runs/{traced[0]}").json()
    assert run["id"] == traced[0] and run["inputs"] == {"question": "What is Lyon?"} and run["tags"] == ["prod"]
    tree = http.get(f"{API}/runs/{traced[0]}/tree").json()["runs"]
    assert [(node["id"] == traced[0], node["depth"], node["run_type"]) for node in tree] == [(True, 0, "chain"), (False, 1, "llm")]
    # The tree is the same from any of its runs.
    assert http.get(f"{API}/runs/{tree[1]['id']}/tree").json()["runs"] == tree


def test_whole_runs_page_as_the_runs_list(http: httpx.Client, traced: list[str]) -> None:
    params: dict[str, Any] = {"project": "tests", "scope": "all", "limit": 4}
    rows, whole = (http.get(f"{API}{path}", params=params).json() for path in ("/runs", "/runs/full"))
    assert [r["id"] for r in whole["runs"]] == [r["id"] for r in rows["runs"]] and whole["next_cursor"] == rows["next_cursor"]
    assert whole["runs"][0] == http.get(f"{API}/runs/{whole['runs'][0]['id']}").json()
    rest = http.get(f"{API}/runs/full", params={**params, "cursor": whole["next_cursor"]}).json()
    assert len(rest["runs"]) == 2 and rest["next_cursor"] is None
    assert "nowhere" in _error(http.get(f"{API}/runs/full", params={"project": "nowhere"}), 404)
    assert "filter" in _error(http.get(f"{API}/runs/full", params={"filter": "eq(name"}), 400)


def test_cursor_pages_through_every_run_once(http: httpx.Client, traced: list[str]) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"scope": "all", "limit": 3, "sort": "latency", "direction": "asc"}
    while True:
        page = http.get(f"{API}/runs", params=params).json()
        seen += [run["id"] for run in page["runs"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 8
    with tracer.Client() as client:
        assert set(seen) == {str(run.id) for run in client.list_runs(limit=None)}
    # A cursor of another sort, or one that is not a cursor, is a 400.
    assert "cursor" in _error(http.get(f"{API}/runs", params={"scope": "all", "limit": 3, "cursor": params["cursor"]}), 400)
    assert "cursor" in _error(http.get(f"{API}/runs", params={"cursor": "not-a-cursor"}), 400)


def test_run_errors(http: httpx.Client, traced: list[str]) -> None:
    body = http.get(f"{API}/runs", params={"filter": "and(eq(run_type, 'llm'"}).json()
    assert body["error"]["status"] == 400 and isinstance(body["error"]["position"], int)
    assert "limit" in _error(http.get(f"{API}/runs", params={"limit": 10**9}), 400)
    assert "scope" in _error(http.get(f"{API}/runs", params={"scope": "everything"}), 400)
    assert "nowhere" in _error(http.get(f"{API}/runs", params={"project": "nowhere"}), 404)
    missing = "01900000-0000-7000-8000-000000000000"
    for path in (f"/runs/{missing}", f"/runs/{missing}/tree", f"/runs/{missing}/feedback", "/runs/not-a-uuid", "/runs/not-a-uuid/tree"):
        _error(http.get(API + path), 404)
    _error(http.get(f"{API}/no-such-thing"), 404)
    assert "DELETE" in _error(http.delete(f"{API}/runs/{traced[0]}"), 405)


# -- feedback ------------------------------------------------------------------------------------


def test_feedback_crud(http: httpx.Client, traced: list[str]) -> None:
    created = http.post(f"{API}/feedback", json={"run_id": traced[0], "key": "correct", "score": True, "value": {"label": "good"}, "correction": {"output": "Lyon is a city."}})
    assert created.status_code == 201, created.text
    feedback = created.json()
    assert feedback["score"] == 1.0 and feedback["source"] == "api" and feedback["value"] == {"label": "good"}
    http.post(f"{API}/feedback", json={"run_id": traced[1], "key": "stars", "score": 4, "comment": "fine"}).raise_for_status()

    listed = http.get(f"{API}/feedback", params=[("run_id", traced[0]), ("run_id", traced[1])]).json()["feedback"]
    assert [f["key"] for f in listed] == ["correct", "stars"]
    assert [f["key"] for f in http.get(f"{API}/feedback", params={"run_id": [traced[0], traced[1]], "key": "stars"}).json()["feedback"]] == ["stars"]
    assert http.get(f"{API}/runs/{traced[0]}/feedback").json()["feedback"] == [feedback]
    assert http.get(f"{API}/feedback/{feedback['id']}").json() == feedback
    assert http.get(f"{API}/runs", params={"project": "tests", "filter": 'eq(feedback_key, "correct")'}).json()["runs"][0]["id"] == traced[0]

    patched = http.patch(f"{API}/feedback/{feedback['id']}", json={"score": 0.5, "correction": None, "author": "ana"}).json()
    assert (patched["score"], patched["correction"], patched["author"], patched["value"]) == (0.5, None, "ana", {"label": "good"})
    assert http.delete(f"{API}/feedback/{feedback['id']}").status_code == 204
    _error(http.get(f"{API}/feedback/{feedback['id']}"), 404)
    _error(http.delete(f"{API}/feedback/{feedback['id']}"), 404)


def test_feedback_of_every_run_pages_by_offset(http: httpx.Client, traced: list[str]) -> None:
    created = [http.post(f"{API}/feedback", json={"run_id": run_id, "key": key, "score": 1}).json() for run_id in traced for key in ("a", "b")]
    assert http.get(f"{API}/feedback").json()["feedback"] == created
    pages = [http.get(f"{API}/feedback", params={"limit": 4, "offset": offset}).json()["feedback"] for offset in (0, 4)]
    assert pages[0] + pages[1] == created and len(pages[1]) == 2
    assert http.get(f"{API}/feedback", params={"key": "b", "limit": 2}).json()["feedback"] == created[1::2][:2]
    assert "limit" in _error(http.get(f"{API}/feedback", params={"limit": 0}), 400)


def test_feedback_errors(http: httpx.Client, traced: list[str]) -> None:
    assert "key" in _error(http.post(f"{API}/feedback", json={"run_id": traced[0]}), 400)
    assert "run_id" in _error(http.post(f"{API}/feedback", json={"run_id": "nope", "key": "k"}), 400)
    assert "score" in _error(http.post(f"{API}/feedback", json={"run_id": traced[0], "key": "k", "score": "high"}), 400)
    assert "colour" in _error(http.post(f"{API}/feedback", json={"run_id": traced[0], "key": "k", "colour": 1}), 400)
    _error(http.post(f"{API}/feedback", json={"run_id": "01900000-0000-7000-8000-000000000000", "key": "k"}), 404)
    assert "JSON" in _error(http.post(f"{API}/feedback", content=b"{nope", headers={"content-type": "application/json"}), 400)
    _error(http.post(f"{API}/feedback", json=[1, 2]), 400)
    nan = '{"run_id": "%s", "key": "k", "score": NaN}' % traced[0]
    assert "NaN" in _error(http.post(f"{API}/feedback", content=nan, headers={"content-type": "application/json"}), 400)
    # A form, which a page on another site could send, is refused before anything is written.
    _error(http.post(f"{API}/feedback", data={"run_id": traced[0], "key": "k"}), 415)
    _error(http.post(f"{API}/feedback", content=json.dumps({"run_id": traced[0], "key": "k"}), headers={"content-type": "text/plain"}), 415)
    assert "run_id" in _error(http.get(f"{API}/feedback", params={"run_id": "x"}), 400)
    assert http.get(f"{API}/runs/{traced[0]}/feedback").json()["feedback"] == []
    _error(http.post(f"{API}/feedback", content=b"[" * (5 * 1024 * 1024), headers={"content-type": "application/json"}), 413)


# -- datasets and examples -----------------------------------------------------------------------


def test_datasets_and_examples(http: httpx.Client, traced: list[str]) -> None:
    created = http.post(f"{API}/datasets", json={"name": "golden", "description": "hand-picked", "metadata": {"v": 1}})
    assert created.status_code == 201 and created.json()["example_count"] == 0
    assert "already exists" in _error(http.post(f"{API}/datasets", json={"name": "golden"}), 400)

    given = {"examples": [{"inputs": {"q": "2+2?"}, "outputs": {"a": "4"}, "split": "test"}, {"inputs": {"q": "3+3?"}}]}
    assert http.post(f"{API}/datasets/golden/examples", json=given).json() == {"added": 2}
    assert http.post(f"{API}/datasets/golden/examples", json={"run_ids": traced[:2], "split": "train"}).json() == {"added": 2}
    assert http.get(f"{API}/datasets/golden").json()["example_count"] == 4

    examples = http.get(f"{API}/datasets/golden/examples").json()["examples"]
    assert [e["inputs"] for e in examples] == [{"q": "2+2?"}, {"q": "3+3?"}, {"question": "What is Lyon?"}, {"question": "What is Paris?"}]
    assert examples[2]["metadata"]["source_run_id"] == traced[0] and examples[2]["outputs"] == {"output": "Answer to What is Lyon?"}
    assert [e["split"] for e in http.get(f"{API}/datasets/golden/examples", params={"split": "train"}).json()["examples"]] == ["train", "train"]
    page = http.get(f"{API}/datasets/golden/examples", params={"limit": 2, "offset": 1}).json()["examples"]
    assert [e["id"] for e in page] == [e["id"] for e in examples[1:3]]

    first = examples[0]["id"]
    assert http.get(f"{API}/examples/{first}").json() == examples[0]
    patched = http.patch(f"{API}/examples/{first}", json={"outputs": {"a": "four"}, "split": None}).json()
    assert (patched["inputs"], patched["outputs"], patched["split"]) == ({"q": "2+2?"}, {"a": "four"}, None)
    assert http.delete(f"{API}/examples/{first}").status_code == 204
    _error(http.get(f"{API}/examples/{first}"), 404)
    _error(http.patch(f"{API}/examples/{first}", json={"split": "x"}), 404)
    _error(http.get(f"{API}/examples/not-a-uuid"), 404)

    renamed = http.patch(f"{API}/datasets/golden", json={"name": "silver"}).json()
    assert renamed["name"] == "silver" and renamed["example_count"] == 3 and renamed["description"] == "hand-picked"
    described = http.patch(f"{API}/datasets/silver", json={"description": "second pass"}).json()
    assert (described["name"], described["description"]) == ("silver", "second pass")
    assert http.patch(f"{API}/datasets/silver", json={"description": None}).json()["description"] is None
    assert [d["name"] for d in http.get(f"{API}/datasets").json()["datasets"]] == ["silver"]
    _error(http.get(f"{API}/datasets/golden"), 404)
    assert http.delete(f"{API}/datasets/silver").status_code == 204
    assert http.get(f"{API}/datasets").json() == {"datasets": []}


def test_names_with_a_slash_reach_their_dataset(http: httpx.Client) -> None:
    assert http.post(f"{API}/datasets", json={"name": "team/qa v2"}).status_code == 201
    assert http.get(f"{API}/datasets/team%2Fqa%20v2").json()["name"] == "team/qa v2"
    assert http.post(f"{API}/datasets/team%2Fqa%20v2/examples", json={"examples": [{"inputs": {"q": 1}}]}).json() == {"added": 1}
    assert len(http.get(f"{API}/datasets/team%2Fqa%20v2/export").text.splitlines()) == 1


def test_example_errors(http: httpx.Client, traced: list[str]) -> None:
    http.post(f"{API}/datasets", json={"name": "d"}).raise_for_status()
    for body in ({}, {"examples": [{"inputs": {}}], "run_ids": traced[:1]}, {"run_ids": traced[:1], "filter": "eq(name, 'x')"}, {"examples": [{"inputs": {}}], "split": "x"}):
        assert re.search("exactly one|go with|goes with", _error(http.post(f"{API}/datasets/d/examples", json=body), 400))
    assert "inputs" in _error(http.post(f"{API}/datasets/d/examples", json={"examples": [{"outputs": {}}]}), 400)
    _error(http.post(f"{API}/datasets/nope/examples", json={"run_ids": traced[:1]}), 404)
    _error(http.post(f"{API}/datasets/d/examples", json={"run_ids": ["01900000-0000-7000-8000-000000000000"]}), 404)
    _error(http.post(f"{API}/datasets/d/examples", json={"project": "nowhere"}), 404)
    body = http.post(f"{API}/datasets/d/examples", json={"project": "tests", "filter": "eq(name"}).json()
    assert body["error"]["status"] == 400 and "position" in body["error"]
    assert "limit" in _error(http.get(f"{API}/datasets/d/examples", params={"limit": 0}), 400)
    assert "format" in _error(http.get(f"{API}/datasets/d/export", params={"format": "xml"}), 400)
    _error(http.get(f"{API}/datasets/nope/export"), 404)
    _error(http.patch(f"{API}/datasets/nope", json={"name": "x"}), 404)
    assert http.get(f"{API}/datasets/d").json()["example_count"] == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "openai", "langsmith"])
def test_dataset_from_a_filter_exports_and_imports_back(http: httpx.Client, traced: list[str], tmp_path: Path, fmt: str) -> None:
    http.post(f"{API}/feedback", json={"run_id": traced[1], "key": "fix", "correction": {"output": "Paris is the capital."}}).raise_for_status()
    http.post(f"{API}/datasets", json={"name": "from-filter"}).raise_for_status()
    added = http.post(f"{API}/datasets/from-filter/examples", json={"project": "tests", "filter": 'eq(name, "answer")', "split": "train"})
    assert added.status_code == 201 and added.json() == {"added": 3}

    path = tmp_path / f"export.{'csv' if fmt == 'csv' else 'jsonl'}"
    with http.stream("GET", f"{API}/datasets/from-filter/export", params={"format": fmt}) as response:
        assert response.status_code == 200
        assert response.headers["content-disposition"] == f'attachment; filename="from-filter.{path.suffix[1:]}"'
        assert response.headers["content-type"].startswith("text/csv" if fmt == "csv" else "application/x-ndjson")
        with path.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)

    with tracer.Client() as client:
        imported = import_dataset(client.store, path, name="copy", fmt=fmt)
        assert imported.example_count == 3
        original, copy = client.list_examples("from-filter"), client.list_examples("copy")
    if fmt == "openai":  # the chat fine-tuning format keeps the conversation, not the run's inputs
        assert copy[1].outputs == {"output": {"content": "Paris is the capital.", "type": "ai"}}
        return
    assert [(e.inputs, e.outputs, e.metadata, e.split) for e in copy] == [(e.inputs, e.outputs, e.metadata, e.split) for e in original]
    assert original[1].outputs == {"output": "Paris is the capital."}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_runs_export_streams_the_filtered_runs(http: httpx.Client, traced: list[str], tmp_path: Path, fmt: str) -> None:
    http.post(f"{API}/feedback", json={"run_id": traced[2], "key": "ok", "score": 1}).raise_for_status()
    response = http.get(f"{API}/runs/export", params={"project": "tests", "filter": "eq(is_root, true)", "format": fmt})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="tests-runs.{fmt}"'
    path = tmp_path / f"runs.{fmt}"
    path.write_bytes(response.content)
    with tracer.Client() as client:
        examples = client.list_examples(import_dataset(client.store, path, name="runs").name)
    # The runs list's order (newest first), as the viewer's download button gives the table.
    assert [e.metadata["source_run_id"] for e in examples] == traced[::-1]
    assert examples[len(traced) - 3].metadata["feedback"] == [{"key": "ok", "score": 1.0}]
    only_llm = http.get(f"{API}/runs/export", params={"project": "tests", "scope": "all", "run_type": "llm"}).text.splitlines()
    assert len(only_llm) == 3 and all(json.loads(line)["metadata"]["run_type"] == "llm" for line in only_llm)
    assert "nope" in _error(http.get(f"{API}/runs/export", params={"project": "nope"}), 404)
    assert "filter" in _error(http.get(f"{API}/runs/export", params={"filter": "eq(name"}), 400)
    _error(http.get(f"{API}/runs/export", params={"project": "nowhere"}), 404)
    assert http.get(f"{API}/runs/export", params={"project": "tests", "filter": "gt("}).json()["error"]["position"] == 3


# -- who may call it -----------------------------------------------------------------------------


def test_api_key_is_required_when_configured(tracing: tracer.Settings, traced: list[str]) -> None:
    with BackgroundServer(create_app(api_key="s3cret")) as served:
        base = served.url
        with httpx.Client(base_url=base, timeout=10.0) as anonymous:
            assert "API key" in _error(anonymous.get(f"{API}/runs"), 401)
            _error(anonymous.get(f"{API}/runs", headers={"x-api-key": "wrong"}), 401)
            _error(anonymous.post(f"{API}/datasets", json={"name": "x"}), 401)
        with httpx.Client(base_url=base, timeout=10.0, headers={"x-api-key": "s3cret"}) as keyed:
            assert len(keyed.get(f"{API}/runs").json()["runs"]) == 4
            assert keyed.post(f"{API}/datasets", json={"name": "x"}).status_code == 201
            assert keyed.delete(f"{API}/datasets/x").status_code == 204


def test_a_same_origin_script_with_the_csrf_header_works(http: httpx.Client, traced: list[str]) -> None:
    page = http.get("/", headers={"accept": "text/html"})
    token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    created = http.post(f"{API}/datasets", json={"name": "from-page"}, headers={"X-CSRF-Token": token})
    assert created.status_code == 201


def test_feedback_keys_are_configured_through_the_api(http: httpx.Client) -> None:
    defaults = http.get(f"{API}/feedback-keys").json()["feedback_keys"]
    assert [(k["key"], k["kind"]) for k in defaults] == [("thumbs", "thumbs"), ("correctness", "stars")]
    tone = {"kind": "categories", "description": "How did it sound?", "categories": [{"label": "friendly", "value": 1}, {"label": "curt", "value": 0}]}
    stored = http.put(f"{API}/feedback-keys/tone", json=tone).json()
    assert (stored["key"], stored["position"], [c["label"] for c in stored["categories"]]) == ("tone", 2, ["friendly", "curt"])
    moved = http.put(f"{API}/feedback-keys/tone", json={**tone, "position": 0}).json()
    assert moved["position"] == 0
    assert "minimum" in _error(http.put(f"{API}/feedback-keys/speed", json={"kind": "score"}), 400)
    assert "categor" in _error(http.put(f"{API}/feedback-keys/speed", json={"kind": "categories"}), 400)
    assert http.delete(f"{API}/feedback-keys/thumbs").status_code == 204
    _error(http.delete(f"{API}/feedback-keys/thumbs"), 404)
    assert {k["key"] for k in http.get(f"{API}/feedback-keys").json()["feedback_keys"]} == {"tone", "correctness"}


def test_project_feedback_over_time(http: httpx.Client, traced: list[str]) -> None:
    for run_id, score in zip(traced, (1, 0, 1)):
        http.post(f"{API}/feedback", json={"run_id": run_id, "key": "thumbs", "score": score}).raise_for_status()
    http.post(f"{API}/feedback", json={"run_id": traced[0], "key": "note", "comment": "first"}).raise_for_status()
    stats = http.get(f"{API}/projects/tests/feedback", params={"buckets": 1}).json()
    assert stats["averages"] == {"thumbs": pytest.approx(2 / 3)}
    assert list(stats["series"]) == ["thumbs", "note"]
    (point,) = stats["series"]["thumbs"]
    assert point["count"] == 3 and point["average"] == pytest.approx(2 / 3)
    assert stats["series"]["note"][0] == {"start": point["start"], "count": 1, "average": None}
    assert "since" in _error(http.get(f"{API}/projects/tests/feedback", params={"since": "2030-01-01T00:00:00Z", "until": "2029-01-01T00:00:00Z"}), 400)
    _error(http.get(f"{API}/projects/nope/feedback"), 404)


_FILTER_PIECES = st.sampled_from(
    ["eq(", "neq(", "gt(", "lte(", "and(", "or(", "not(", "has(", "search(", "name", "run_type", "tags", "metadata.user",
     "latency", "total_tokens", "is_root", ", ", ")", "'llm'", "'Lyon'", "\"What\"", "0", "1.5", "null", "true", "\\", "\x00"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=60), st.lists(_FILTER_PIECES, max_size=14).map("".join)))
def test_any_filter_lists_what_python_selects_or_is_a_400_with_its_position(http: httpx.Client, traced: list[str], text: str) -> None:
    response = http.get(f"{API}/runs", params={"filter": text, "scope": "all", "limit": 500})
    if response.status_code == 400:
        error = response.json()["error"]
        with pytest.raises(FilterError) as caught:
            parse_filter(text)
        assert error["position"] == caught.value.position and "position" in error["message"]
        return
    assert response.status_code == 200, response.text
    listed = {row["id"] for row in response.json()["runs"]}
    f = parse_filter(text) if text.strip() else None  # a blank parameter is no filter
    with tracer.Client() as client:
        every = client.list_runs(limit=None)
        chosen = {str(run.id) for run in every if f is None or matches(f, run, client.list_feedback([run.id]))}
    assert listed == chosen
