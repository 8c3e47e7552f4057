"""The viewer's dataset pages over a real store filled by the real tracer: datasets created,
renamed and deleted; runs added as examples from the run page, from a selection of the runs
table and from every run matching its filter; examples edited, added by hand and deleted; the
download links; and each error (400 with one sentence, 404, 403 without the CSRF token).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from test_viewer_pages import IMG, SCRIPT, assert_safe, csrf, page

import tracer
from tracer import datasets as data
from tracer.chat_models.fake import FakeChatModel
from tracer.store import Store
from viewer import create_app

PROJECT = "demo"
QUESTIONS = ("What is an apple?", "Is an apple red?", "Name a pear.", "What is a plum?", "Sing an apple song.")


@dataclass
class Made:
    """The runs `_fill` wrote, and the client's store."""

    store: Store
    ids: list[str]  # newest first, as the runs table lists them
    token: str


@pytest.fixture
def made(client: FlaskClient) -> Made:
    store = client.application.extensions["tracer_store"]
    ids = [str(run.id) for run in store.list_runs(PROJECT, limit=100)]
    return Made(store, ids, csrf(client))


@pytest.fixture
def client(isolated_tracer: Any) -> Iterator[FlaskClient]:
    with tracer.tracing_enabled(PROJECT):
        for question in QUESTIONS:
            FakeChatModel([f"The answer to {question!r}."]).invoke(question)
    assert tracer.flush(30)
    app = create_app(tracer.get_settings().store_url, test_config={"TESTING": True})
    with app.test_client() as test_client:
        yield test_client
    app.extensions["tracer_store"].close()


def _post(client: FlaskClient, url: str, token: str, status: int = 303, /, **fields: Any) -> Any:
    response = client.post(url, data={"csrf_token": token, **fields})
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:2000])
    return response


def _message(body: str) -> str:
    found = re.search(r'<p class="error-message">(.*?)</p>', body, re.S)
    assert found, body[:2000]
    return found.group(1)


def _flash(client: FlaskClient, url: str) -> str:
    found = re.search(r'<p class="flash flash-success" role="status">(.*?)</p>', page(client, url), re.S)
    assert found
    return found.group(1)


# -- datasets -----------------------------------------------------------------------------------


def test_create_list_and_open_a_dataset(client: FlaskClient, made: Made) -> None:
    assert "No datasets yet" in page(client, "/datasets")
    response = _post(client, "/datasets", made.token, name="qa pairs/v1", description="Questions we got right.")
    assert response.headers["Location"] == "/datasets/qa%20pairs%2Fv1"
    listed = page(client, "/datasets")
    assert '<a href="/datasets/qa%20pairs%2Fv1">qa pairs/v1</a>' in listed and "Questions we got right." in listed
    for fmt in ("jsonl", "csv", "openai", "langsmith"):
        assert f'href="/api/v1/datasets/qa%20pairs%2Fv1/export?format={fmt}" download' in listed
    assert 'action="/datasets/qa%20pairs%2Fv1/rename"' in listed and 'href="/datasets/qa%20pairs%2Fv1/delete"' in listed
    opened = page(client, "/datasets/qa%20pairs%2Fv1")
    assert "No examples" in opened and 'href="/api/v1/datasets/qa%20pairs%2Fv1/export?format=openai"' in opened
    assert 'action="/datasets/qa%20pairs%2Fv1/examples"' in opened


def test_create_errors(client: FlaskClient, made: Made) -> None:
    assert _message(_post(client, "/datasets", made.token, 400, name="  ").get_data(as_text=True)) == "Give the dataset&#39;s name."
    _post(client, "/datasets", made.token, name="taken")
    assert "already exists" in _message(_post(client, "/datasets", made.token, 400, name="taken").get_data(as_text=True))
    assert "longer than 200" in _message(_post(client, "/datasets", made.token, 400, name="x" * 201).get_data(as_text=True))
    assert client.post("/datasets", data={"name": "no-token"}).status_code == 403
    assert [d.name for d in data.list_datasets(made.store)] == ["taken"]


def test_rename_a_dataset(client: FlaskClient, made: Made) -> None:
    for name in ("old", "other"):
        data.create_dataset(made.store, name)
    response = _post(client, "/datasets/old/rename", made.token, new_name="new", next="/datasets")
    assert response.headers["Location"] == "/datasets"
    assert _flash(client, "/datasets") == "Renamed the dataset old to new."
    page(client, "/datasets/old", 404)
    page(client, "/datasets/new")
    assert "already exists" in _message(_post(client, "/datasets/new/rename", made.token, 400, new_name="other").get_data(as_text=True))
    _post(client, "/datasets/new/rename", made.token, 400, new_name="")
    _post(client, "/datasets/missing/rename", made.token, 404, new_name="x")


def test_delete_asks_first_then_deletes(client: FlaskClient, made: Made) -> None:
    data.create_dataset(made.store, "doomed")
    data.add_examples(made.store, "doomed", [{"inputs": {"q": "a"}}, {"inputs": {"q": "b"}}])
    confirm = page(client, "/datasets/doomed/delete")
    assert "Delete the dataset doomed?" in confirm and "Its 2 examples will be deleted" in confirm
    assert 'method="post" action="/datasets/doomed/delete"' in confirm and 'name="csrf_token"' in confirm
    assert data.read_dataset(made.store, "doomed").example_count == 2  # asking changed nothing
    response = _post(client, "/datasets/doomed/delete", made.token)
    assert response.headers["Location"] == "/datasets"
    assert _flash(client, "/datasets") == "Deleted the dataset doomed and its 2 examples."
    page(client, "/datasets/doomed", 404)
    page(client, "/datasets/doomed/delete", 404)
    _post(client, "/datasets/doomed/delete", made.token, 404)


# -- runs into examples -------------------------------------------------------------------------


def test_add_one_run_from_its_page_creates_the_dataset(client: FlaskClient, made: Made) -> None:
    run_id = made.ids[0]
    data.create_dataset(made.store, "existing")
    body = page(client, f"/runs/{run_id}")
    assert 'action="/runs/add-to-dataset"' in body and f'name="run" value="{run_id}"' in body
    assert '<option value="existing">' in body  # an existing dataset to pick
    response = _post(client, "/runs/add-to-dataset", made.token, run=run_id, dataset="fresh", split="train", next=f"/runs/{run_id}")
    assert response.headers["Location"] == f"/runs/{run_id}"
    assert _flash(client, f"/runs/{run_id}") == 'Created the dataset <a href="/datasets/fresh">fresh</a> and added 1 example to it.'
    (example,) = data.list_examples(made.store, "fresh")
    run = made.store.read_run(run_id)
    assert example.inputs == run.inputs and example.outputs == {"output": run.outputs["generations"][0][0]["message"]} and example.split == "train"
    assert example.metadata["source_run_id"] == run_id
    # The trace page's panel has the form too; it comes back to the trace page.
    panel = page(client, f"/runs/{run_id}/panel")
    assert f'name="next" value="/traces/{run.trace_id}?run={run_id}"' in panel


def test_the_correction_becomes_the_reference_and_the_feedback_is_shown(client: FlaskClient, made: Made) -> None:
    run_id = made.ids[0]
    data.create_feedback(made.store, run_id, "correctness", score=0.5, comment="too vague", correction={"answer": "A fruit."})
    _post(client, "/runs/add-to-dataset", made.token, run=run_id, dataset="gold")
    (example,) = data.list_examples(made.store, "gold")
    assert example.outputs == {"answer": "A fruit."}
    body = page(client, "/datasets/gold")
    assert f'<a href="/runs/{run_id}">Source run</a>' in body
    assert "correctness: 0.5" in body and "too vague" in body
    assert "&#34;answer&#34;: &#34;A fruit.&#34;" in body  # in the reference outputs' text area


def test_add_a_selection_from_the_runs_table(client: FlaskClient, made: Made) -> None:
    runs_page = page(client, f"/projects/{PROJECT}?status=success")
    assert 'formaction="/runs/add-to-dataset" formmethod="get" name="next" value="/projects/demo?status=success"' in runs_page
    assert "data-select-all hidden" in runs_page and "datasets.js" in runs_page
    expression = page(client, f"/projects/{PROJECT}?run_type=llm&status=success&filter=" + quote('eq(status, "success")'))
    # The download carries the whole list's filter (every page of it), the cursor aside.
    assert 'href="/api/v1/runs/export?run_type=llm&amp;status=success&amp;filter=eq%28status%2C+%22success%22%29&amp;project=demo&amp;format=jsonl"' in expression
    assert "Add every run matching" not in page(client, f"/projects/{PROJECT}?search=zebra")  # nothing to add
    chosen = made.ids[:2]
    data.create_dataset(made.store, "picked")
    query = "&".join(f"run={run_id}" for run_id in chosen) + "&next=%2Fprojects%2Fdemo%3Fstatus%3Dsuccess"
    form = page(client, f"/runs/add-to-dataset?{query}")
    assert "Add 2 runs to a dataset" in form
    assert all(f'<input type="hidden" name="run" value="{run_id}">' in form for run_id in chosen)
    assert '<input type="hidden" name="next" value="/projects/demo?status=success">' in form
    response = _post(client, "/runs/add-to-dataset", made.token, run=chosen, dataset="picked", next="/projects/demo?status=success")
    assert response.headers["Location"] == "/projects/demo?status=success"
    assert _flash(client, "/projects/demo") == 'Added 2 examples to the dataset <a href="/datasets/picked">picked</a>.'
    assert {e.metadata["source_run_id"] for e in data.list_examples(made.store, "picked")} == set(chosen)


def test_add_every_run_matching_the_filter_on_all_its_pages(client: FlaskClient, made: Made) -> None:
    runs_page = page(client, f"/projects/{PROJECT}?search=apple&limit=2")
    link = re.search(r'href="(/runs/add-to-dataset\?[^"]+)">Add every run matching', runs_page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert "search=apple" in link and "limit=2" in link and "project=demo" in link
    assert 'href="/api/v1/runs/export?search=apple&amp;limit=2&amp;project=demo&amp;format=csv"' in runs_page
    form = page(client, link)
    assert "Add every run matching this filter" in form and '<input type="hidden" name="search" value="apple">' in form
    response = _post(client, "/runs/add-to-dataset", made.token, project=PROJECT, search="apple", limit="2", dataset="apples")
    assert response.headers["Location"] == "/datasets/apples"  # no `next`: the dataset
    apples = [run_id for run_id in made.ids if "apple" in made.store.read_run(run_id).inputs["messages"][0][0]["content"]]
    assert len(apples) == 3  # more than one page of 2
    assert sorted(e.metadata["source_run_id"] for e in data.list_examples(made.store, "apples")) == sorted(apples)


@pytest.mark.parametrize(
    ("fields", "status", "sentence"),
    [
        ({"dataset": "d"}, 400, "Tick at least one run"),
        ({"run": "not-a-uuid", "dataset": "d"}, 404, "not a UUID"),
        ({"run": "01900000-0000-7000-8000-000000000000", "dataset": "d"}, 404, "No run"),
        ({"project": PROJECT, "status": "sleeping", "dataset": "d"}, 400, "status must be one of"),
        ({"project": PROJECT, "filter": "gt(latency", "dataset": "d"}, 400, "position"),
        ({"project": "nowhere", "dataset": "d"}, 404, "No project named"),
        ({"project": PROJECT, "search": "zebra", "dataset": "d"}, 400, "No run matches this filter"),
        ({"project": PROJECT}, 400, "Give the dataset&#39;s name."),
    ],
)
def test_adding_runs_errors(client: FlaskClient, made: Made, fields: dict[str, str], status: int, sentence: str) -> None:
    assert sentence in _message(_post(client, "/runs/add-to-dataset", made.token, status, **fields).get_data(as_text=True))
    assert data.list_datasets(made.store) == []  # nothing created on the way
    assert client.post("/runs/add-to-dataset", data={"run": made.ids[0], "dataset": "d"}).status_code == 403


def test_the_choose_page_errors_and_a_foreign_next(client: FlaskClient, made: Made) -> None:
    assert "Tick at least one run" in _message(page(client, "/runs/add-to-dataset?next=/projects/demo", 400))
    page(client, f"/runs/add-to-dataset?run={'0' * 36}", 404)
    too_many = "&".join(f"run={i}" for i in range(501))
    assert "at most 500" in _message(page(client, f"/runs/add-to-dataset?{too_many}", 400))
    form = page(client, f"/runs/add-to-dataset?run={made.ids[0]}&next=//evil.example/")
    assert '<input type="hidden" name="next" value="/projects/demo">' in form
    response = _post(client, "/runs/add-to-dataset", made.token, run=made.ids[0], dataset="d", next="https://evil.example/")
    assert response.headers["Location"] == "/datasets/d"


# -- examples -----------------------------------------------------------------------------------


def _one_example(made: Made, dataset: str = "set") -> str:
    data.create_dataset(made.store, dataset)
    data.add_examples_from_runs(made.store, dataset, [made.ids[0]])
    return str(data.list_examples(made.store, dataset)[0].id)


def test_edit_an_example(client: FlaskClient, made: Made) -> None:
    example_id = _one_example(made)
    url = f"/datasets/set/examples/{example_id}"
    body = page(client, "/datasets/set")
    assert f'action="{url}"' in body and f'formaction="{url}/delete"' in body
    response = _post(
        client, url, made.token, inputs='{"question": "Why?"}', outputs='{"answer": "Because."}', metadata='{"note": "checked"}', split="test",
        next=f"/datasets/set?page=1#example-{example_id}",
    )
    assert response.headers["Location"] == f"/datasets/set?page=1#example-{example_id}"
    (example,) = data.list_examples(made.store, "set")
    assert (example.inputs, example.outputs, example.metadata, example.split) == ({"question": "Why?"}, {"answer": "Because."}, {"note": "checked"}, "test")
    shown = page(client, "/datasets/set")
    assert "Saved the example." in shown and "&#34;answer&#34;: &#34;Because.&#34;" in shown
    # Empty reference outputs clear them; an empty split clears it.
    _post(client, url, made.token, inputs='{"question": "Why?"}', outputs="  ", metadata="", split="")
    (example,) = data.list_examples(made.store, "set")
    assert (example.outputs, example.metadata, example.split) == (None, {}, None)


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"inputs": '{"question": "Why?"', "outputs": ""}, "The inputs are not valid JSON: Expecting &#39;,&#39; delimiter at line 1, column 20."),
        ({"inputs": '{"q": 1}', "outputs": "{'answer': 1}"}, "The reference outputs are not valid JSON"),
        ({"inputs": '{"q": 1}', "outputs": '["a list"]'}, "The reference outputs must be a JSON object ({...}), not list."),
        ({"inputs": '{"q": 1}', "metadata": "42"}, "The metadata must be a JSON object ({...}), not int."),
        ({"inputs": ""}, "The inputs are required"),
        ({"inputs": "[" * 100_000}, "The inputs are nested too deeply."),
        ({"inputs": '{"q": 1}', "split": "s" * 101}, "The split is longer than 100 characters."),
    ],
)
def test_a_bad_example_is_a_400_and_changes_nothing(client: FlaskClient, made: Made, fields: dict[str, str], sentence: str) -> None:
    example_id = _one_example(made)
    before = data.list_examples(made.store, "set")
    body = _post(client, f"/datasets/set/examples/{example_id}", made.token, 400, **fields).get_data(as_text=True)
    assert sentence in _message(body) and "Traceback" not in body
    assert data.list_examples(made.store, "set") == before
    assert sentence in _message(_post(client, "/datasets/set/examples", made.token, 400, **fields).get_data(as_text=True))
    assert len(data.list_examples(made.store, "set")) == 1


def test_unknown_examples_and_examples_of_another_dataset_are_404(client: FlaskClient, made: Made) -> None:
    example_id = _one_example(made)
    data.create_dataset(made.store, "other")
    fields = {"inputs": '{"q": 1}'}
    _post(client, f"/datasets/other/examples/{example_id}", made.token, 404, **fields)
    _post(client, f"/datasets/other/examples/{example_id}/delete", made.token, 404)
    _post(client, f"/datasets/set/examples/{'0' * 8}-0000-7000-8000-{'0' * 12}", made.token, 404, **fields)
    _post(client, "/datasets/set/examples/nope/delete", made.token, 404)
    _post(client, f"/datasets/missing/examples/{example_id}", made.token, 404, **fields)
    assert len(data.list_examples(made.store, "set")) == 1


def test_add_an_example_by_hand_then_delete_it(client: FlaskClient, made: Made) -> None:
    data.create_dataset(made.store, "hand")
    _post(client, "/datasets/hand/examples", made.token, inputs='{"question": "2+2?"}', outputs='{"answer": "4"}', split="train")
    (example,) = data.list_examples(made.store, "hand")
    assert (example.inputs, example.outputs, example.metadata, example.split) == ({"question": "2+2?"}, {"answer": "4"}, {}, "train")
    assert "Added an example." in page(client, "/datasets/hand")
    response = _post(client, f"/datasets/hand/examples/{example.id}/delete", made.token, inputs="ignored")
    assert response.headers["Location"] == "/datasets/hand"
    assert data.list_examples(made.store, "hand") == []
    assert "Deleted the example." in page(client, "/datasets/hand")
    _post(client, "/datasets/missing/examples", made.token, 404, inputs="{}")


def test_examples_are_paged_and_filtered_by_split(client: FlaskClient, made: Made) -> None:
    data.create_dataset(made.store, "big")
    data.add_examples(made.store, "big", [{"inputs": {"n": n}, "split": "test" if n % 10 == 0 else "train"} for n in range(30)])
    first = page(client, "/datasets/big")
    assert first.count('class="card example"') == 25 and 'href="/datasets/big?page=2"' in first and 'rel="prev"' not in first
    second = page(client, "/datasets/big?page=2")
    assert second.count('class="card example"') == 5 and 'href="/datasets/big?page=1"' in second and 'rel="next"' not in second
    tests = page(client, "/datasets/big?split=test")
    assert tests.count('class="card example"') == 3 and 'value="test"' in tests and "All splits" in tests
    assert "No examples in the split nope" in page(client, "/datasets/big?split=nope")
    assert "No examples on this page" in page(client, "/datasets/big?page=9")
    assert "page must be a whole number" in _message(page(client, "/datasets/big?page=0", 400))
    page(client, "/datasets/big?page=x", 400)


def test_model_output_and_names_are_text(client: FlaskClient, made: Made) -> None:
    name = f"evil{SCRIPT}"
    _post(client, "/datasets", made.token, name=name, description=IMG)
    data.add_examples(made.store, name, [{"inputs": {"q": SCRIPT}, "outputs": {"a": IMG}, "metadata": {"feedback": [{"key": SCRIPT, "comment": IMG, "score": "high", "value": {"v": IMG}}, "odd"]}}])
    _post(client, "/runs/add-to-dataset", made.token, run=made.ids[0], dataset=name)
    for url in ("/datasets", f"/datasets/{quote(name, safe='')}", f"/datasets/{quote(name, safe='')}/delete", f"/runs/{made.ids[0]}"):
        assert_safe(page(client, url))
