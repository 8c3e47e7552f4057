"""Datasets as a person builds them, in headless Chromium: tick runs in the runs table, add them
to a new dataset, edit an example's reference output; add a run from its page; download exports.

Each test fails on any page error, console error (a CSP violation is one) or dialog.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"  # the same as conftest.py's
PROJECT = "shop-assistant"  # the project conftest.seed_store writes

if not Path(CHROMIUM).exists():
    pytest.skip(f"Browser tests need Chromium at {CHROMIUM} (apt-get install chromium).", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="Browser tests need the playwright package: pip install -e '.[test]'.")

from playwright.sync_api import Page, expect  # noqa: E402

from tracer import datasets as data  # noqa: E402

Seeded = Server = Watched = Any  # the fixtures' types, defined in conftest.py

pytestmark = pytest.mark.timeout(180)


def _boxes(page: Page) -> Any:
    return page.locator('table.runs-table tbody input[type="checkbox"][name="run"]')


def test_build_a_dataset_from_a_selection_and_edit_an_example(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    store = server.app.extensions["tracer_store"]
    page.goto(f"{server.url}/projects/{PROJECT}")
    add = page.get_by_role("button", name="Add selected to dataset…")
    expect(add).to_be_disabled()  # nothing ticked yet

    # "Select all on this page" ticks every row, and unticks them again.
    select_all = page.get_by_role("checkbox", name="Select all runs on this page")
    select_all.check()
    expect(page.locator('table.runs-table tbody input[name="run"]:checked')).to_have_count(_boxes(page).count())
    select_all.uncheck()
    expect(page.locator('table.runs-table tbody input[name="run"]:checked')).to_have_count(0)

    _boxes(page).nth(0).check()
    _boxes(page).nth(1).check()
    expect(select_all).not_to_be_checked()
    chosen = [_boxes(page).nth(i).get_attribute("value") for i in range(2)]
    add.click()

    expect(page.locator("h1")).to_have_text("Add 2 runs to a dataset")
    page.get_by_label("Dataset (pick one, or type a new name)").fill("support-gold")
    page.get_by_label("Split (optional)").fill("test")
    page.get_by_role("button", name="Add to dataset").click()

    expect(page).to_have_url(re.compile(rf"/projects/{PROJECT}$"))
    flash = page.locator(".flash-success")
    expect(flash).to_have_text("Created the dataset support-gold and added 2 examples to it.")
    flash.get_by_role("link", name="support-gold").click()

    expect(page).to_have_url(re.compile(r"/datasets/support-gold$"))
    examples = page.locator("article.example")
    expect(examples).to_have_count(2)
    first = examples.first
    expect(first.get_by_role("link", name="Source run")).to_have_attribute("href", re.compile(r"^/runs/"))
    expect(first.locator(".example-split")).to_have_text("test")
    example_id = (first.get_attribute("id") or "").removeprefix("example-")

    first.get_by_label("Reference outputs (JSON; empty for none)").fill('{"answer": "Your order arrives on Tuesday."}')
    first.get_by_role("button", name="Save").click()

    expect(page.locator(".flash-success")).to_have_text("Saved the example.")
    edited = page.locator(f"#example-{example_id}")
    expect(edited.get_by_label("Reference outputs (JSON; empty for none)")).to_have_value('{\n  "answer": "Your order arrives on Tuesday."\n}')
    saved = {str(e.id): e for e in data.list_examples(store, "support-gold")}
    assert saved[example_id].outputs == {"answer": "Your order arrives on Tuesday."}
    assert {e.metadata["source_run_id"] for e in saved.values()} == set(chosen)

    # Bad JSON is refused with one sentence, and nothing changes.
    page.locator(f"#example-{example_id}").get_by_label("Inputs (JSON)").fill("{not json")
    page.locator(f"#example-{example_id}").get_by_role("button", name="Save").click()
    expect(page.locator(".error-message")).to_contain_text("The inputs are not valid JSON")
    assert {str(e.id): e.inputs for e in data.list_examples(store, "support-gold")}[example_id] == saved[example_id].inputs
    watched.errors = [e for e in watched.errors if "400" not in e]  # the 400 itself is logged
    watched.assert_clean()


def test_add_a_run_from_its_page_then_delete_the_dataset(server: Server, watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    store = server.app.extensions["tracer_store"]
    data.create_dataset(store, "faq")
    page.goto(f"{server.url}/runs/{seeded.llm_id}")
    form = page.locator(".add-run-to-dataset")
    form.get_by_label("Dataset (pick one, or type a new name)").fill("faq")
    form.get_by_role("button", name="Add to dataset").click()
    expect(page).to_have_url(re.compile(rf"/runs/{seeded.llm_id}$"))
    expect(page.locator(".flash-success")).to_have_text("Added 1 example to the dataset faq.")

    page.goto(f"{server.url}/datasets")
    row = page.locator('tr[data-dataset="faq"]')
    expect(row).to_contain_text("1")
    row.get_by_role("link", name="Delete…").click()
    expect(page.locator("h1")).to_have_text("Delete the dataset faq?")
    page.get_by_role("button", name="Delete the dataset").click()
    expect(page).to_have_url(re.compile(r"/datasets$"))
    expect(page.locator(".flash-success")).to_have_text("Deleted the dataset faq and its 1 example.")
    assert data.list_datasets(store) == []
    watched.assert_clean()


def test_download_exports(server: Server, watched: Watched, seeded: Seeded, tmp_path: Path) -> None:
    page = watched.page
    store = server.app.extensions["tracer_store"]
    data.create_dataset(store, "orders")
    data.add_examples_from_runs(store, "orders", [seeded.llm_id])

    page.goto(f"{server.url}/datasets/orders")
    with page.expect_download() as caught:
        page.get_by_role("group", name="Download orders").get_by_role("link", name="jsonl").click()
    lines = Path(caught.value.path()).read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["metadata"]["source_run_id"] == seeded.llm_id
    assert "Where is my order A-1001?" in json.dumps(record["inputs"])

    page.goto(f"{server.url}/datasets")
    with page.expect_download() as caught:
        page.get_by_role("group", name="Download orders").get_by_role("link", name="openai").click()
    (line,) = Path(caught.value.path()).read_text().splitlines()
    messages = json.loads(line)["messages"]
    assert messages[0] == {"role": "system", "content": "You are a shop assistant."}
    assert messages[-1]["role"] == "assistant" and "arrives Tuesday" in messages[-1]["content"]

    page.goto(f"{server.url}/projects/{PROJECT}")
    with page.expect_download() as caught:
        page.get_by_role("group", name="Download runs").get_by_role("link", name="CSV").click()
    target = tmp_path / "runs.csv"
    caught.value.save_as(target)
    with target.open(newline="") as opened:
        rows = list(csv.DictReader(opened))
    # The table's list: its root runs, on every page, one row each.
    roots = store.list_runs(project_name=PROJECT, limit=1000)
    roots = [run for run in roots if run.parent_run_id is None]
    assert len(rows) == len(roots) and any("Say something" in json.dumps(row) for row in rows)
    watched.assert_clean()
