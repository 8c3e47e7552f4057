"""Take the README's screenshots of the viewer: `python scripts/screenshots.py [--out DIR]`.

It traces a small support assistant with the real tracer into a fresh store (a temp folder,
offline: `FakeChatModel` answers), serves the viewer on 127.0.0.1, and photographs it with the
same headless Chromium the browser tests use (`/usr/bin/chromium`, driven by Playwright):

    docs/screenshots/projects.png   the projects page with its charts (a day of earlier calls)
    docs/screenshots/runs.png       a project's runs table
    docs/screenshots/trace.png      a trace: run tree, waterfall, the selected run's details
    docs/screenshots/run.png        a chat model run: the conversation, usage, token stream
    docs/screenshots/review.png     the review queue, labelling runs with the keyboard
    docs/screenshots/dataset.png    a dataset made from runs, its examples editable
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--font-render-hinting=none",
]
PROJECT = "support-assistant"
VIEWPORT = {"width": 1440, "height": 900}

QUESTIONS = [
    ("Where is my order A-1001?", "Your order A-1001 left our warehouse on Monday and should arrive by Thursday. You can follow it with the tracking link in your confirmation email."),
    ("Can I return shoes I have worn once?", "Yes: shoes can be returned within 30 days if they are clean and in their original box. Start the return from your account page and print the free label."),
    ("Do you ship to Norway?", "We ship to Norway in 3 to 5 working days. Import duties are included in the price shown at checkout, so there is nothing more to pay on delivery."),
    ("How do I change my delivery address?", "Open the order in your account and choose Change address before it ships. Once it has shipped, the carrier's link lets you pick a new delivery day instead."),
]
POLICIES = {
    "shipping": "Orders ship within 1 working day. Norway, Sweden and Denmark: 3 to 5 days, duties included.",
    "returns": "Returns are free within 30 days for unworn or lightly worn items in their original packaging.",
    "accounts": "Addresses can be changed from the account page until an order has shipped.",
}


def backfill_history(hours: float = 24.0, count: int = 260) -> None:
    """A day of earlier model calls, so the projects page has figures and charts over time.

    They go through the tracer's own run builder (the code the background writer uses) with
    times in the past, and into the store in one write, as the writer would hand them over."""
    import random
    import uuid

    import tracer
    from tracer._rundoc import End, Fail, RunBuilder, Start, Tokens
    from tracer.store import open_store

    rng = random.Random(7)
    builder = RunBuilder()
    now = time.time()
    models = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku")]
    for number in range(count):
        start = now - hours * 3600 + (number + rng.random()) * (hours * 3600 - 900) / count
        provider, model = rng.choice(models)
        question, reply = rng.choice(QUESTIONS)
        run_id = uuid.uuid4()
        ttft = rng.lognormvariate(-1.2, 0.4)
        latency = ttft + rng.lognormvariate(0.2, 0.45)
        params = {"model_name": model, "provider": provider, "temperature": 0.2}
        builder.apply(Start(run_id, None, run_id, PROJECT, "ChatModel", "llm", start, [{"type": "human", "content": question}], ["support"], {}, params))
        builder.apply(Tokens(run_id, [(start + ttft, reply.split()[0])]))
        if rng.random() < 0.05:
            builder.apply(Fail(run_id, start + latency, TimeoutError("The upstream model did not answer within 30 s.")))
            continue
        prompt_tokens, completion_tokens = rng.randint(180, 900), rng.randint(30, 260)
        usage = {"input_tokens": prompt_tokens, "output_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        builder.apply(End(run_id, start + latency, {"output": reply, "usage_metadata": usage}, False))
    # A failed call a minute ago, near the top of the runs table. Its error was never raised
    # here, so it carries no traceback (that would show this machine's paths).
    failed = uuid.uuid4()
    params = {"model_name": "gpt-4o-mini", "provider": "openai"}
    builder.apply(Start(failed, None, failed, PROJECT, "ChatModel", "llm", now - 60, [{"type": "human", "content": "Summarise yesterday's tickets."}], ["reports"], {}, params))
    builder.apply(Fail(failed, now - 30, TimeoutError("The upstream model did not answer within 30 s.")))
    with open_store(tracer.get_settings().store_url) as store:
        store.write(builder.take_changes())


def trace_sample_app() -> str:
    """Trace the sample app into the current store; returns the id of the trace to show."""
    import tracer
    from tracer.chat_models import FakeChatModel
    from tracer.output_parsers import StrOutputParser
    from tracer.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are the support assistant of an online shoe shop. Answer in two sentences from these policies:\n{context}"),
            ("human", "{question}"),
        ]
    )

    @tracer.traceable(run_type="retriever", name="search_policies")
    def search_policies(question: str) -> list[dict[str, Any]]:
        time.sleep(0.03)
        return [{"page_content": text, "metadata": {"source": f"policies/{name}.md"}} for name, text in POLICIES.items()]

    @tracer.traceable(run_type="tool", name="lookup_order")
    def lookup_order(order_id: str) -> dict[str, Any]:
        time.sleep(0.05)
        return {"order_id": order_id, "status": "shipped", "carrier": "PostNord", "eta": "Thursday"}

    shown = ""
    with tracer.tracing_enabled(PROJECT):
        for number, (question, reply) in enumerate(QUESTIONS):
            model = FakeChatModel([reply], model="gpt-4o-mini" if number % 2 == 0 else "claude-3-5-haiku", latency=0.012)

            @tracer.traceable(name="answer_question", tags=["support", "web"], metadata={"customer_tier": "gold" if number % 2 else "standard"})
            def answer_question(question: str) -> str:
                if "order" in question:
                    lookup_order("A-1001")
                docs = search_policies(question)
                chain = prompt | model | StrOutputParser()
                context = "\n".join(doc["page_content"] for doc in docs)
                parts = list(chain.stream({"context": context, "question": question}))
                return "".join(parts)

            with tracer.trace("support_session", inputs={"customer": f"customer-{number + 17}", "channel": "chat"}, tags=["support"]) as session:
                session.end({"answer": answer_question(question)})
                if number == 0:
                    shown = str(session.trace_id)
        line = FakeChatModel(["Waves fold the light; the harbour hums in blue."], model="claude-3-5-haiku", latency=0.02)
        for _ in line.stream("Write one line for our summer newsletter about the sea.", config={"tags": ["marketing"]}):
            pass
        for question in ("What are your opening hours?", "Is there a store in Oslo?"):
            FakeChatModel(model="gpt-4o-mini", latency=0.004).invoke(question, config={"tags": ["faq"]})
    tracer.flush(30)
    return shown


def annotate(store: Any) -> None:
    """Feedback on part of the day's calls (charts per key on the projects page), and a dataset
    made from the best-rated replies."""
    import random

    from tracer import datasets

    rng = random.Random(11)
    calls = store.list_runs(project_name=PROJECT, run_type="llm", limit=400)
    for number, run in enumerate(calls):
        if number % 3 == 0:
            datasets.create_feedback(store, run.id, "thumbs", score=rng.random() < 0.8, source="ui")
        if number % 4 == 0:
            datasets.create_feedback(store, run.id, "correctness", score=rng.choice((3, 4, 4, 5, 5)), source="ui")
    datasets.create_dataset(store, "support-golden", "Replies the support team rated 5 stars")
    best = [item.run_id for item in datasets.list_feedback(store, [run.id for run in calls], ["correctness"]) if item.score == 5]
    datasets.add_examples_from_runs(store, "support-golden", best[:6], split="train")


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from tracer.store import open_store

    import tracer

    backfill_history()
    trace_id = trace_sample_app()
    with open_store(tracer.get_settings().store_url) as store:
        llm = next(run for run in store.list_runs(trace_id=trace_id, run_type="llm", limit=5))
        llm_id = str(llm.id)
        annotate(store)
    from viewer import create_app
    from viewer.serving import BackgroundServer

    server = BackgroundServer(create_app())
    out.mkdir(parents=True, exist_ok=True)
    shots = [
        ("projects.png", "/?period=24h", None),
        ("runs.png", f"/projects/{PROJECT}", "table.runs-table"),
        ("trace.png", f"/traces/{trace_id}?run={llm_id}", "#run-panel .run-panel"),
        ("run.png", f"/runs/{llm_id}", ".run-panel"),
        ("review.png", f"/projects/{PROJECT}/review?scope=llm&tag=faq", ".review-page"),
        ("dataset.png", "/datasets/support-golden", ".dataset-page"),
    ]
    written = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, color_scheme="light", locale="en-GB", timezone_id="UTC")
                page = context.new_page()
                for name, path, ready in shots:
                    page.goto(server.url + path, wait_until="networkidle" if ready is None else "load")
                    if ready:
                        page.wait_for_selector(ready)
                    page.wait_for_timeout(300)  # times formatted, fonts settled
                    target = out / name
                    page.screenshot(path=str(target), full_page=False)
                    written.append(target)
            finally:
                browser.close()
    finally:
        server.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNG files")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium is not at {CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="tracer-screenshots-") as home:
        # A private store: never the user's own traces in a picture.
        for name in list(os.environ):
            if name.startswith(("LANGCHAIN_", "LANGSMITH_", "TRACER_")):
                del os.environ[name]
        os.environ["TRACER_HOME"] = home
        import tracer
        from tracer._writer import close_all

        tracer.configure()
        try:
            for path in take(args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            close_all(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
