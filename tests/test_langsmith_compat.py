"""The official `langsmith` client against a real `tracer ui` server on 127.0.0.1: projects,
feedback, datasets, examples, `read_run` and `list_runs` over runs our tracer wrote (and runs the
client traced itself), and the root-path dispatch that keeps the viewer's pages and forms apart
from the client's JSON calls.

`read_run` and `list_runs` are deprecated in langsmith 0.15 and warn on every call, and
`create_feedback` without `session_id` warns too: those warnings are expected, and asserted,
where they happen (`deprecated()`, `no_session()`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import langsmith
import pytest
from flask.testing import FlaskClient
from langsmith.utils import LangSmithConflictError, LangSmithError, LangSmithNotFoundError, LangSmithWarning

import tracer
from tracer import datasets
from tracer.chat_models import FakeChatModel
from tracer.store import browse, open_store
from tracer.store.projects import find_projects
from viewer import create_app
from viewer.langsmith.dispatch import wants_langsmith
from viewer.serving import BackgroundServer

T = TypeVar("T")
#: What the client sends with every request (errors then come as JSON too).
JSON = {"Accept": "application/json"}


def deprecated() -> Any:
    """`read_run` and `list_runs` are deprecated in the client: each call warns (a
    `LangSmithDeprecationWarning`, a `DeprecationWarning` the client keeps in a private module)."""
    return pytest.warns(DeprecationWarning, match="is deprecated and will be removed")


def no_session() -> Any:
    """`create_feedback(run_id)` without `session_id` warns (client-side, on every call)."""
    return pytest.warns(LangSmithWarning, match="session_id")


def eventually(probe: Callable[[], T], timeout: float = 20.0) -> T:
    """`probe()`'s first truthy answer (ingestion stores runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def server(tracing: tracer.Settings) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app()) as served:
        yield served


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[langsmith.Client]:
    ls = langsmith.Client(api_url=server.url, api_key="any")
    yield ls
    ls.close(timeout=10)


@tracer.traceable(name="answer", tags=["prod"])
def _answer(question: str) -> str:
    return str(FakeChatModel([f"Answer to {question}"]).invoke(question).content)


@pytest.fixture
def traced(tracing: tracer.Settings) -> list[str]:
    """Three traces in project "tests" (a chain with one llm child each); root ids, oldest first."""
    for question in ("What is Lyon?", "What is Paris?", "What is Nice?"):
        _answer(question)
    assert tracer.flush(30)
    with tracer.Client() as local:
        roots = local.list_runs(project_name="tests", filter='eq(name, "answer")')
    return [str(run.id) for run in sorted(roots, key=lambda run: run.start_time)]


def _project_id(name: str) -> str:
    with open_store(tracer.get_settings().store_url) as store:
        return find_projects(store, names=[name])[0].id


# -- projects -----------------------------------------------------------------------------------


def test_read_project_by_name_after_runs_exist(client: langsmith.Client, traced: list[str]) -> None:
    project = client.read_project(project_name="tests")
    assert str(project.id) == _project_id("tests")
    assert project.name == "tests" and project.reference_dataset_id is None and project.tenant_id
    assert client.has_project("tests") and not client.has_project("nowhere")
    with pytest.raises(LangSmithNotFoundError):
        client.read_project(project_name="nowhere")
    with_stats = client.read_project(project_id=str(project.id), include_stats=True)
    assert with_stats.run_count == 6 and with_stats.total_tokens and with_stats.last_run_start_time is not None
    assert [p.name for p in client.list_projects(name_contains="tes")] == ["tests"]


def test_create_update_and_delete_projects(client: langsmith.Client, traced: list[str]) -> None:
    made = client.create_project("made", description="by the client", metadata={"team": "qa"})
    again = client.read_project(project_name="made")
    assert again.id == made.id and again.description == "by the client" and again.metadata == {"team": "qa"}
    with pytest.raises(LangSmithConflictError):
        client.create_project("made")
    assert client.create_project("made", upsert=True).id == made.id

    client.update_project(made.id, name="renamed", description="changed")
    assert client.read_project(project_id=str(made.id)).name == "renamed"
    assert not client.has_project("made")
    with pytest.raises(LangSmithConflictError):
        client.update_project(made.id, name="tests")

    client.delete_project(project_name="tests")
    assert not client.has_project("tests")
    with open_store(tracer.get_settings().store_url) as store:
        assert store.count_runs("tests") == 0 and store.count_runs() == 0
    with pytest.raises(LangSmithNotFoundError):
        client.delete_project(project_id=str(uuid.uuid4()))


# -- feedback -----------------------------------------------------------------------------------


def test_feedback_create_read_list_update_delete(client: langsmith.Client, traced: list[str]) -> None:
    first, second = traced[0], traced[1]
    session = client.read_project(project_name="tests").id
    made = client.create_feedback(first, "correctness", score=1, comment="right", session_id=session)
    with no_session():
        other = client.create_feedback(second, "tone", value="curt", correction={"output": "Hello!"})

    read = client.read_feedback(made.id)
    assert (read.id, read.run_id, read.key, read.score, read.comment) == (made.id, uuid.UUID(first), "correctness", 1, "right")
    assert read.trace_id == uuid.UUID(first) and read.feedback_source and read.feedback_source.type == "api"
    listed = list(client.list_feedback(run_ids=[first, second]))
    assert {item.id for item in listed} == {made.id, other.id}
    assert [item.key for item in client.list_feedback(run_ids=[first, second], feedback_key=["tone"])] == ["tone"]

    client.update_feedback(made.id, score=0.5, comment=None)
    changed = client.read_feedback(made.id)
    assert changed.score == 0.5 and changed.comment is None and changed.key == "correctness"

    with open_store(tracer.get_settings().store_url) as store:  # the viewer sees the same feedback
        ours = browse.run_feedback(store, second)
    assert [(f.key, f.value, f.correction, f.source) for f in ours] == [("tone", "curt", {"output": "Hello!"}, "api")]

    client.delete_feedback(made.id)
    with pytest.raises(LangSmithNotFoundError):
        client.read_feedback(made.id)


def test_feedback_may_arrive_before_its_run(client: langsmith.Client, tracing: tracer.Settings) -> None:
    run_id, trace_id = uuid.uuid4(), uuid.uuid4()
    response = httpx.post(
        f"{client.api_url}/feedback",
        json={"id": str(uuid.uuid4()), "run_id": str(run_id), "trace_id": str(trace_id), "key": "early", "score": 1,
              "feedback_source": {"type": "api", "metadata": {}}},
        headers=JSON,
    )
    assert response.status_code == 201, response.text
    [item] = client.list_feedback(run_ids=[run_id])
    assert (item.run_id, item.trace_id, item.score) == (run_id, trace_id, 1)
    duplicate = httpx.post(f"{client.api_url}/feedback", json={"id": str(item.id), "run_id": str(run_id), "key": "early"}, headers=JSON)
    assert duplicate.status_code == 409


# -- datasets and examples ----------------------------------------------------------------------


def test_datasets_by_name_and_id(client: langsmith.Client, tracing: tracer.Settings) -> None:
    made = client.create_dataset("qa", description="questions", metadata={"owner": "me"})
    assert made.name == "qa" and made.description == "questions" and made.metadata and made.metadata["owner"] == "me"
    assert client.read_dataset(dataset_name="qa").id == made.id
    assert client.read_dataset(dataset_id=made.id).name == "qa"
    assert client.has_dataset(dataset_name="qa") and not client.has_dataset(dataset_name="nope")
    with pytest.raises(LangSmithConflictError):
        client.create_dataset("qa")
    client.create_dataset("other")
    assert [d.name for d in client.list_datasets()] == ["other", "qa"]
    assert [d.name for d in client.list_datasets(dataset_name_contains="q")] == ["qa"]
    client.delete_dataset(dataset_name="qa")
    assert not client.has_dataset(dataset_name="qa")
    with pytest.raises(LangSmithNotFoundError):
        client.read_dataset(dataset_id=made.id)


def test_examples_bulk_single_list_read_update_delete(client: langsmith.Client, tracing: tracer.Settings) -> None:
    dataset = client.create_dataset("qa")
    created = client.create_examples(
        dataset_id=dataset.id,
        examples=[
            {"inputs": {"q": "2+2"}, "reference_outputs": {"a": "4"}, "metadata": {"src": "s"}},
            {"inputs": {"q": "3+3"}, "reference_outputs": {"a": "6"}, "split": "test"},
        ],
    )
    assert created["count"] == 2 and len(created["example_ids"]) == 2
    single = client.create_example({"q": "4+4"}, dataset_name="qa", reference_outputs={"a": "8"}, split=["train"])
    listed = list(client.list_examples(dataset_name="qa"))
    assert [e.inputs for e in listed] == [{"q": "2+2"}, {"q": "3+3"}, {"q": "4+4"}]
    assert listed[0].outputs == {"a": "4"} and listed[0].metadata == {"src": "s"} and listed[2].id == single.id
    assert all(e.dataset_id == dataset.id for e in listed)
    assert [e.inputs for e in client.list_examples(dataset_id=dataset.id, splits=["test"])] == [{"q": "3+3"}]
    assert client.read_dataset(dataset_id=dataset.id).example_count == 3

    read = client.read_example(single.id)
    assert read.outputs == {"a": "8"} and read.metadata == {"dataset_split": ["train"]}
    client.update_example(single.id, outputs={"a": "eight"}, metadata={"checked": True})
    changed = client.read_example(single.id)
    assert changed.outputs == {"a": "eight"} and changed.metadata == {"checked": True, "dataset_split": ["train"]}
    client.delete_example(single.id)
    with pytest.raises(LangSmithNotFoundError):
        client.read_example(single.id)
    assert len(list(client.list_examples(example_ids=created["example_ids"]))) == 2


def test_examples_page_through_offsets(client: langsmith.Client, tracing: tracer.Settings) -> None:
    dataset = client.create_dataset("many")
    client.create_examples(dataset_id=dataset.id, examples=[{"inputs": {"i": i}} for i in range(130)])
    assert [e.inputs["i"] for e in client.list_examples(dataset_id=dataset.id)] == list(range(130))


def test_example_from_a_run_and_bad_input(client: langsmith.Client, traced: list[str]) -> None:
    dataset = client.create_dataset("from-runs")
    made = client.create_example(dataset_id=dataset.id, source_run_id=traced[0], use_source_run_io=True)
    assert made.inputs == {"question": "What is Lyon?"} and made.source_run_id == uuid.UUID(traced[0])
    bad = httpx.post(f"{client.api_url}/examples", json={"dataset_id": str(dataset.id), "inputs": "not an object"}, headers=JSON)
    assert bad.status_code == 400 and bad.json()["error"]["message"]
    missing = httpx.post(f"{client.api_url}/examples", json={"dataset_id": str(uuid.uuid4()), "inputs": {}}, headers=JSON)
    assert missing.status_code == 404


# -- runs ---------------------------------------------------------------------------------------


def test_read_run_in_langsmiths_schema(client: langsmith.Client, traced: list[str]) -> None:
    client.create_feedback(traced[0], "correctness", score=1, session_id=client.read_project(project_name="tests").id)
    with deprecated():
        run = client.read_run(traced[0], load_child_runs=True)
    assert (str(run.id), run.name, run.run_type, run.status) == (traced[0], "answer", "chain", "success")
    assert str(run.session_id) == _project_id("tests") and run.trace_id == run.id and run.tags == ["prod"]
    assert run.inputs == {"question": "What is Lyon?"} and run.outputs and run.end_time is not None
    assert run.feedback_stats == {"correctness": {"n": 1, "avg": 1.0}}
    [child] = run.child_runs or []
    assert child.run_type == "llm" and child.parent_run_id == run.id and child.total_tokens
    assert child.prompt_tokens is not None and child.parent_run_ids == [run.id]
    with deprecated(), pytest.raises(LangSmithNotFoundError):
        client.read_run(uuid.uuid4())


def test_list_runs_with_our_filter_language(client: langsmith.Client, traced: list[str]) -> None:
    def ids(**query: Any) -> list[str]:
        with deprecated():
            return [str(run.id) for run in client.list_runs(**query)]

    assert ids(project_name="tests", filter='eq(name, "answer")', is_root=True) == traced[::-1]
    llm = ids(project_name="tests", run_type="llm")
    assert len(llm) == 3 and not set(llm) & set(traced)
    assert ids(project_name="tests", trace_id=traced[1], is_root=False) == [llm[1]]
    assert ids(project_name="tests", run_type="llm", trace_filter='search("Paris")') == [llm[1]]
    assert ids(project_name="tests", is_root=True, tree_filter='eq(run_type, "llm")') == traced[::-1]
    assert ids(project_name="tests", error=True) == []
    assert ids(run_ids=[traced[0], traced[2]]) == [traced[2], traced[0]]
    with deprecated():
        selected = next(iter(client.list_runs(project_name="tests", is_root=True, select=["inputs"])))
    assert selected.inputs == {"question": "What is Nice?"} and selected.outputs is None
    with deprecated(), pytest.raises(LangSmithError, match="400"):
        list(client.list_runs(project_name="tests", filter="eq(name"))
    with deprecated(), pytest.raises(LangSmithError, match="400"):
        list(client.list_runs(project_name="tests", reference_example_id=uuid.uuid4()))


def test_list_runs_pages_through_cursors(client: langsmith.Client, tracing: tracer.Settings) -> None:
    @tracer.traceable(name="tick")
    def tick(i: int) -> int:
        return i

    with tracer.tracing_enabled(project_name="paged"):
        for i in range(130):
            tick(i)
    assert tracer.flush(30)
    with deprecated():
        found = [run.inputs["i"] for run in client.list_runs(project_name="paged", is_root=True)]
    assert found == list(range(129, -1, -1))
    with deprecated():
        oldest = [run.inputs["i"] for run in client.list_runs(project_name="paged", order="asc", limit=3)]
    assert oldest == [0, 1, 2]


def test_runs_traced_by_the_langsmith_client_itself(client: langsmith.Client, tracing: tracer.Settings) -> None:
    @langsmith.traceable(name="ls_parent", client=client, project_name="ls-app")
    def parent(x: int) -> int:
        return child(x) + 1

    @langsmith.traceable(name="ls_child", client=client, project_name="ls-app")
    def child(x: int) -> int:
        return x * 2

    with langsmith.tracing_context(enabled=True):
        assert parent(20) == 41
    client.flush()
    assert eventually(lambda: client.has_project("ls-app"))

    def finished() -> list[Any]:
        with deprecated():
            found = list(client.list_runs(project_name="ls-app"))
        return found if len(found) == 2 and all(run.end_time is not None for run in found) else []

    found = eventually(finished)
    by_name = {run.name: run for run in found}
    assert by_name["ls_child"].parent_run_id == by_name["ls_parent"].id and by_name["ls_parent"].outputs == {"output": 41}
    session = client.read_project(project_name="ls-app").id
    client.create_feedback(by_name["ls_parent"].id, "ok", score=1, trace_id=by_name["ls_parent"].id, session_id=session)
    client.flush()
    assert eventually(lambda: list(client.list_feedback(run_ids=[by_name["ls_parent"].id])))


# -- the root path ------------------------------------------------------------------------------


def test_dispatch_matches_only_langsmiths_shapes() -> None:
    run = str(uuid.uuid4())
    json_accept = {"HTTP_ACCEPT": "application/json"}
    browser = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for method, path, environ in (
        ("GET", "/info", {}),
        ("POST", "/runs/multipart", {}),
        ("POST", "/runs/query", {}),
        ("POST", "/runs", {}),
        ("PATCH", f"/runs/{run}", {}),
        ("GET", f"/runs/{run}", json_accept),
        ("DELETE", f"/sessions/{run}", {}),
        ("GET", "/feedback", {}),
        ("PATCH", f"/feedback/{run}", {}),
        ("GET", "/datasets", json_accept),
        ("POST", "/datasets", {"CONTENT_TYPE": "application/json"}),
        ("POST", "/examples/bulk", {}),
    ):
        assert wants_langsmith(method, path, environ), (method, path)
    for method, path, environ in (
        ("GET", f"/runs/{run}", browser),
        ("GET", f"/runs/{run}", {}),
        ("GET", f"/runs/{run}", {"HTTP_ACCEPT": "*/*"}),
        ("POST", f"/runs/{run}/feedback", json_accept),
        ("POST", "/runs/add-to-dataset", json_accept),
        ("POST", f"/feedback/{run}", json_accept),
        ("GET", "/datasets", browser),
        ("POST", "/datasets", {"CONTENT_TYPE": "application/x-www-form-urlencoded"}),
        ("GET", "/datasets/my-set", json_accept),
        ("POST", "/datasets/my-set/rename", json_accept),
        ("GET", "/runs/not-a-uuid", json_accept),
    ):
        assert not wants_langsmith(method, path, environ), (method, path)


@pytest.fixture
def viewer(traced: list[str]) -> Iterator[FlaskClient]:
    app = create_app(test_config={"TESTING": True})
    with app.test_client() as test_client:
        yield test_client
    app.extensions["tracer_store"].close()


def _csrf(viewer: FlaskClient) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', viewer.get("/").get_data(as_text=True))
    assert match
    return match.group(1)


def test_pages_and_forms_at_the_root_are_the_viewers(viewer: FlaskClient, traced: list[str]) -> None:
    page = viewer.get(f"/runs/{traced[0]}", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 200 and page.mimetype == "text/html" and "answer" in page.get_data(as_text=True)
    as_json = viewer.get(f"/runs/{traced[0]}", headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and as_json.json and as_json.json["id"] == traced[0] and "session_id" in as_json.json

    token = _csrf(viewer)
    form = viewer.post("/datasets", data={"csrf_token": token, "name": "from-form"})
    assert form.status_code == 303 and form.headers["Location"].endswith("/datasets/from-form")
    assert viewer.get("/datasets", headers={"Accept": "text/html"}).mimetype == "text/html"
    listed = viewer.get("/datasets", headers={"Accept": "application/json"})
    assert [d["name"] for d in listed.json or []] == ["from-form"]
    made = viewer.post("/datasets", json={"name": "from-json"})
    assert made.status_code == 201 and made.json and made.json["name"] == "from-json"

    labelled = viewer.post(f"/runs/{traced[0]}/feedback", data={"csrf_token": token, "key": "note", "comment": "fine"})
    assert labelled.status_code == 303
    with open_store(tracer.get_settings().store_url) as store:
        assert [(f.key, f.source) for f in datasets.list_feedback(store, [traced[0]])] == [("note", "ui")]
    refused = viewer.post(f"/runs/{traced[0]}/feedback", data={"key": "note", "comment": "no token"})
    assert refused.status_code == 403
