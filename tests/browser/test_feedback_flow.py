"""Leaving feedback as a person does, in headless Chromium: configure a key on the settings page,
label a run on its page (sent by script, no reload), then label runs in the review queue with
the keyboard alone; the store must hold every label, from the "ui" source.

Each test fails on any page error, console error (a CSP violation is one) or dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"  # the same as conftest.py's

if not Path(CHROMIUM).exists():
    pytest.skip(f"Browser tests need Chromium at {CHROMIUM}.", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="Browser tests need the playwright package: pip install -e '.[test]'.")

from playwright.sync_api import expect  # noqa: E402

import tracer  # noqa: E402
from tracer.datasets import list_feedback  # noqa: E402
from tracer.store import open_store  # noqa: E402

Seeded = Server = Watched = Any  # the fixtures' types, defined in conftest.py

pytestmark = pytest.mark.timeout(180)


def _labels(run_ids: list[str]) -> dict[str, list[tuple[str, float | None, Any, str | None, str | None]]]:
    """What the store holds for these runs: (key, score, value, source, comment) by run."""
    found: dict[str, list[tuple[str, float | None, Any, str | None, str | None]]] = {run_id: [] for run_id in run_ids}
    with open_store(tracer.get_settings().store_url) as store:
        for item in list_feedback(store, run_ids):
            found[str(item.run_id)].append((item.key, item.score, item.value, item.source, item.comment))
    return found


def test_configure_a_key_label_a_run_then_review_with_the_keyboard(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page

    # The settings page: a categories key joins the defaults.
    page.goto(f"{server.url}/feedback-keys")
    page.fill("#key-name", "tone")
    page.select_option("#key-kind", "categories")
    page.fill("#key-categories", "friendly = 1\nrude = 0")
    page.get_by_role("button", name="Save key").click()
    expect(page.locator(".keys-table tbody th")).to_have_text(["thumbs", "correctness", "tone"])
    expect(page.locator(".flash-success")).to_contain_text("Saved the feedback key 'tone'.")

    # A run page: stars then thumbs, each sent by script and the section redrawn in place.
    page.goto(f"{server.url}/runs/{seeded.llm_id}")
    page.evaluate("window.__samePage = true")
    items = page.locator("section.feedback .feedback-item")
    page.get_by_role("button", name="4 stars (correctness)", exact=True).click()
    expect(items).to_have_count(1)
    page.get_by_role("button", name="Thumbs up (thumbs)", exact=True).click()
    expect(items).to_have_count(2)
    expect(items.nth(1)).to_contain_text("thumbs")
    assert page.evaluate("window.__samePage") is True, "the page reloaded"
    assert _labels([seeded.llm_id])[seeded.llm_id] == [("correctness", 4.0, None, "ui", None), ("thumbs", 1.0, "up", "ui", None)]

    # The review queue over the project's model calls, with the keyboard alone.
    page.goto(f"{server.url}/projects/{seeded.project}/review?scope=llm")
    queue = page.locator(".review-page")
    expect(page.locator(".review-position")).to_contain_text("Run 1 of 6")
    labelled: list[str] = []
    for turn in range(3):
        run_id = queue.get_attribute("data-review-run")
        assert run_id and run_id not in labelled
        labelled.append(run_id)
        page.keyboard.press("5")
        page.keyboard.press("d")
        page.keyboard.press("r")
        expect(page.get_by_role("button", name="5 stars (correctness)", exact=True)).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("button", name="Thumbs down (thumbs)", exact=True)).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("button", name="rude (tone)", exact=True)).to_have_attribute("aria-pressed", "true")
        if turn == 0:
            page.keyboard.press("c")
            expect(page.locator("[data-fb-comment]")).to_be_focused()
            page.keyboard.type("undo, rude: five")  # letters and digits in a field are text, not shortcuts
            expect(page.get_by_role("button", name="Thumbs up (thumbs)", exact=True)).to_have_attribute("aria-pressed", "false")
            expect(page.get_by_role("button", name="friendly (tone)", exact=True)).to_have_attribute("aria-pressed", "false")
            page.keyboard.press("Escape")  # leaves the field
        page.keyboard.press("Enter")
        expect(queue).not_to_have_attribute("data-review-run", run_id)
        expect(page.locator(".review-position")).to_contain_text(f"Run {turn + 2} of 6")

    page.keyboard.press("?")
    expect(page.locator(".keys-help")).to_contain_text("Save the labels and go to the next run")
    page.keyboard.press("?")
    page.keyboard.press("k")  # back to the last run labelled, which shows its feedback
    expect(queue).to_have_attribute("data-review-run", labelled[-1])
    expect(queue.locator(".feedback-item")).to_have_count(3)

    stored = _labels(labelled)
    for run_id in labelled:
        assert [entry[:4] for entry in stored[run_id]] == [("thumbs", 0.0, "down", "ui"), ("correctness", 5.0, None, "ui"), ("tone", 0.0, "rude", "ui")]
    assert stored[labelled[0]][0][4] == "undo, rude: five"
    watched.assert_clean()
