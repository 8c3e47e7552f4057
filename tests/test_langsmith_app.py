"""End to end: an unmodified LangChain + LangSmith app traces into a real `tracer ui` server, and
its runs, tree, tokens, errors and feedback land in our store and show in the viewer.

The app below is written as a user's app.py would be: module-level models, prompts, chains, a
tool and `@traceable` functions, and a `main()` that runs them. The only thing that points it at
us is the environment (LANGCHAIN_TRACING_V2, LANGCHAIN_ENDPOINT), set by the `delivered` fixture
before `main()` runs, once for the module; then the client is flushed and the server drained
(`ingest.drain`): no sleeps. The tests read what was stored and what the pages show.
"""

from __future__ import annotations

import itertools
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import langsmith
import langsmith.run_trees
import langsmith.utils
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_core.tools import tool
from langchain_core.tracers.context import collect_runs
from langchain_core.utils.function_calling import convert_to_openai_tool
from langsmith.schemas import Attachment
from markupsafe import escape

from tracer.messages import AIMessage as OurAIMessage
from tracer.messages import HumanMessage as OurHumanMessage
from tracer.messages import SystemMessage as OurSystemMessage
from tracer.messages import ToolMessage as OurToolMessage
from tracer.schemas import Run
from tracer.store import Store
from tracer.store.browse_feedback import list_feedback
from viewer import STORE_EXTENSION, create_app
from viewer.langsmith import ingest
from viewer.serving import BackgroundServer

from test_langsmith_ingest import _reset_langsmith

PROJECT = "support-bot"
MODEL = "fake-gpt-4o-mini"
USAGE = {"input_tokens": 21, "output_tokens": 9, "total_tokens": 30}
TOOL_USAGE = {"input_tokens": 40, "output_tokens": 12, "total_tokens": 52}
SYSTEM = "You answer in one sentence."
QUESTION = "Why do we regularize models?"
ANSWER = "To keep them from fitting <noise> & overfitting."  # markup: it must come out escaped
STREAMED_QUESTION = "What does dropout do?"
STREAMED = "Dropout switches random units off while training."
BATCH = {f"Batch question {n}?": f"Batch answer {n}." for n in range(3)}
FAILING_QUESTION = "Reply in JSON, please."
NOT_JSON = "Sorry, I only speak <prose>."
TOOL_QUESTION = "What is 6 times 7?"
TOOL_ANSWER = "6 times 7 is 42."
CALL = {"name": "multiply", "args": {"a": 6, "b": 7}, "id": "call_mul_1", "type": "tool_call"}
PIPELINE_TOPIC = "weight decay"
SUMMARY = "Weight decay shrinks weights toward zero."
SUMMARY_USAGE = {"input_tokens": 33, "output_tokens": 8, "total_tokens": 41}
REPORT = b"<html><script>alert('report')</script>Q3 revenue grew.</html>"  # served only as a download


# -- the app ---------------------------------------------------------------------------------------
# The fakes reply in turn; `cycle` only so that a second `main()` in the same process (the browser
# test's) gets the same replies again.


def _reply(content: str, usage: dict[str, int] = USAGE, **fields: Any) -> AIMessage:
    """A reply as a provider gives it: token usage, and the model name in response_metadata."""
    return AIMessage(content=content, usage_metadata=usage, response_metadata={"model_name": MODEL}, **fields)  # type: ignore[arg-type]


class FakeChatWithUsage(GenericFakeChatModel):
    """langchain-core's fake with what a provider's chat model has and the fake lacks: a model
    name (reported as `ls_model_name`), `bind_tools`, and a stream that ends, as OpenAI's does,
    with a chunk carrying the usage (the fake streams the text alone)."""

    model_name: str = MODEL

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        reply = next(self.messages)
        assert isinstance(reply, AIMessage)
        yield from GenericFakeChatModel(messages=iter([str(reply.content)]))._stream(messages, stop, run_manager, **kwargs)
        yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=reply.usage_metadata, response_metadata=reply.response_metadata))

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, Any]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])
replies = itertools.cycle([_reply(ANSWER), _reply(STREAMED), *(_reply(text) for text in BATCH.values())])
answer_chain = (prompt | FakeChatWithUsage(messages=replies) | StrOutputParser()).with_config(run_name="answer")
json_chain = (prompt | FakeChatWithUsage(messages=itertools.cycle([_reply(NOT_JSON)])) | JsonOutputParser()).with_config(run_name="answer_json")


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


tool_model = FakeChatWithUsage(messages=itertools.cycle([_reply("", TOOL_USAGE, tool_calls=[CALL]), _reply(TOOL_ANSWER, TOOL_USAGE)]))


@langsmith.traceable(name="calculator")
def calculator(question: str) -> str:
    """One tool-calling turn: the model asks for `multiply`, gets its result, answers."""
    model = tool_model.bind_tools([multiply])
    history: list[Any] = [("human", question)]
    asked = model.invoke(history)
    history.append(asked)
    history.extend(multiply.invoke(call) for call in asked.tool_calls)
    return str(model.invoke(history).content)


@langsmith.traceable(run_type="retriever", name="retrieve")
def retrieve(topic: str) -> list[dict[str, Any]]:
    return [{"page_content": f"Notes on {topic}.", "type": "Document", "metadata": {"source": "notes.md"}}]


@langsmith.traceable(run_type="llm", name="summarize", metadata={"ls_provider": "openai", "ls_model_name": MODEL})
def summarize(messages: list[dict[str, str]]) -> dict[str, Any]:
    """A hand-written model call, reported as LangSmith's docs show: the reply and its usage."""
    return {"choices": [{"message": {"role": "assistant", "content": SUMMARY}}], "usage_metadata": SUMMARY_USAGE}


@langsmith.traceable(name="pipeline")
def pipeline(topic: str) -> str:
    docs = retrieve(topic)
    reply = summarize([{"role": "system", "content": "Summarize."}, {"role": "user", "content": docs[0]["page_content"]}])
    return str(reply["choices"][0]["message"]["content"])


@langsmith.traceable(name="read_report")
def read_report(question: str, report: Attachment) -> str:
    """A file sent with the run: the client uploads it as an attachment, not in the inputs."""
    return f"Read {len(report.data)} bytes to answer {question!r}."


@dataclass
class Traced:
    """What `main` got back, and the ids it gave feedback on (as an app learns them)."""

    answer: str = ""
    streamed: list[str] = field(default_factory=list)
    batch: list[str] = field(default_factory=list)
    product: int = 0
    calculated: str = ""
    answer_id: str = ""
    pipeline_id: str = ""


def main() -> Traced:
    traced = Traced()
    with collect_runs() as collected:
        traced.answer = answer_chain.invoke({"question": QUESTION})
    traced.answer_id = str(collected.traced_runs[0].id)
    traced.streamed = list(answer_chain.stream({"question": STREAMED_QUESTION}))
    traced.batch = answer_chain.batch([{"question": q} for q in BATCH], config={"max_concurrency": 1})
    try:
        json_chain.invoke({"question": FAILING_QUESTION})
    except Exception:  # noqa: BLE001 - the app carries on, as apps do
        pass
    traced.product = multiply.invoke({"a": 3, "b": 4})
    traced.calculated = calculator(TOOL_QUESTION)
    pipeline_id = uuid.uuid4()
    pipeline(PIPELINE_TOPIC, langsmith_extra={"run_id": pipeline_id})
    traced.pipeline_id = str(pipeline_id)
    read_report("How did Q3 go?", Attachment(mime_type="text/html", data=REPORT))
    client = langsmith.Client()
    client.create_feedback(traced.answer_id, key="helpfulness", score=1, comment="Clear <b>and</b> short")  # POST /feedback
    client.create_feedback(traced.pipeline_id, key="correctness", score=0.5, comment="Batched <i>with</i> its trace", trace_id=traced.pipeline_id)
    client.close()  # sends the batched feedback
    return traced


# -- running it against a real server -----------------------------------------------------------


@dataclass
class TracedApp:
    server: BackgroundServer
    traced: Traced
    store: Store


@contextmanager
def traced_app(folder: Path) -> Iterator[TracedApp]:
    """A server over a fresh store; `main()` run against it with the environment a user sets,
    everything it sent stored (the client flushed, the server drained)."""
    app = create_app(f"sqlite:///{folder / 'app.db'}", test_config={"TRACER_ATTACHMENTS_DIR": str(folder / "attachments")})
    with BackgroundServer(app) as server, pytest.MonkeyPatch.context() as patch:
        for name, value in {"LANGCHAIN_TRACING_V2": "true", "LANGCHAIN_ENDPOINT": server.url, "LANGCHAIN_API_KEY": "any", "LANGCHAIN_PROJECT": PROJECT}.items():
            patch.setenv(name, value)
        patch.delenv("LANGSMITH_ENDPOINT", raising=False)
        _reset_langsmith()
        try:
            with warnings.catch_warnings():  # the client's own: feedback without session_id is deprecated
                warnings.simplefilter("ignore", langsmith.utils.LangSmithWarning)
                traced = main()
            client = langsmith.run_trees.get_cached_client()
            client.flush(timeout=30)
            client.close(timeout=10)
        finally:
            _reset_langsmith()
        assert ingest.drain(app, 30)
        assert app.extensions[ingest.QUEUE_EXTENSION].failed == 0
        yield TracedApp(server, traced, app.extensions[STORE_EXTENSION])


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedApp]:
    with traced_app(tmp_path_factory.mktemp("langsmith-app")) as done:
        yield done


def _traces(store: Store) -> dict[str, list[Run]]:
    """Every trace of the app, its runs in dotted order, by the root's name and first input."""
    found: dict[str, list[Run]] = {}
    for run in sorted(store.list_runs(project_name=PROJECT, limit=1000), key=lambda r: r.dotted_order or ""):
        found.setdefault(str(run.trace_id), []).append(run)
    return {f"{runs[0].name}:{next(iter(runs[0].inputs.values()))}": runs for runs in found.values()}


def _trace(ran: TracedApp, root: str, first_input: Any) -> list[Run]:
    return _traces(ran.store)[f"{root}:{first_input}"]


def _llm(runs: list[Run], index: int = 0) -> Run:
    return [run for run in runs if run.run_type == "llm"][index]


# -- the store -------------------------------------------------------------------------------------


def test_the_app_ran(ran: TracedApp) -> None:
    assert ran.traced.answer == ANSWER and "".join(ran.traced.streamed) == STREAMED
    assert ran.traced.batch == list(BATCH.values()) and ran.traced.product == 12 and ran.traced.calculated == TOOL_ANSWER


EXPECTED_TREES = {
    f"answer:{QUESTION}": [("answer", "chain", 0), ("ChatPromptTemplate", "prompt", 1), ("FakeChatWithUsage", "llm", 1), ("StrOutputParser", "parser", 1)],
    f"answer_json:{FAILING_QUESTION}": [("answer_json", "chain", 0), ("ChatPromptTemplate", "prompt", 1), ("FakeChatWithUsage", "llm", 1), ("JsonOutputParser", "parser", 1)],
    "multiply:3": [("multiply", "tool", 0)],
    f"calculator:{TOOL_QUESTION}": [("calculator", "chain", 0), ("FakeChatWithUsage", "llm", 1), ("multiply", "tool", 1), ("FakeChatWithUsage", "llm", 1)],
    f"pipeline:{PIPELINE_TOPIC}": [("pipeline", "chain", 0), ("retrieve", "retriever", 1), ("summarize", "llm", 1)],
    "read_report:How did Q3 go?": [("read_report", "chain", 0)],
}


def test_every_trace_is_a_tree_in_dotted_order(ran: TracedApp) -> None:
    traces = _traces(ran.store)
    for key, expected in EXPECTED_TREES.items():
        runs = traces[key]
        assert [(run.name, run.run_type, len(run.dotted_order.split(".")) - 1) for run in runs] == expected, key
        root = runs[0]
        assert root.parent_run_id is None and root.trace_id == root.id and root.dotted_order.endswith(str(root.id))
        for run in runs[1:]:
            assert run.trace_id == root.id and run.parent_run_id == root.id
            assert run.dotted_order.startswith(root.dotted_order + ".") and run.dotted_order.endswith(str(run.id))
            assert run.start_time >= root.start_time and run.end_time <= root.end_time
    assert len(traces) == len(EXPECTED_TREES) + 1 + len(BATCH)  # and the streamed one, and the batch's


def test_the_batch_made_three_traces(ran: TracedApp) -> None:
    roots = [_trace(ran, "answer", question)[0] for question in BATCH]
    assert len({root.trace_id for root in roots}) == 3
    assert [root.outputs for root in roots] == [{"output": answer} for answer in BATCH.values()]
    assert all(root.status == "success" and root.project == PROJECT for root in roots)


def test_messages_are_stored_as_our_sdk_records_them(ran: TracedApp) -> None:
    chain = _trace(ran, "answer", QUESTION)
    prompt_run, llm, parser = chain[1:]
    asked = [OurSystemMessage(content=SYSTEM).model_dump(), OurHumanMessage(content=QUESTION).model_dump()]
    assert llm.inputs == {"messages": [asked]}
    message = llm.outputs["generations"][0][0]["message"]
    reply = OurAIMessage(content=ANSWER, usage_metadata=USAGE, response_metadata={"model_name": MODEL}, id=message["id"]).model_dump()
    assert message == reply
    assert prompt_run.outputs == {"output": {"messages": asked}}
    assert parser.inputs == {"input": reply} and parser.outputs == {"output": ANSWER}
    calculator_runs = _trace(ran, "calculator", TOOL_QUESTION)
    tool_run, second = calculator_runs[2], _llm(calculator_runs, 1)
    answered = OurToolMessage(content="42", name="multiply", tool_call_id=CALL["id"], status="success").model_dump()
    assert tool_run.inputs == {"a": 6, "b": 7} and tool_run.outputs == {"output": answered}
    human, asked_tool, result = second.inputs["messages"][0]
    assert human == OurHumanMessage(content=TOOL_QUESTION).model_dump() and result == answered
    assert asked_tool["type"] == "ai" and asked_tool["tool_calls"] == [CALL]
    assert second.extra["invocation_params"]["tools"][0]["function"]["name"] == "multiply"


def test_llm_runs_have_their_model_and_tokens(ran: TracedApp) -> None:
    llm_runs = [run for run in ran.store.list_runs(project_name=PROJECT, limit=1000) if run.run_type == "llm"]
    assert len(llm_runs) == 2 + len(BATCH) + 1 + 2 + 1
    for run in llm_runs:
        usage = SUMMARY_USAGE if run.name == "summarize" else TOOL_USAGE if run.trace_id == _trace(ran, "calculator", TOOL_QUESTION)[0].id else USAGE
        assert (run.model_name, run.prompt_tokens, run.completion_tokens, run.total_tokens) == (MODEL, *usage.values()), run.name
        assert run.status == "success"


def test_the_streamed_run_has_its_first_token_time(ran: TracedApp) -> None:
    streamed = _llm(_trace(ran, "answer", STREAMED_QUESTION))
    assert streamed.first_token_time is not None and streamed.start_time <= streamed.first_token_time <= streamed.end_time
    assert streamed.outputs["generations"][0][0]["text"] == STREAMED
    assert (streamed.prompt_tokens, streamed.completion_tokens) == (USAGE["input_tokens"], USAGE["output_tokens"])
    assert _llm(_trace(ran, "answer", QUESTION)).first_token_time is None


def test_the_failing_chain_keeps_its_error_and_traceback(ran: TracedApp) -> None:
    root, _prompt, llm, parser = _trace(ran, "answer_json", FAILING_QUESTION)
    for run in (root, parser):
        assert run.status == "error" and run.outputs is None
        assert run.error.startswith("OutputParserException(") and NOT_JSON in run.error
        assert "Traceback (most recent call last)" in run.error and "parse_json_markdown" in run.error
    assert llm.status == "success" and llm.error is None


def test_feedback_lands_on_its_runs(ran: TracedApp) -> None:
    answer, pipeline_root = _trace(ran, "answer", QUESTION)[0], _trace(ran, "pipeline", PIPELINE_TOPIC)[0]
    assert str(answer.id) == ran.traced.answer_id and str(pipeline_root.id) == ran.traced.pipeline_id
    [direct] = list_feedback(ran.store, run_ids=[ran.traced.answer_id])
    assert (direct.key, direct.score, direct.comment, direct.source) == ("helpfulness", 1, "Clear <b>and</b> short", "api")
    [batched] = list_feedback(ran.store, run_ids=[ran.traced.pipeline_id])
    assert (batched.key, batched.score, batched.source, str(batched.trace_id)) == ("correctness", 0.5, "api", ran.traced.pipeline_id)


# -- the viewer ------------------------------------------------------------------------------------


def _page(ran: TracedApp, path: str) -> str:
    answer = httpx.get(ran.server.url + path, headers={"Accept": "text/html"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html"), (path, answer.text[:300])
    assert "<noise>" not in answer.text and "<prose>" not in answer.text and "<b>and</b>" not in answer.text  # model output: escaped
    return answer.text


def test_the_runs_page_lists_the_apps_runs(ran: TracedApp) -> None:
    roots = _page(ran, f"/projects/{PROJECT}")
    for name in ("answer", "answer_json", "calculator", "pipeline", "multiply"):
        assert f">{name}</a>" in roots
    assert "Sorry, I only speak &lt;prose&gt;." in roots  # the failed chain's error excerpt
    assert ">helpfulness: 1<" in roots and ">correctness: 0.5<" in roots
    llm_rows = _page(ran, f"/projects/{PROJECT}?scope=all&run_type=llm")
    assert ">summarize</a>" in llm_rows and MODEL in llm_rows and "21 / 9" in llm_rows and "33 / 8" in llm_rows


def test_the_trace_page_shows_the_chain_and_its_llm_run(ran: TracedApp) -> None:
    chain = _trace(ran, "answer", QUESTION)
    page = _page(ran, f"/traces/{chain[0].trace_id}")
    for run in chain:
        assert f'data-run="{run.id}"' in page and escape(run.name) in page
    assert escape(ANSWER) in page and "Clear &lt;b&gt;and&lt;/b&gt; short" in page  # the root's output and feedback
    selected = _page(ran, f"/traces/{chain[0].trace_id}?run={chain[2].id}")
    for text in (SYSTEM, QUESTION, ANSWER, MODEL, "21 / 9"):
        assert escape(text) in selected, text
    assert ">30</dd>" in selected


def test_the_llm_run_page_shows_the_conversation_tokens_and_model(ran: TracedApp) -> None:
    llm = _llm(_trace(ran, "answer", QUESTION))
    page = _page(ran, f"/runs/{llm.id}")
    assert 'aria-label="Conversation"' in page
    for text in (SYSTEM, QUESTION, ANSWER, MODEL, "21 / 9"):
        assert escape(text) in page, text
    assert ">30</dd>" in page
    summary = _page(ran, f"/runs/{_llm(_trace(ran, 'pipeline', PIPELINE_TOPIC)).id}")
    assert 'aria-label="Conversation"' in summary and SUMMARY in summary and "33 / 8" in summary


def test_the_failing_chain_page_shows_the_error_escaped(ran: TracedApp) -> None:
    root = _trace(ran, "answer_json", FAILING_QUESTION)[0]
    page = _page(ran, f"/runs/{root.id}")
    assert "Sorry, I only speak &lt;prose&gt;." in page and "Traceback (most recent call last)" in page
    assert 'class="badge badge-error"' in page


def test_the_tool_run_page_shows_its_arguments_and_result(ran: TracedApp) -> None:
    tool_run = _trace(ran, "calculator", TOOL_QUESTION)[2]
    page = _page(ran, f"/runs/{tool_run.id}")
    assert escape('"a": 6') in page and "42" in page


def test_the_batched_feedback_shows_on_its_run(ran: TracedApp) -> None:
    page = _page(ran, f"/runs/{ran.traced.pipeline_id}")
    assert "correctness" in page and "Batched &lt;i&gt;with&lt;/i&gt; its trace" in page


def test_the_run_page_lists_attachments_and_serves_them_as_downloads(ran: TracedApp) -> None:
    run = _trace(ran, "read_report", "How did Q3 go?")[0]
    assert "report" not in run.inputs
    page = _page(ran, f"/runs/{run.id}")
    assert f'href="/runs/{run.id}/attachments/report" download>report</a>' in page
    assert f"text/html · {len(REPORT)} bytes" in page
    download = httpx.get(f"{ran.server.url}/runs/{run.id}/attachments/report", headers={"Accept": "text/html"})
    assert download.status_code == 200 and download.content == REPORT
    assert download.headers["Content-Type"].startswith("text/html")
    assert download.headers["Content-Disposition"] == "attachment; filename=report"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    for path in (f"/runs/{run.id}/attachments/other", f"/runs/{ran.traced.answer_id}/attachments/report", f"/runs/{run.id}/attachments/../app.db"):
        assert httpx.get(ran.server.url + path, headers={"Accept": "text/html"}).status_code == 404, path
