"""The viewer as a person uses it, in headless Chromium: every page, filters and search, the
trace tree, feedback, a run growing live, and model output that must never run as script.

Each test fails on any page error, console error (a CSP violation is one) or dialog.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"  # the same as conftest.py's
PROJECT = "shop-assistant"  # the project conftest.seed_store writes

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"Browser tests need Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it).",
        allow_module_level=True,
    )
pytest.importorskip("playwright.sync_api", reason="Browser tests need the playwright package: pip install -e '.[test]'.")

from playwright.sync_api import Page, expect  # noqa: E402

import tracer  # noqa: E402
from tracer.chat_models import FakeChatModel  # noqa: E402

Seeded = Server = Watched = Any  # the fixtures' types, defined in conftest.py

pytestmark = pytest.mark.timeout(180)

LIVE_REPLY = " ".join(
    "Once upon a time a small tracer watched every token of a long reply arrive one by one".split() * 4
) + "."


def _runs_url(server: Server, query: str = "") -> str:
    return f"{server.url}/projects/{PROJECT}{query}"


def _rows(page: Page) -> Any:
    return page.locator("table.runs-table tbody tr")


def _in_background(fn: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def _stream_in_project(reply: str, latency: float, model: str = "gpt-4o-mini") -> Callable[[], None]:
    def run() -> None:
        with tracer.tracing_enabled(PROJECT):
            for _ in FakeChatModel([reply], latency=latency, model=model).stream("Tell me a story."):
                pass
        tracer.flush(10)

    return run


def _running_run(server: Server, within: float = 10.0, run_type: str = "llm") -> str:
    """The id of the project's model call in progress, once the store has it."""
    store = server.app.extensions["tracer_store"]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = store.list_runs(PROJECT, status="running", run_type=run_type, limit=1)
        if found:
            return str(found[0].id)
        time.sleep(0.05)
    raise AssertionError("no run in progress showed up in the store")


# -- pages ----------------------------------------------------------------------------------------


def test_every_page_opens(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    response = page.goto(server.url + "/")
    assert response is not None and response.status == 200
    expect(page.get_by_role("link", name=PROJECT).first).to_be_visible()
    assert page.locator("svg.chart").count() >= 1

    page.get_by_role("link", name=PROJECT).first.click()
    expect(page).to_have_url(re.compile(rf"/projects/{PROJECT}"))
    expect(page.locator("h1")).to_have_text(PROJECT)
    expect(_rows(page)).to_have_count(6)  # root runs: the session, four calls, the XSS reply

    page.goto(f"{server.url}/traces/{seeded.trace_id}")
    expect(page.locator("[role=tree] a[data-run]")).to_have_count(4)
    expect(page.locator("#run-panel .run-panel")).to_be_visible()

    page.goto(f"{server.url}/runs/{seeded.llm_id}")
    panel = page.locator(".run-panel")
    expect(panel.locator("[data-live-status]")).to_have_text("success")
    expect(panel.locator("[data-live-reply]")).to_contain_text("has shipped and arrives Tuesday")
    expect(panel.locator(".messages").first).to_contain_text("Where is my order A-1001?")

    page.goto(f"{server.url}/compare?run={seeded.llm_id}&run={seeded.xss_id}")
    expect(page.locator("body")).to_contain_text("has shipped")

    missing = page.goto(f"{server.url}/runs/0190d7c6-0000-7000-8000-000000000000")
    assert missing is not None and missing.status == 404
    expect(page.locator("main")).to_contain_text("run")
    watched.errors = [e for e in watched.errors if "404" not in e]  # the 404 itself is logged
    watched.assert_clean()


def test_filter_and_search_the_runs_table(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    page.goto(_runs_url(server))
    expect(_rows(page)).to_have_count(6)

    page.select_option("#f-status", "error")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"status=error"))
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text("upstream timed out")

    page.goto(_runs_url(server))
    page.fill("#f-search", "harbour")
    page.press("#f-search", "Enter")
    expect(page).to_have_url(re.compile(r"search=harbour"))
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text("claude-3-haiku")

    page.goto(_runs_url(server))
    page.fill("#f-tag", "faq")
    page.get_by_role("button", name="Apply").click()
    expect(_rows(page)).to_have_count(2)

    page.goto(_runs_url(server))
    page.get_by_role("link", name="LLM calls").click()
    expect(page).to_have_url(re.compile(r"scope=llm"))
    expect(_rows(page)).to_have_count(6)  # five root calls and the one inside the chain
    watched.assert_clean()


def test_open_a_trace_and_select_a_node(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    page.goto(f"{server.url}/traces/{seeded.trace_id}")
    node = page.locator(f'[role=tree] a[data-run="{seeded.llm_id}"]')
    node.click()
    panel = page.locator(f'#run-panel .run-panel[data-run-id="{seeded.llm_id}"]')
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("has shipped and arrives Tuesday")
    expect(node).to_have_attribute("aria-selected", "true")
    expect(page).to_have_url(re.compile(rf"run={seeded.llm_id}"))

    page.locator(f'[role=tree] a[data-run="{seeded.tool_id}"]').click()
    expect(page.locator(f'#run-panel .run-panel[data-run-id="{seeded.tool_id}"]')).to_contain_text("shipped")
    watched.assert_clean()


def test_leave_feedback_then_it_is_listed(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    page.goto(f"{server.url}/runs/{seeded.llm_id}")
    expect(page.locator(".feedback")).to_contain_text("No feedback yet.")
    page.fill(f"#fb-comment-{seeded.llm_id}", "Accurate and friendly.")
    page.get_by_role("button", name="Thumbs up").click()
    listed = page.locator(".feedback-list .feedback-item")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("thumbs")
    expect(listed.first).to_contain_text("Accurate and friendly.")

    # In the trace page's panel the form is sent by script (with the CSRF header) and the
    # panel is redrawn in place.
    page.goto(f"{server.url}/traces/{seeded.trace_id}?run={seeded.tool_id}")
    panel = page.locator("#run-panel")
    panel.locator(f"#fb-key-{seeded.tool_id}").fill("correctness")
    panel.locator(f"#fb-score-{seeded.tool_id}").fill("0.5")
    panel.get_by_role("button", name="Add feedback").click()
    expect(panel.locator(".feedback-list .feedback-item")).to_contain_text("correctness")
    expect(page).to_have_url(re.compile(rf"/traces/{seeded.trace_id}"))
    watched.assert_clean()


# -- live -----------------------------------------------------------------------------------------


def test_a_new_run_appears_on_the_runs_page_without_reload(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    page.goto(_runs_url(server))
    expect(_rows(page)).to_have_count(6)
    expect(page.locator("tbody[data-live-rows]")).to_have_attribute("data-live-connected", "true")
    worker = _in_background(_stream_in_project("A quick answer that streams.", latency=0.15))
    fresh = page.locator("table.runs-table tbody tr.live-new")
    expect(fresh).to_have_count(1)
    expect(_rows(page)).to_have_count(7)
    expect(_rows(page).first).to_have_class(re.compile("live-new"))
    expect(fresh.locator(".badge-running, .badge-success").first).to_be_visible()
    expect(fresh).to_contain_text("success", timeout=15_000)
    expect(fresh).to_contain_text("gpt-4o-mini")
    worker.join(10)
    # The new row links to its run page like the others.
    fresh.get_by_role("link", name="FakeChatModel").click()
    expect(page.locator("[data-live-reply]")).to_contain_text("A quick answer that streams.")
    watched.assert_clean()


def test_a_live_run_grows_on_its_page_then_succeeds(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    worker = _in_background(_stream_in_project(LIVE_REPLY, latency=0.08))
    run_id = _running_run(server)
    page.goto(f"{server.url}/runs/{run_id}")
    status = page.locator(f'[data-live-status="{run_id}"]')
    expect(status).to_have_text("running")
    reply = page.locator(f'[data-live-reply="{run_id}"]')

    streamed = f'[data-live-reply="{run_id}"] [data-live-text]'
    lengths = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lengths.append(page.evaluate("(s) => (document.querySelector(s) || {textContent: ''}).textContent.length", streamed))
        if status.inner_text().strip() != "running":
            break
        time.sleep(0.1)
    worker.join(10)
    expect(status).to_have_text("success")
    expect(status).to_have_class(re.compile(r"\bbadge-success\b"))
    expect(reply.locator("[data-live-text]")).to_have_text(LIVE_REPLY)
    growing = sorted(set(n for n in lengths if 0 < n < len(LIVE_REPLY)))
    assert len(growing) >= 3, f"the reply did not grow in steps: {lengths}"
    assert lengths == sorted(lengths), f"the reply shrank: {lengths}"
    expect(page.locator(f'[data-live-latency="{run_id}"]')).not_to_have_text("–")
    watched.assert_clean()


def test_a_running_run_selected_in_a_trace_grows_in_the_panel(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page

    def session() -> None:
        with tracer.tracing_enabled(PROJECT), tracer.trace("live_session"):
            for _ in FakeChatModel([LIVE_REPLY], latency=0.06).stream("Tell me a story."):
                pass
        tracer.flush(10)

    worker = _in_background(session)
    run_id = _running_run(server)
    trace_id = str(server.app.extensions["tracer_store"].read_run(run_id).trace_id)
    page.goto(f"{server.url}/traces/{trace_id}")  # the root is selected: a chain, no reply
    page.locator(f'[role=tree] a[data-run="{run_id}"]').click()
    panel = page.locator(f'#run-panel .run-panel[data-run-id="{run_id}"]')
    expect(panel.locator("[data-live-text]")).not_to_be_empty()
    expect(panel.locator(f'[data-live-status="{run_id}"]')).to_have_text("success", timeout=20_000)
    expect(panel.locator("[data-live-text]")).to_have_text(LIVE_REPLY)
    worker.join(10)
    watched.assert_clean()


# -- untrusted model output ---------------------------------------------------------------------


def _assert_inert(page: Page) -> None:
    assert page.evaluate("window.__xss") is None
    sources = page.eval_on_selector_all("script", "scripts => scripts.map(s => s.getAttribute('src'))")
    assert sources and all(src and src.startswith("/static/") for src in sources), sources
    assert page.locator("iframe, img[src='x'], [onerror], [onload]").count() == 0


def test_a_script_in_a_model_reply_does_not_run(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    page.goto(f"{server.url}/runs/{seeded.xss_id}")
    expect(page.locator("[data-live-reply]")).to_contain_text("<script>window.__xss = 1; alert('xss')</script>")
    _assert_inert(page)
    for url in (
        _runs_url(server),
        _runs_url(server, "?search=xss"),
        f"{server.url}/traces/{seeded.xss_id}",
        f"{server.url}/compare?run={seeded.xss_id}&run={seeded.llm_id}",
    ):
        page.goto(url)
        _assert_inert(page)
    watched.assert_clean()


def test_a_script_streamed_live_does_not_run(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    worker = _in_background(_stream_in_project(seeded.xss_reply + " " + LIVE_REPLY, latency=0.03))
    run_id = _running_run(server)
    page.goto(f"{server.url}/runs/{run_id}")
    expect(page.locator(f'[data-live-status="{run_id}"]')).to_have_text("success", timeout=20_000)
    worker.join(10)
    expect(page.locator("[data-live-text]")).to_contain_text("<script>window.__xss = 1;")
    _assert_inert(page)
    watched.assert_clean()
