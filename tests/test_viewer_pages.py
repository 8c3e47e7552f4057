"""The viewer's pages over a real store filled by the real tracer: projects, runs, trace, run,
compare and feedback, their error pages, and model output that tries to run script.

Each test gets a fresh store (conftest points TRACER_HOME at a temp folder); runs are made with
`FakeChatModel`, chains and `traceable`, flushed, then read back through `viewer.create_app`
and Flask's test client.
"""

from __future__ import annotations

import html
import re
import time
from html.parser import HTMLParser
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

import tracer
from tracer.chat_models.fake import FakeChatModel
from tracer.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from tracer.runnables import RunnableLambda
from tracer.store import open_store
from viewer import create_app
from viewer.charts import Series, bar_chart, line_chart, token_timeline
from viewer.conversation import conversation, reply_text
from viewer.pages import line_diff

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
JS_URL = "javascript:alert(1)"
LONG = "x" * 20_000
XSS_TEXT = f"{SCRIPT} {IMG} [click]({JS_URL})"


@dataclass
class Runs:
    """Ids of the runs made by `fill`, by role."""

    plain: str
    streamed: str
    chain_root: str
    chain_llm: str
    failed: str
    xss: str
    deep_root: str
    deep_leaf: str
    by_name: dict[str, str]


def _fill() -> Runs:
    with tracer.tracing_enabled("demo"):
        FakeChatModel(["Hello there, friend."]).invoke([SystemMessage("Be brief."), HumanMessage("hi")], config={"tags": ["greeting"], "metadata": {"user": "ann"}})
        list(FakeChatModel(["one two three four"]).stream("count for me"))
        chain = RunnableLambda(lambda x: x["question"]) | FakeChatModel(["The answer is 42."])
        chain.invoke({"question": "what is the answer?"}, config={"run_name": "answer-chain"})
        with pytest.raises(ValueError):
            FakeChatModel(error=ValueError(f"boom {SCRIPT}")).invoke("fail please", config={"run_name": "failing-call"})
        FakeChatModel([f"{XSS_TEXT}\n{LONG}"]).invoke(
            [
                HumanMessage(content=[{"type": "text", "text": XSS_TEXT}, {"type": "image_url", "image_url": {"url": JS_URL}}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]),
                AIMessage("", tool_calls=[{"name": f"lookup{SCRIPT}", "args": {"q": IMG}, "id": "call_1"}]),
                ToolMessage(f"result {IMG}", tool_call_id="call_1"),
            ],
            config={"run_name": f"xss{SCRIPT}", "tags": [f"tag{IMG}"], "metadata": {"note": SCRIPT}},
        )

        @tracer.traceable(name="level")
        def level(n: int) -> int:
            return level(n - 1) + 1 if n else 0

        level(6)
    with tracer.tracing_enabled("second"):
        FakeChatModel(["other project"]).invoke("hello")
    assert tracer.flush(30)
    store = open_store(tracer.get_settings().store_url)
    try:
        everything = store.list_runs(limit=1000)
    finally:
        store.close()
    by_name: dict[str, str] = {}
    for run in everything:
        by_name.setdefault(run.name, str(run.id))
    chain_root = next(r for r in everything if r.name == "answer-chain")
    chain_llm = next(r for r in everything if r.parent_run_id == chain_root.id and r.run_type == "llm")
    streamed = next(r for r in everything if r.run_type == "llm" and r.first_token_time is not None)
    plain = next(r for r in everything if r.run_type == "llm" and "greeting" in r.tags)
    levels = sorted((r for r in everything if r.name == "level"), key=lambda r: r.dotted_order.count("."))
    return Runs(
        plain=str(plain.id),
        streamed=str(streamed.id),
        chain_root=str(chain_root.id),
        chain_llm=str(chain_llm.id),
        failed=by_name["failing-call"],
        xss=by_name[f"xss{SCRIPT}"],
        deep_root=str(levels[0].id),
        deep_leaf=str(levels[-1].id),
        by_name=by_name,
    )


@pytest.fixture
def runs() -> Runs:
    return _fill()


@pytest.fixture
def client(runs: Runs) -> Iterator[FlaskClient]:
    app = create_app(tracer.get_settings().store_url, test_config={"TESTING": True})
    with app.test_client() as client:
        yield client
    app.extensions["tracer_store"].close()


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:2000])
    return response.get_data(as_text=True)


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def assert_safe(body: str) -> None:
    """No payload unescaped; no inline script, event handler or style; no javascript: URL."""
    assert SCRIPT not in body
    assert IMG not in body
    parser = _Tags()
    parser.feed(body)
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs, (tag, attrs)
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs
        for name in ("href", "src", "action", "formaction"):
            assert not attrs.get(name, "").strip().lower().startswith("javascript:"), (tag, attrs)
        if tag == "img":
            assert attrs.get("src", "").startswith("data:image/"), attrs  # never a remote image


def csrf(client: FlaskClient) -> str:
    body = page(client, "/")
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', body)
    assert match
    return match.group(1)


# -- projects -----------------------------------------------------------------------------------


def test_projects_page_lists_projects_with_figures_and_charts(client: FlaskClient) -> None:
    body = page(client, "/")
    assert_safe(body)
    assert 'href="/projects/demo"' in body and 'href="/projects/second"' in body
    assert "Error rate" in body and "p95 latency" in body
    assert body.count('<svg class="chart') >= 8  # four charts for each of two projects
    assert 'role="img"' in body and "Runs and errors" in body and "Latency" in body


def test_projects_page_charts_feedback_per_key(client: FlaskClient, runs: Runs) -> None:
    from tracer.datasets import create_feedback

    assert "Feedback: " not in page(client, "/")
    store = client.application.extensions["tracer_store"]
    create_feedback(store, runs.plain, "correctness", score=4)
    create_feedback(store, runs.streamed, "correctness", score=2)
    create_feedback(store, runs.chain_root, "thumbs", score=True)
    body = page(client, "/")
    assert "Feedback: correctness" in body and "Feedback: thumbs" in body
    assert "average score: 3" in body  # the two stars of the same hour averaged


def test_projects_period_is_checked(client: FlaskClient) -> None:
    assert "Last 24h" in page(client, "/?period=24h")
    body = page(client, "/?period=forever", 400)
    assert "period" in body


def test_projects_page_when_the_store_is_empty(isolated_tracer: Any) -> None:
    app = create_app(tracer.get_settings().store_url, test_config={"TESTING": True})
    body = page(app.test_client(), "/")
    assert "No projects yet" in body
    app.extensions["tracer_store"].close()


# -- runs ---------------------------------------------------------------------------------------


def test_runs_page_shows_root_runs_with_their_columns(client: FlaskClient, runs: Runs) -> None:
    body = page(client, "/projects/demo")
    assert_safe(body)
    assert f'href="/runs/{runs.plain}' in body
    assert f'href="/traces/{runs.chain_root}?run={runs.chain_root}"' in body
    assert f'/runs/{runs.chain_llm}' not in body  # a child: not a root run
    assert "answer-chain" in body and "failing-call" in body
    assert 'name="run" value="' in body and 'action="/compare"' in body
    for header in ("Latency", "First token", "Tokens in / out", "Cost", "Model", "Tags", "Feedback"):
        assert header in body
    assert "greeting" in body and "fake-chat" in body
    assert "badge-error" in body


def test_runs_page_scopes(client: FlaskClient, runs: Runs) -> None:
    everything = page(client, "/projects/demo?scope=all")
    assert f"/runs/{runs.chain_llm}" in everything and f"/runs/{runs.deep_leaf}" in everything
    llm_only = page(client, "/projects/demo?scope=llm")
    assert f"/runs/{runs.chain_llm}" in llm_only
    assert f"/runs/{runs.chain_root}" not in llm_only and f"/runs/{runs.deep_root}" not in llm_only


def test_runs_page_filters_through_the_url(client: FlaskClient, runs: Runs) -> None:
    failed = page(client, "/projects/demo?status=error")
    assert f"/runs/{runs.failed}" in failed and f"/runs/{runs.plain}" not in failed
    chains = page(client, "/projects/demo?run_type=chain&scope=all")
    assert f"/runs/{runs.chain_root}" in chains and f"/runs/{runs.plain}" not in chains
    tagged = page(client, "/projects/demo?tag=greeting")
    assert f"/runs/{runs.plain}" in tagged and f"/runs/{runs.failed}" not in tagged
    # Empty form fields are ignored, and the filter form shows what is applied.
    both = page(client, "/projects/demo?status=error&model=&tag=")
    assert f"/runs/{runs.failed}" in both
    assert '<option selected>error</option>' in both


def test_runs_page_filter_expression(client: FlaskClient, runs: Runs) -> None:
    failed = page(client, '/projects/demo?filter=eq(status, "error")')
    assert f"/runs/{runs.failed}" in failed and f"/runs/{runs.plain}" not in failed
    tagged = page(client, '/projects/demo?filter=and(has(tags, "greeting"), eq(metadata.user, "ann"))')
    assert f"/runs/{runs.plain}" in tagged and f"/runs/{runs.failed}" not in tagged
    assert 'value="and(has(tags, &#34;greeting&#34;), eq(metadata.user, &#34;ann&#34;))"' in tagged
    # It combines with the form's other fields, and runs pages and the review link carry it.
    none = page(client, '/projects/demo?status=success&filter=eq(status, "error")')
    assert "No runs match" in none
    assert "/projects/demo/review?filter=" in tagged


def test_runs_page_bad_filter_expression_marks_the_position(client: FlaskClient, runs: Runs) -> None:
    body = page(client, "/projects/demo?filter=and(eq(status, \"error\"), gt(latency))", 400)
    assert 'aria-invalid="true"' in body and 'data-filter-position="' in body
    position = int(re.search(r'data-filter-position="(\d+)"', body).group(1))  # type: ignore[union-attr]
    caret_line = html.unescape(re.search(r'<pre class="mono"[^>]*>(.*?)</pre>', body, re.S).group(1)).splitlines()[1]  # type: ignore[union-attr]
    assert caret_line == " " * position + "^"
    assert "Traceback" not in body and f"/runs/{runs.plain}" not in body
    # The JSON answer names the position too.
    response = client.get("/projects/demo?filter=gt(latency", headers={"Accept": "application/json"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["position"] == len("gt(latency") and "position" in error["message"]


def test_runs_page_search(client: FlaskClient, runs: Runs) -> None:
    body = page(client, "/projects/demo?search=answer")
    assert f"/runs/{runs.chain_root}" in body
    assert f"/runs/{runs.plain}" not in body
    assert 'value="answer"' in body
    nothing = page(client, "/projects/demo?search=zebra")
    assert "No runs match" in nothing


def test_runs_page_sort_links_and_pages(client: FlaskClient, runs: Runs) -> None:
    body = page(client, "/projects/demo?scope=all&limit=3")
    assert body.count('name="run" value="') == 3
    assert 'aria-sort="descending"' in body
    assert "sort=latency" in body
    nexts = re.findall(r'<a class="btn" rel="next" href="([^"]+)"', body)
    assert nexts, "a next-page link"
    seen = set(re.findall(r'name="run" value="([^"]+)"', body))
    url = html.unescape(nexts[0])
    pages = 1
    while url:
        following = page(client, url)
        ids = set(re.findall(r'name="run" value="([^"]+)"', following))
        assert ids and not ids & seen
        seen |= ids
        found = re.findall(r'<a class="btn" rel="next" href="([^"]+)"', following)
        url = html.unescape(found[0]) if found else ""
        pages += 1
        assert pages < 20
    assert "First page" in following
    assert len(seen) == len(re.findall(r'name="run" value="', page(client, "/projects/demo?scope=all&limit=200")))
    slowest = page(client, "/projects/demo?scope=all&sort=latency&direction=desc")
    assert 'aria-sort="descending"' in slowest and "direction=asc" in slowest


@pytest.mark.parametrize(
    "query",
    ["status=sideways", "scope=everything", "sort=colour", "limit=-4", "min_latency_ms=fast", "since=yesterdayish", "cursor=%%%not-a-cursor", "feedback_min=high"],
)
def test_runs_page_bad_query_values_are_400(client: FlaskClient, query: str) -> None:
    body = page(client, f"/projects/demo?{query}", 400)
    assert "<h1>" in body and "Traceback" not in body


def test_unknown_project_is_404(client: FlaskClient) -> None:
    body = page(client, "/projects/nope", 404)
    assert "nope" in body


# -- trace --------------------------------------------------------------------------------------


def test_trace_page_tree_and_waterfall(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/traces/{runs.deep_root}")
    assert_safe(body)
    assert body.count('role="treeitem"') == 7
    for depth in range(7):
        assert f'aria-level="{depth + 1}"' in body
    assert "depth-6" in body
    bars = re.findall(r'<rect class="wf-bar[^"]*" x="([\d.]+)" y="1" width="([\d.]+)"', body)
    assert len(bars) == 7
    assert float(bars[0][0]) == 0.0 and float(bars[0][1]) > 900  # the root spans the trace
    assert all(0 <= float(x) <= 1000 and 0 < float(w) <= 1000 for x, w in bars)
    # The root is selected, and its details are in the side panel.
    assert f'data-run="{runs.deep_root}" aria-selected="true"' in body
    assert f'data-run-id="{runs.deep_root}"' in body


def test_trace_page_selects_the_run_in_the_query(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/traces/{runs.chain_root}?run={runs.chain_llm}")
    assert f'data-run="{runs.chain_llm}" aria-selected="true"' in body
    assert f'data-run-id="{runs.chain_llm}"' in body
    assert "The answer is 42." in body
    page(client, f"/traces/{runs.chain_root}?run={runs.plain}", 404)  # not in this trace


def test_trace_panel_fragment(client: FlaskClient, runs: Runs) -> None:
    response = client.get(f"/runs/{runs.chain_llm}/panel")
    assert response.status_code == 200 and response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert not body.lstrip().startswith("<!doctype") and "<html" not in body
    assert f'data-run-id="{runs.chain_llm}"' in body and "The answer is 42." in body
    assert f'href="/runs/{runs.chain_llm}"' in body  # open the full run page
    assert_safe(body)


def test_unknown_trace_is_404(client: FlaskClient, runs: Runs) -> None:
    page(client, "/traces/0190f4a6-0000-7000-8000-000000000000", 404)
    page(client, "/traces/not-a-uuid", 404)


# -- run ----------------------------------------------------------------------------------------


def test_run_page_of_a_chat_model_call(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/runs/{runs.plain}")
    assert_safe(body)
    assert "role-system" in body and "Be brief." in body
    assert "role-user" in body and "hi" in body
    assert "role-assistant" in body and "Hello there, friend." in body
    assert "Invocation parameters" in body and "model_name" in body
    assert "&#34;user&#34;: &#34;ann&#34;" in body or "&quot;user&quot;: &quot;ann&quot;" in body
    assert "greeting" in body and "Runtime" in body and "python" in body
    assert "Raw JSON" in body and "<details" in body
    assert f'href="/traces/{runs.plain}?run={runs.plain}"' in body
    assert 'class="feedback-form"' in body and 'name="csrf_token"' in body


def test_run_page_token_timeline(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/runs/{runs.streamed}")
    assert 'class="token-timeline"' in body
    assert body.count('class="token-tick"') == 4  # "one", " two", " three", " four"
    assert "<title>+" in body and " three</title>" in body
    assert "Time to first token" in body


def test_run_page_of_a_chain_shows_json(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/runs/{runs.chain_root}")
    assert "Inputs" in body and "&#34;question&#34;" in body or "&quot;question&quot;" in body
    assert "The answer is 42." in body


def test_run_page_links_to_its_parent(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/runs/{runs.chain_llm}")
    assert f'href="/runs/{runs.chain_root}" rel="up"' in body


def test_run_page_of_a_failed_run(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/runs/{runs.failed}")
    assert_safe(body)
    assert '<pre class="error-text">' in body
    assert "ValueError" in body and "Traceback (most recent call last)" in body
    assert html.escape(f"boom {SCRIPT}", quote=False) in body


def test_run_page_prev_next(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/runs/{runs.chain_root}?scope=all&cursor=&model=")
    links = dict(re.findall(r'href="(/runs/[^"]+)" rel="(prev|next)"', body))
    assert set(links.values()) == {"prev", "next"}
    following = next(url for url, rel in links.items() if rel == "next")
    assert html.unescape(following).endswith("?scope=all")  # the filter, canonical
    assert 'data-key="j"' in body and 'data-key="k"' in body
    assert page(client, html.unescape(following))


def test_unknown_and_malformed_run_ids_are_404(client: FlaskClient) -> None:
    body = page(client, "/runs/0190f4a6-0000-7000-8000-000000000000", 404)
    assert "Not found" in body and "Traceback" not in body
    page(client, "/runs/not-a-uuid", 404)
    page(client, "/runs/0190f4a6-0000-7000-8000-000000000000/panel", 404)


# -- compare ------------------------------------------------------------------------------------


def test_compare_two_runs_with_a_diff(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/compare?run={runs.plain}&run={runs.chain_llm}&run={runs.xss}")
    assert_safe(body)
    assert "Compare 3 runs" in body
    assert '<span class="diff-removed">Hello there, friend.' in body
    assert '<span class="diff-added">The answer is 42.' in body
    assert "Invocation parameters" in body and "model_name" in body
    assert "Be brief." in body and "what is the answer?" in body


def test_compare_needs_two_runs(client: FlaskClient, runs: Runs) -> None:
    body = page(client, f"/compare?run={runs.plain}", 400)
    assert "at least two runs" in body
    page(client, "/compare", 400)
    page(client, f"/compare?run={runs.plain}&run={runs.plain}", 400)  # the same run twice
    page(client, f"/compare?run={runs.plain}&run=0190f4a6-0000-7000-8000-000000000000", 404)


# -- feedback -----------------------------------------------------------------------------------


def test_feedback_is_stored_and_shown(client: FlaskClient, runs: Runs) -> None:
    token = csrf(client)
    response = client.post(
        f"/runs/{runs.plain}/feedback",
        data={"csrf_token": token, "key": "correctness", "score": "0.5", "comment": f"meh {SCRIPT}", "correction": "Hi!", "next": f"/runs/{runs.plain}"},
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/runs/{runs.plain}")
    response = client.post(f"/runs/{runs.plain}/feedback", data={"csrf_token": token, "thumb": "up"})
    assert response.status_code == 303
    response = client.post(f"/runs/{runs.plain}/feedback", data={"csrf_token": token, "key": f"k{IMG}", "score": "1", "correction": f'{{"text": "{SCRIPT}"}}'})
    assert response.status_code == 303
    body = page(client, f"/runs/{runs.plain}")
    assert_safe(body)
    assert f"k{html.escape(IMG, quote=False)}" in body
    assert "correctness" in body and "0.5" in body and html.escape(f"meh {SCRIPT}", quote=False) in body
    assert "thumbs" in body and "Hi!" in body
    listed = page(client, "/projects/demo")
    assert "correctness: 0.5" in listed
    assert_safe(listed)
    compared = page(client, f"/compare?run={runs.plain}&run={runs.streamed}")
    assert "correctness" in compared
    assert_safe(compared)


def test_feedback_needs_the_csrf_token(client: FlaskClient, runs: Runs) -> None:
    response = client.post(f"/runs/{runs.plain}/feedback", data={"key": "x", "score": "1"})
    assert response.status_code == 403
    csrf(client)
    response = client.post(f"/runs/{runs.plain}/feedback", data={"key": "x", "score": "1", "csrf_token": "wrong"})
    assert response.status_code == 403
    assert "No feedback yet." in page(client, f"/runs/{runs.plain}")


def test_feedback_with_the_header_token_and_json(client: FlaskClient, runs: Runs) -> None:
    token = csrf(client)
    response = client.post(
        f"/runs/{runs.plain}/feedback", data={"key": "helpful", "score": "1"}, headers={"X-CSRF-Token": token, "Accept": "application/json"}
    )
    assert response.status_code == 201
    assert response.get_json()["feedback"]["key"] == "helpful"


@pytest.mark.parametrize(
    "form, status",
    [
        ({"key": "x", "score": "lots"}, 400),
        ({"key": "x", "score": "nan"}, 400),
        ({"key": "", "score": "1"}, 400),
        ({"key": "x"}, 400),
        ({"thumb": "sideways"}, 400),
        ({"key": "k" * 101, "score": "1"}, 400),
    ],
)
def test_bad_feedback_is_400(client: FlaskClient, runs: Runs, form: dict[str, str], status: int) -> None:
    token = csrf(client)
    response = client.post(f"/runs/{runs.plain}/feedback", data={**form, "csrf_token": token})
    assert response.status_code == status
    assert "No feedback yet." in page(client, f"/runs/{runs.plain}")


def test_feedback_on_an_unknown_run_is_404(client: FlaskClient) -> None:
    token = csrf(client)
    response = client.post("/runs/0190f4a6-0000-7000-8000-000000000000/feedback", data={"csrf_token": token, "thumb": "up"})
    assert response.status_code == 404


def test_feedback_never_redirects_to_another_site(client: FlaskClient, runs: Runs) -> None:
    token = csrf(client)
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(f"/runs/{runs.plain}/feedback", data={"csrf_token": token, "thumb": "down", "next": target})
        assert response.status_code == 303
        assert response.headers["Location"].endswith(f"/runs/{runs.plain}")


# -- untrusted text -----------------------------------------------------------------------------


def test_model_output_is_escaped_everywhere(client: FlaskClient, runs: Runs) -> None:
    urls = [
        "/",
        "/projects/demo",
        "/projects/demo?scope=all",
        f"/runs/{runs.xss}",
        f"/runs/{runs.xss}/panel",
        f"/traces/{runs.xss}",
        f"/compare?run={runs.xss}&run={runs.plain}",
        f"/projects/demo?search={SCRIPT}",
    ]
    for url in urls:
        assert_safe(page(client, url))
    body = page(client, f"/runs/{runs.xss}")
    escaped_script, escaped_img = html.escape(SCRIPT, quote=False), html.escape(IMG, quote=False)
    assert escaped_script in body and escaped_img in body
    assert f"lookup{escaped_script}" in body  # a tool call's name
    assert "tool-call" in body and "tool-result" in body  # its args and result
    assert f"tag{escaped_img}" in body  # a tag
    assert f"xss{escaped_script}" in body  # the run's name
    # A javascript: image address is text, never a link; a web address is a link, not an <img>.
    assert "Image: javascript:alert(1)" in body
    assert 'href="https://example.com/cat.png"' in body and 'src="https://example.com/cat.png"' not in body
    # The 20,000-character line is there whole, in a block that wraps.
    assert LONG in body
    assert re.search(r'<div class="block-text">[^<]*' + LONG, body)


def test_search_box_query_is_escaped(client: FlaskClient) -> None:
    body = page(client, f"/projects/demo?search={IMG}")
    assert_safe(body)
    assert 'value="&lt;img src=x onerror=alert(1)&gt;"' in body


def test_hostile_project_name(isolated_tracer: Any) -> None:
    name = f"p{SCRIPT}/x"
    with tracer.tracing_enabled(name):
        FakeChatModel(["ok"]).invoke("hi")
    assert tracer.flush(30)
    app = create_app(tracer.get_settings().store_url, test_config={"TESTING": True})
    client = app.test_client()
    body = page(client, "/")
    assert_safe(body)
    assert 'href="/projects/p%3Cscript%3Ealert%281%29%3C%2Fscript%3E%2Fx"' in body
    runs_page = page(client, "/projects/p%3Cscript%3Ealert%281%29%3C%2Fscript%3E%2Fx")
    assert_safe(runs_page)
    assert "ok" in runs_page or "FakeChatModel" in runs_page
    app.extensions["tracer_store"].close()


def test_pages_css_wraps_long_text() -> None:
    from pathlib import Path

    import viewer

    css = (Path(viewer.__file__).parent / "static" / "pages.css").read_text()
    assert re.search(r"\.block-text \{[^}]*overflow-wrap: anywhere", css)


# -- the pieces ---------------------------------------------------------------------------------


def test_conversation_of_each_provider_shape() -> None:
    openai_in = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "u"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}
    openai_out = {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}}]}
    view = conversation("llm", openai_in, openai_out)
    assert view.is_chat and [m.role for m in view.messages] == ["system", "user"]
    image = view.messages[1].blocks[1]
    assert image.kind == "image" and image.inline and image.url.startswith("data:image/png;base64,")
    call = view.reply[0].blocks[0]
    assert call.kind == "tool_call" and call.name == "f" and '"a": 1' in call.text
    anthropic = {"messages": [[{"type": "ai", "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "tool_use", "id": "t1", "name": "g", "input": {"b": 2}}], "tool_calls": [{"name": "g", "args": {"b": 2}, "id": "t1"}]}, {"type": "human", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "done", "is_error": True}, {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]]}
    view = conversation("llm", anthropic, None)
    kinds = [b.kind for b in view.messages[0].blocks]
    assert kinds == ["thinking", "tool_call"]  # the tool call once, not twice
    result, image = view.messages[1].blocks
    assert result.kind == "tool_result" and result.is_error and result.text == "done"
    assert image.url == "https://x/y.png" and not image.inline
    gemini = {"messages": [{"role": "model", "parts": [{"text": "hi"}, {"functionCall": {"name": "h", "args": {}}}, {"inline_data": {"mime_type": "image/svg+xml", "data": "PHN2Zz4="}}]}]}
    view = conversation("llm", gemini, {"output": "fine"})
    blocks = view.messages[0].blocks
    assert view.messages[0].role == "assistant" and [b.kind for b in blocks] == ["text", "tool_call", "image"]
    assert blocks[2].url is None and "not shown" in blocks[2].label  # SVG is never inlined
    lc = {"messages": [[{"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "HumanMessage"], "kwargs": {"content": "from langchain"}}]]}
    assert conversation("llm", lc, None).messages[0].text == "from langchain"
    chain = conversation("chain", {"x": 1}, {"output": "y"})
    assert not chain.is_chat and '"x": 1' in chain.inputs_json
    odd = conversation("llm", {"whatever": 1}, {"something": 2})
    assert not odd.is_chat  # falls back to JSON rather than guessing


def test_running_run_shows_the_tokens_so_far() -> None:
    events = [{"name": "new_token", "time": "t", "kwargs": {"token": "Hel"}}, {"name": "new_token", "time": "t", "kwargs": {"token": "lo"}}]
    view = conversation("llm", {"messages": [[{"type": "human", "content": "hi"}]]}, None, events)
    assert view.reply[0].text == "Hello"


def test_reply_text_and_line_diff() -> None:
    assert reply_text("chain", {"output": "a\nb"}) == "a\nb"
    diff = line_diff("a\nb\nc", "a\nB\nc\nd")
    assert [(d.kind, d.text) for d in diff] == [("same", "a"), ("removed", "b"), ("added", "B"), ("same", "c"), ("added", "d")]


def test_charts_escape_and_describe() -> None:
    from datetime import datetime, timedelta, timezone

    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    times = [t0 + timedelta(hours=i) for i in range(4)]
    svg = str(line_chart(f"Latency {SCRIPT}", times, [Series("p50", [1.0, None, 3.0, 2.0])], unit="ms"))
    assert SCRIPT not in svg and html.escape(SCRIPT, quote=False) in svg
    assert svg.startswith("<svg") and 'role="img"' in svg and "p50: latest 2 ms" in svg
    assert svg.count("<circle") == 3 and svg.count(" M") + svg.count('"M') == 2  # a gap for None
    bars = str(bar_chart("Runs", times, [Series("runs", [0, 5, 2, 1]), Series("errors", [0, 1, 0, 0])]))
    assert bars.count("<rect") == 4
    empty = str(line_chart("Nothing", [], [Series("x", [])]))
    assert "no data" in empty
    ticks = str(token_timeline([(0.0, IMG), (5.0, "b")], 10.0))
    assert IMG not in ticks and ticks.count("<line class=\"token-tick\"") == 2


def test_a_running_run_shows_its_reply_so_far(isolated_tracer: Any) -> None:
    with tracer.tracing_enabled("live"):
        stream = FakeChatModel([["Hel", "lo ", "wor", "ld"]]).stream("hi")
        assert next(stream).content == "" and next(stream).content == "Hel" and next(stream).content == "lo "
        time.sleep(0.25)  # the tracer hands streamed pieces over every 0.2 s
        assert next(stream).content == "wor"
        assert tracer.flush(30)
        app = create_app(tracer.get_settings().store_url, test_config={"TESTING": True})
        client = app.test_client()
        store = app.extensions["tracer_store"]
        (run,) = store.list_runs(project_name="live")
        assert run.status == "running"
        body = page(client, f"/runs/{run.id}")
        assert 'data-status="running"' in body and "badge-running" in body
        assert '<div class="block-text">Hello wor</div>' in body
        tree = page(client, f"/traces/{run.id}")
        assert re.search(r'<rect class="wf-bar t-llm s-running" x="0.0" y="1" width="1000.0"', tree)
        assert "running" in page(client, "/projects/live")
        list(stream)
    app.extensions["tracer_store"].close()
