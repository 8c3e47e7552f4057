"""The feedback keys' settings page, the feedback controls of a run, and the review queue, over
a real store filled by the real tracer and Flask's test client: pages, posts and their errors."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

import tracer
from tracer.chat_models.fake import FakeChatModel
from tracer.datasets import create_feedback, list_feedback
from tracer.feedback_keys import list_feedback_keys
from tracer.store import Store, open_store
from viewer import create_app

PROJECT = "review"
SCRIPT = "<script>alert(1)</script>"


@dataclass
class Seeded:
    """Run ids of the review project, newest first (the runs page's order), and another's run."""

    runs: list[str]
    other: str


@pytest.fixture
def seeded() -> Seeded:
    with tracer.tracing_enabled(PROJECT):
        for question in ("first?", "second?", f"third {SCRIPT}?"):
            FakeChatModel([f"Answer to {question}"]).invoke(question)
    with tracer.tracing_enabled("elsewhere"):
        FakeChatModel(["other"]).invoke("other")
    assert tracer.flush(30)
    with open_store(tracer.get_settings().store_url) as store:
        return Seeded([str(run.id) for run in store.list_runs(PROJECT)], str(store.list_runs("elsewhere")[0].id))


@pytest.fixture
def app_store(seeded: Seeded) -> Iterator[tuple[FlaskClient, Store]]:
    app = create_app(tracer.get_settings().store_url, test_config={"TESTING": True})
    with app.test_client() as client:
        yield client, app.extensions["tracer_store"]
    app.extensions["tracer_store"].close()


@pytest.fixture
def client(app_store: tuple[FlaskClient, Store]) -> FlaskClient:
    return app_store[0]


@pytest.fixture
def store(app_store: tuple[FlaskClient, Store]) -> Store:
    return app_store[1]


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:1000])
    body = response.get_data(as_text=True)
    assert SCRIPT not in body
    return body


def sentence(body: str) -> str:
    match = re.search(r'<p class="error-message">([^<]*)</p>', body)
    assert match, body[:1000]
    return html.unescape(match.group(1))


def csrf(client: FlaskClient) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page(client, "/feedback-keys"))
    assert match
    return match.group(1)


def post(client: FlaskClient, url: str, status: int = 303, **form: str) -> str:
    response = client.post(url, data={"csrf_token": csrf(client), **form})
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:1000])
    return response.headers.get("Location", "") if status == 303 else response.get_data(as_text=True)


def add_tone(client: FlaskClient) -> None:
    post(client, "/feedback-keys", action="save", key="tone", kind="categories", categories="friendly = 1\nrude = 0\nodd", description="How it sounds")


# -- feedback keys ------------------------------------------------------------------------------


def test_settings_page_shows_the_defaults(client: FlaskClient) -> None:
    body = page(client, "/feedback-keys")
    assert re.findall(r'<th scope="row" class="feedback-key">([^<]*)<', body) == ["thumbs", "correctness"]
    assert "these are the defaults" in body
    assert 'name="csrf_token"' in body and '<select id="key-kind" name="kind">' in body


def test_add_edit_rename_reorder_and_delete_keys(client: FlaskClient, store: Store) -> None:
    assert post(client, "/feedback-keys", action="save", key="tone", kind="categories", categories="friendly = 1\nrude = 0\nodd") == "/feedback-keys"
    body = page(client, "/feedback-keys")
    assert "Saved the feedback key &#39;tone&#39;." in body and "these are the defaults" not in body
    tone = list_feedback_keys(store)[2]
    assert [(c.label, c.value) for c in tone.categories] == [("friendly", 1.0), ("rude", 0.0), ("odd", None)]

    form = page(client, "/feedback-keys?edit=tone")
    assert "Change tone" in form and "friendly = 1\nrude = 0\nodd</textarea>" in form
    post(client, "/feedback-keys", action="save", original="tone", key="voice", kind="categories", categories="calm\nloud")
    post(client, "/feedback-keys", action="save", key="range", kind="score", min="0", max="10")
    assert [c.key for c in list_feedback_keys(store)] == ["thumbs", "correctness", "voice", "range"]
    post(client, "/feedback-keys", action="up", key="range")
    post(client, "/feedback-keys", action="up", key="thumbs")  # already first: nothing moves
    post(client, "/feedback-keys", action="down", key="thumbs")
    assert [c.key for c in list_feedback_keys(store)] == ["correctness", "thumbs", "range", "voice"]
    post(client, "/feedback-keys", action="delete", key="thumbs")
    assert [c.key for c in list_feedback_keys(store)] == ["correctness", "range", "voice"]


@pytest.mark.parametrize(
    "form, status, message",
    [
        ({"action": "save", "key": "x", "kind": "emoji"}, 400, "kind: Input should be 'thumbs', 'stars', 'score', 'categories' or 'text'."),
        ({"action": "save", "key": "", "kind": "text"}, 400, "A feedback key must be 1 to 100 characters of text on one line."),
        ({"action": "save", "key": "x", "kind": "score", "min": "5", "max": "1"}, 400, "A score key's minimum must be less than its maximum."),
        ({"action": "save", "key": "x", "kind": "score", "min": "low", "max": "1"}, 400, "The minimum must be a number, not 'low'."),
        ({"action": "save", "key": "x", "kind": "categories", "categories": "a\na"}, 400, "A categories key's labels must all be different."),
        ({"action": "save", "key": "x", "kind": "categories", "categories": "\n"}, 400, "A categories key needs at least one category."),
        ({"action": "explode", "key": "x"}, 400, "The action must be save, delete, up or down."),
        ({"action": "delete", "key": "nope"}, 404, "No feedback key named 'nope' is configured."),
        ({"action": "up", "key": "nope"}, 404, "No feedback key named 'nope' is configured."),
    ],
)
def test_bad_key_forms_are_a_sentence(client: FlaskClient, store: Store, form: dict[str, str], status: int, message: str) -> None:
    assert sentence(post(client, "/feedback-keys", status, **form)) == message
    assert [c.key for c in list_feedback_keys(store)] == ["thumbs", "correctness"]


def test_settings_need_the_csrf_token(client: FlaskClient) -> None:
    assert client.post("/feedback-keys", data={"action": "delete", "key": "thumbs"}).status_code == 403
    page(client, "/feedback-keys?edit=nope", 404)


# -- a run's feedback controls ------------------------------------------------------------------


def test_run_page_shows_a_control_per_key(client: FlaskClient, seeded: Seeded) -> None:
    add_tone(client)
    post(client, "/feedback-keys", action="save", key="range", kind="score", min="-1", max="1")
    post(client, "/feedback-keys", action="save", key="note", kind="text")
    body = page(client, f"/runs/{seeded.runs[0]}")
    assert re.findall(r'name="label\.thumbs" value="(\w+)"', body) == ["up", "down"]
    assert re.findall(r'name="label\.correctness" value="(\d)"', body) == ["1", "2", "3", "4", "5"]
    assert re.findall(r'name="label\.tone" value="(\w+)"', body) == ["friendly", "rude", "odd"]
    assert re.search(r'<input [^>]*type="number" name="label\.range" min="-1.0" max="1.0"', body)
    assert '<textarea id="fb-' in body and 'name="label.note"' in body
    assert body.index('class="btn btn-primary fb-save"') < body.index('name="label.thumbs"')  # Enter's button
    assert '<script src="/static/review.js" defer></script>' in body


def test_labels_are_stored_from_the_ui_with_their_scores(client: FlaskClient, store: Store, seeded: Seeded) -> None:
    add_tone(client)
    run = seeded.runs[0]
    target = post(client, f"/runs/{run}/feedback", **{"label.correctness": "4", "label.tone": "rude", "comment": "Too curt.", "correction": '{"content": "Hello!"}', "next": "/projects/review"})
    assert target == "/projects/review"
    stored = list_feedback(store, [run])
    assert [(f.key, f.score, f.value, f.source) for f in stored] == [("correctness", 4.0, None, "ui"), ("tone", 0.0, "rude", "ui")]
    assert (stored[0].comment, stored[0].correction) == ("Too curt.", {"content": "Hello!"})
    assert (stored[1].comment, stored[1].correction) == (None, None)  # the notes are stored once
    post(client, f"/runs/{run}/feedback", thumb="down", next="https://evil.example/")
    assert list_feedback(store, [run])[-1].value == "down"
    body = page(client, f"/runs/{run}")
    assert "Too curt." in body and '<span class="tag fb-source">ui</span>' in body


@pytest.mark.parametrize(
    "form, message",
    [
        ({"label.correctness": "9"}, "'correctness' is 1 to 5 stars, not '9'."),
        ({"label.tone": "Rude"}, "'tone' is one of friendly, rude, odd; not 'Rude'."),
        ({"label.thumbs": "maybe"}, "'thumbs' is thumbs up or down, not 'maybe'."),
        ({"label.unknown": "1"}, "No feedback key named 'unknown' is configured; add it on the feedback keys page."),
        ({"score": "1"}, "Give the feedback a key (for example 'correctness')."),
        ({"comment": "only words"}, "Choose a label, or give a key for the comment."),
        ({}, "Give a score, a comment or a correction."),
    ],
)
def test_bad_labels_are_400_with_a_sentence(client: FlaskClient, store: Store, seeded: Seeded, form: dict[str, str], message: str) -> None:
    add_tone(client)
    assert sentence(post(client, f"/runs/{seeded.runs[0]}/feedback", 400, **form)) == message
    assert list_feedback(store, [seeded.runs[0]]) == []


def test_feedback_on_an_unknown_run_is_404(client: FlaskClient) -> None:
    post(client, "/runs/0190f4a6-0000-7000-8000-000000000000/feedback", 404, **{"label.thumbs": "up"})
    page(client, "/runs/0190f4a6-0000-7000-8000-000000000000/feedback", 404)


def test_json_answer_lists_what_was_created(client: FlaskClient, seeded: Seeded) -> None:
    response = client.post(
        f"/runs/{seeded.runs[1]}/feedback",
        data={"label.thumbs": "up", "key": "helpful", "score": "0.5"},
        headers={"X-CSRF-Token": csrf(client), "Accept": "application/json"},
    )
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["feedback"]["key"] == "thumbs" and [f["key"] for f in answer["created"]] == ["thumbs", "helpful"]
    assert {f["source"] for f in answer["created"]} == {"ui"}


def test_the_section_fragment_and_editing_and_deleting_ones_own(client: FlaskClient, store: Store, seeded: Seeded) -> None:
    run = seeded.runs[0]
    post(client, f"/runs/{run}/feedback", **{"label.correctness": "2", "comment": "Meh."})
    sdk = create_feedback(store, run, "helpful", score=1)
    (mine,) = [f for f in list_feedback(store, [run]) if f.source == "ui"]

    fragment = page(client, f"/runs/{run}/feedback?next=/runs/{run}")
    assert fragment.lstrip().startswith("{#") is False and "<html" not in fragment
    assert f'action="/feedback/{mine.id}"' in fragment and f'action="/feedback/{sdk.id}"' not in fragment
    assert '<option value="2" selected>2 stars</option>' in fragment

    post(client, f"/feedback/{mine.id}", raw="5", comment="Better on a second look.", correction="")
    changed = [f for f in list_feedback(store, [run]) if f.id == mine.id][0]
    assert (changed.score, changed.comment, changed.correction) == (5.0, "Better on a second look.", None)
    assert sentence(post(client, f"/feedback/{mine.id}", 400, raw="0")) == "'correctness' is 1 to 5 stars, not '0'."
    assert "only feedback given in the viewer" in sentence(post(client, f"/feedback/{sdk.id}", 403, raw="0"))
    assert "only feedback given in the viewer" in sentence(post(client, f"/feedback/{sdk.id}/delete", 403))
    post(client, f"/feedback/{mine.id}/delete")
    assert [f.id for f in list_feedback(store, [run])] == [sdk.id]
    post(client, f"/feedback/{mine.id}/delete", 404)


# -- the review queue ---------------------------------------------------------------------------


def _position(body: str) -> str:
    match = re.search(r'<p class="review-position"[^>]*>([^<]*)</p>', body)
    assert match
    return " ".join(match.group(1).split())


def test_queue_walks_the_filtered_runs_and_saving_moves_on(client: FlaskClient, store: Store, seeded: Seeded) -> None:
    add_tone(client)
    first, second, third = seeded.runs
    body = page(client, f"/projects/{PROJECT}/review?scope=llm")
    assert _position(body) == "Run 1 of 3" and f'data-review-run="{first}"' in body
    assert "Answer to third &lt;script&gt;" in body  # the conversation, escaped
    assert re.findall(r'data-shortcut="([^"]+)"', body) == ["j", "u", "d", "1", "2", "3", "4", "5", "f", "r", "o"]
    following = f"/projects/{PROJECT}/review?scope=llm&amp;run={second}"
    assert f'href="{following}" rel="next"' in body and 'rel="prev"' not in body
    assert f'name="next" value="{following}"' in body  # saving goes on to the next run

    target = post(client, f"/runs/{first}/feedback", **{"label.correctness": "5", "label.tone": "friendly", "next": html.unescape(following)})
    middle = page(client, target)
    assert _position(middle) == "Run 2 of 3" and "Answer to second?" in middle
    last = page(client, f"/projects/{PROJECT}/review?scope=llm&run={third}")
    assert _position(last) == "Run 3 of 3 · the last one" and 'rel="next"' not in last
    assert f'name="next" value="/projects/{PROJECT}/review?scope=llm&amp;run={third}"' in last
    assert [(f.key, f.score, f.source) for f in list_feedback(store, [first])] == [("correctness", 5.0, "ui"), ("tone", 1.0, "ui")]


def test_queue_follows_the_filter_expression(client: FlaskClient, seeded: Seeded) -> None:
    body = page(client, f"/projects/{PROJECT}/review?filter=search(%22second%22)")
    assert _position(body) == "Run 1 of 1 · the last one" and f'data-review-run="{seeded.runs[1]}"' in body


def test_an_empty_queue_says_so(client: FlaskClient) -> None:
    body = page(client, f"/projects/{PROJECT}/review?search=nothing-matches-this")
    assert "No run of review matches this filter." in body


def test_queue_errors(client: FlaskClient, seeded: Seeded) -> None:
    assert "No run with id" in sentence(page(client, f"/projects/{PROJECT}/review?run=0190f4a6-0000-7000-8000-000000000000", 404))
    assert "is not part of the project" in sentence(page(client, f"/projects/{PROJECT}/review?run={seeded.other}", 404))
    assert sentence(page(client, f"/projects/{PROJECT}/review?sort=colour", 400)) == "sort must be one of start, latency, tokens, cost, not 'colour'."
    page(client, f"/projects/{PROJECT}/review?filter=eq(", 400)
    page(client, "/projects/no-such-project/review", 404)
