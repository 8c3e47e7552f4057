"""Browser tests: the viewer in real headless Chromium (Playwright), over a real server.

The server is werkzeug's threaded server on 127.0.0.1 (a free port) running `create_app` over
the store that the real tracer writes to (`TRACER_HOME` is a temp folder, see
tests/conftest.py). Chromium is the system's (`/usr/bin/chromium`, never a downloaded one);
every test gets a fresh browser context (no cookies, no storage) and fails on any page error,
console error (a Content-Security-Policy violation is one) or dialog.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import tracer
from tracer.chat_models import FakeChatModel
from tracer.messages import HumanMessage, SystemMessage
from tracer.store import open_store
from viewer.serving import BackgroundServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROJECT = "shop-assistant"
#: A reply that would run script if the viewer ever put model output into the page as HTML.
XSS_REPLY = (
    "Sure! <script>window.__xss = 1; alert('xss')</script>"
    '<img src=x onerror="window.__xss = 2; alert(2)"><svg onload="alert(3)"></svg>'
    "\"><iframe src=javascript:alert(4)></iframe> done."
)


@dataclass
class Seeded:
    """What the seed wrote: ids to open, texts to look for."""

    project: str = PROJECT
    xss_reply: str = XSS_REPLY
    trace_id: str = ""
    chain_id: str = ""
    llm_id: str = ""
    tool_id: str = ""
    error_id: str = ""
    xss_id: str = ""
    runs: list[str] = field(default_factory=list)


def _last_run_id() -> str:
    """The id of the newest run written (the store is this test's own)."""
    with open_store(tracer.get_settings().store_url) as opened:
        (run,) = opened.list_runs(limit=1)
        return str(run.id)


def seed_store() -> Seeded:
    """A small project written by the real tracer: a traced chain with a chat model call and a
    tool inside, plain chat calls on two models with tags, a failed call, and a reply that is
    an XSS payload."""
    seeded = Seeded()
    with tracer.tracing_enabled(PROJECT):

        @tracer.traceable(run_type="tool", name="lookup_order")
        def lookup_order(order_id: str) -> dict[str, Any]:
            return {"order_id": order_id, "status": "shipped"}

        @tracer.traceable(name="answer_question", tags=["support"])
        def answer_question(question: str) -> str:
            order = lookup_order("A-1001")
            model = FakeChatModel([f"Your order {order['order_id']} has shipped and arrives Tuesday."], model="gpt-4o-mini")
            return model.invoke([SystemMessage(content="You are a shop assistant."), HumanMessage(content=question)]).text

        with tracer.trace("support_session", inputs={"customer": "ada"}, tags=["support"]) as session:
            answer_question("Where is my order A-1001?")
            seeded.chain_id = str(session.id)
            seeded.trace_id = str(session.trace_id)

        poem = FakeChatModel(["Waves fold the light; the harbour hums in blue."], model="claude-3-haiku")
        poem.invoke("Write one line about the sea.", config={"tags": ["poetry"]})
        for question in ("What are your opening hours?", "Do you ship to Norway?"):
            FakeChatModel(model="gpt-4o-mini").invoke(question, config={"tags": ["faq"]})
        with pytest.raises(RuntimeError):
            FakeChatModel(error=RuntimeError("upstream timed out after 30 s")).invoke("Refund my order")
        assert tracer.flush(10)
        seeded.error_id = _last_run_id()
        FakeChatModel([XSS_REPLY], model="gpt-4o-mini").invoke("Say something <b>bold</b>")
        assert tracer.flush(10)
        seeded.xss_id = _last_run_id()

    with open_store(tracer.get_settings().store_url) as store:
        tree = store.list_runs(trace_id=seeded.trace_id, limit=10)
        for run in tree:
            if run.run_type == "llm":
                seeded.llm_id = str(run.id)
            elif run.run_type == "tool":
                seeded.tool_id = str(run.id)
        seeded.runs = [str(run.id) for run in store.list_runs(PROJECT, limit=100)]
    return seeded


@pytest.fixture
def seeded(tracing: tracer.Settings) -> Seeded:
    return seed_store()


@pytest.fixture
def server(seeded: Seeded) -> Iterator[BackgroundServer]:
    """The viewer over the seeded store on a free port of 127.0.0.1."""
    from viewer import create_app

    with BackgroundServer(create_app(test_config={"LIVE_POLL_SECONDS": 0.1, "LIVE_MAX_SECONDS": 60})) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    """A page, and what went wrong on it: page errors, console errors, dialogs."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.errors == [], f"the page reported errors: {self.errors}"


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    found = Watched(page)
    page.on("pageerror", lambda error: found.errors.append(f"pageerror: {error}"))
    page.on("console", lambda message: found.errors.append(f"console: {message.text}") if message.type == "error" else None)

    def on_dialog(dialog: Any) -> None:
        found.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield found
    finally:
        context.close()
