"""Runs sent by the official LangSmith client, in headless Chromium: the app of
tests/test_langsmith_app.py traces a prompt | model | parser chain (and the rest) into a real
server; its trace page opens, the chat model's node is selected, and the panel shows the
conversation and the token usage, with no page error, console error or dialog.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"  # the same as conftest.py's

if not Path(CHROMIUM).exists():
    pytest.skip(f"Browser tests need Chromium at {CHROMIUM}.", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="Browser tests need the playwright package: pip install -e '.[test]'.")

from playwright.sync_api import expect  # noqa: E402
from test_langsmith_app import ANSWER, MODEL, QUESTION, SYSTEM, USAGE, TracedApp, traced_app  # noqa: E402

Watched = Any  # the fixture's type, defined in conftest.py

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedApp]:
    """The app's runs in a server of their own (conftest's `server` serves our SDK's seed)."""
    with traced_app(tmp_path_factory.mktemp("langsmith-browser")) as done:
        yield done


def test_select_the_chat_model_in_an_ingested_chain(ingested: TracedApp, watched: Watched) -> None:
    runs = sorted(ingested.store.list_runs(trace_id=ingested.traced.answer_id, limit=10), key=lambda run: run.dotted_order)
    [llm] = [run for run in runs if run.run_type == "llm"]
    page = watched.page
    page.goto(f"{ingested.server.url}/traces/{ingested.traced.answer_id}")
    expect(page.locator("[role=tree] a[data-run]")).to_have_count(len(runs))
    node = page.locator(f'[role=tree] a[data-run="{llm.id}"]')
    node.click()
    expect(node).to_have_attribute("aria-selected", "true")
    panel = page.locator(f'#run-panel .run-panel[data-run-id="{llm.id}"]')
    conversation = panel.locator("section.conversation")
    expect(conversation.locator(".messages:not(.reply) .message")).to_have_count(2)
    expect(conversation.locator(".role-system")).to_contain_text(SYSTEM)
    expect(conversation.locator(".role-user")).to_contain_text(QUESTION)
    expect(conversation.locator(".reply .role-assistant .block-text")).to_have_text(ANSWER)  # as text, not markup
    expect(panel.locator(".run-stats")).to_contain_text(f"{USAGE['input_tokens']} / {USAGE['output_tokens']}")
    expect(panel.locator(".run-stats")).to_contain_text(str(USAGE["total_tokens"]))
    expect(panel.locator(".run-stats")).to_contain_text(MODEL)
    assert page.evaluate("document.querySelectorAll('.run-panel noise').length") == 0
    watched.assert_clean()
