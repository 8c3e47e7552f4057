"""`TracerCallbackHandler` with the real langchain-core: apps pass it in `config["callbacks"]`,
their runs land in the real SQLite store (conftest's private home) and show in the viewer.

Tracing stays off in the environment on purpose: with `LANGCHAIN_TRACING_V2=true`
langchain-core would add its own LangSmith tracer and try the network.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonpatch
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

import tracer
from tracer import config
from tracer._ids import uuid7
from tracer._rundoc import Document, RunBuilder
from tracer._writer import Writer, all_writers
from tracer.callbacks import handler_errors
from tracer.integrations import langchain as integration
from tracer.integrations.langchain import TracerCallbackHandler
from tracer.messages import HumanMessage, SystemMessage
from tracer.schemas import Run
from tracer.store.queries import read_doc
from viewer import create_app
from viewer.conversation import reply_text

REPLY = "Regularization keeps a model from overfitting."
USAGE = {"input_tokens": 21, "output_tokens": 7, "total_tokens": 28}
PROMPT = ChatPromptTemplate.from_messages([("system", "You're a helpful assistant"), ("human", "{question}")])
QUESTION = "What is the purpose of model regularization?"


class FakeChat(GenericFakeChatModel):
    """langchain-core's fake, with a model name for `ls_model_name` and, like real providers,
    the usage on the last chunk of a stream."""

    model_name: str = "fake-gpt"

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for chunk in super()._stream(*args, **kwargs):
            if isinstance(chunk.message, AIMessageChunk) and chunk.message.chunk_position == "last":
                chunk.message.usage_metadata = USAGE  # type: ignore[assignment]
            yield chunk


def _model(n: int = 1) -> FakeChat:
    return FakeChat(messages=iter([AIMessage(content=REPLY, usage_metadata=USAGE) for _ in range(n)]))


def _chain(n: int = 1) -> Any:
    return PROMPT | _model(n) | StrOutputParser()


def _config(project: str = "lc-app", **extra: Any) -> dict[str, Any]:
    return {"callbacks": [TracerCallbackHandler(project_name=project)], **extra}




@pytest.fixture(autouse=True)
def fresh_fault_counts() -> Iterator[None]:
    saved = dict(handler_errors)
    handler_errors.clear()
    yield
    handler_errors.clear()
    handler_errors.update(saved)


def _runs(get: Any) -> list[Run]:
    """Every stored run, in tree order."""
    return sorted(get().list_runs(limit=1000), key=lambda run: run.dotted_order)


def _by_name(runs: list[Run]) -> dict[str, Run]:
    return {run.name: run for run in runs}


def _check_chain_tree(runs: list[Run], *, project: str = "lc-app") -> None:
    """The runs of one `PROMPT | model | parser` call, in dotted order."""
    assert [(run.name, run.run_type) for run in runs] == [
        ("RunnableSequence", "chain"),
        ("ChatPromptTemplate", "prompt"),
        ("FakeChat", "llm"),
        ("StrOutputParser", "parser"),
    ]
    root = runs[0]
    assert root.parent_run_id is None and root.trace_id == root.id
    for child in runs[1:]:
        assert child.parent_run_id == root.id and child.trace_id == root.id
        assert child.dotted_order.startswith(root.dotted_order + ".")
    assert {run.project for run in runs} == {project}
    assert {run.status for run in runs} == {"success"}
    assert root.inputs == {"question": QUESTION} and root.outputs == {"output": REPLY}
    assert runs[3].outputs == {"output": REPLY}


def _check_llm(run: Run) -> None:
    assert run.inputs == {"messages": [[SystemMessage(content="You're a helpful assistant").model_dump(), HumanMessage(content=QUESTION).model_dump()]]}
    assert reply_text("llm", run.outputs) == REPLY
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (21, 7, 28)
    assert run.model_name == "fake-gpt"
    assert run.metadata["ls_model_name"] == "fake-gpt" and run.metadata["ls_provider"]
    assert run.error is None and run.end_time is not None and run.latency is not None


def test_invoke_records_the_chain_as_a_tree(store: Any) -> None:
    answer = _chain().invoke({"question": QUESTION}, config=_config(tags=["rag"], metadata={"user": "ann"}))
    assert answer == REPLY
    runs = _runs(store)
    _check_chain_tree(runs)
    _check_llm(runs[2])
    for run in runs:
        assert "rag" in run.tags and run.metadata["user"] == "ann"
    assert runs[2].extra["runtime"]["library"] == "langchain-core"


def test_stream_records_every_token(store: Any) -> None:
    pieces = list(_chain().stream({"question": QUESTION}, config=_config()))
    assert "".join(pieces) == REPLY
    runs = _runs(store)
    _check_chain_tree(runs)
    llm = runs[2]
    _check_llm(llm)
    tokens = [event for event in llm.events if event["name"] == "new_token"]
    assert len(tokens) == len(pieces) > 3  # every token, not only LangChain's first
    assert "".join(event["kwargs"]["token"] for event in tokens) == REPLY
    assert llm.first_token_time is not None and llm.start_time <= llm.first_token_time <= llm.end_time


def test_a_run_sent_across_flushes_replays_to_its_document(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(integration, "_SECONDS_PER_UPDATE", 0.0)  # a document per token
    stream = _model().stream(QUESTION, config=_config())
    first = next(stream)
    assert tracer.flush(timeout=10)  # the run is stored while it streams...
    rest = list(stream)  # ...then grows token by token and ends in later changes
    assert first.content + "".join(chunk.content for chunk in rest) == REPLY
    (llm,) = _runs(store)
    assert llm.status == "success" and llm.total_tokens == 28
    assert store().replay_run(llm.id) == read_doc(store().engines.reader, llm.id)


def test_batch_records_one_trace_per_input(store: Any) -> None:
    answers = _chain(2).batch([{"question": QUESTION}, {"question": QUESTION}], config=_config(max_concurrency=2))
    assert answers == [REPLY, REPLY]
    runs = _runs(store)
    roots = [run for run in runs if run.parent_run_id is None]
    assert len(roots) == 2
    for root in roots:
        _check_chain_tree([run for run in runs if run.trace_id == root.id])


async def test_ainvoke_and_astream(store: Any) -> None:
    assert await _chain().ainvoke({"question": QUESTION}, config=_config("async-app")) == REPLY
    assert "".join([piece async for piece in _chain().astream({"question": QUESTION}, config=_config("async-app"))]) == REPLY
    runs = _runs(store)
    roots = [run for run in runs if run.parent_run_id is None]
    assert len(roots) == 2
    for root in roots:
        trace = [run for run in runs if run.trace_id == root.id]
        _check_chain_tree(trace, project="async-app")
        _check_llm(trace[2])


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def test_tool_runs_nest_under_the_chain_that_calls_them(store: Any) -> None:
    assert multiply.invoke({"a": 6, "b": 7}, config=_config()) == 42
    agent = RunnableLambda(lambda q: {"a": len(q), "b": 2}, name="plan") | multiply
    assert agent.invoke("four", config=_config()) == 8
    runs = _runs(store)
    alone = next(run for run in runs if run.run_type == "tool" and run.parent_run_id is None)
    assert alone.name == "multiply" and alone.inputs == {"a": 6, "b": 7} and alone.outputs == {"output": 42}
    nested = next(run for run in runs if run.run_type == "tool" and run.parent_run_id is not None)
    root = next(run for run in runs if run.id == nested.parent_run_id)
    assert root.name == "RunnableSequence" and nested.trace_id == root.id and nested.outputs == {"output": 8}
    assert "plan" in {run.name for run in runs if run.parent_run_id == root.id}


def test_a_failing_chain_records_the_error_and_its_traceback(store: Any) -> None:
    def check(answer: str) -> str:
        raise ValueError("the answer is not good enough")

    chain = PROMPT | _model() | StrOutputParser() | RunnableLambda(check, name="check")
    with pytest.raises(ValueError, match="not good enough"):
        chain.invoke({"question": QUESTION}, config=_config())
    runs = _by_name(_runs(store))
    for name in ("RunnableSequence", "check"):
        run = runs[name]
        assert run.status == "error" and run.end_time is not None
        assert run.error is not None and "ValueError" in run.error and "Traceback (most recent call last)" in run.error
        assert run.events[-1]["name"] == "error"
    assert runs["FakeChat"].status == "success"


def test_the_viewer_shows_a_recorded_run(store: Any) -> None:
    _chain().invoke({"question": QUESTION}, config=_config())
    runs = _by_name(_runs(store))
    app = create_app(config.get_settings().store_url, test_config={"TESTING": True})
    with app.test_client() as client:
        for name in ("FakeChat", "RunnableSequence"):
            page = client.get(f"/runs/{runs[name].id}")
            assert page.status_code == 200
            assert REPLY in page.get_data(as_text=True)


def test_settings_hide_inputs_and_outputs(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGCHAIN_HIDE_INPUTS", "true")
    monkeypatch.setenv("LANGCHAIN_HIDE_OUTPUTS", "true")
    monkeypatch.setenv("LANGCHAIN_PROJECT", "from-env")
    config.configure()
    assert "".join(_chain().stream({"question": QUESTION}, config={"callbacks": [TracerCallbackHandler()]})) == REPLY
    runs = _runs(store)
    assert {run.project for run in runs} == {"from-env"}
    for run in runs:
        assert run.inputs == {} and not run.outputs
        assert all("kwargs" not in event for event in run.events)
    assert REPLY not in store().read_run(runs[2].id).model_dump_json()


def test_sampling_keeps_or_drops_whole_traces(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGCHAIN_TRACING_SAMPLING_RATE", "0.5")
    config.configure()
    random.seed(6)
    assert _chain(20).batch([{"question": QUESTION}] * 20, config=_config()) == [REPLY] * 20
    runs = _runs(store)
    roots = [run for run in runs if run.parent_run_id is None]
    assert 0 < len(roots) < 20
    for root in roots:
        _check_chain_tree([run for run in runs if run.trace_id == root.id])
    assert len(runs) == 4 * len(roots)


def test_a_fault_in_the_handler_never_breaks_the_chain(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Writer, event: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Writer, "submit", broken)
    assert _chain().invoke({"question": QUESTION}, config=_config()) == REPLY
    assert handler_errors[("TracerCallbackHandler", "on_chain_start")] >= 1
    assert handler_errors[("TracerCallbackHandler", "on_chain_end")] >= 1


def test_a_fault_on_the_writer_thread_is_counted(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(payload: Any, *, project: str | None = None) -> dict[str, Any]:
        raise RuntimeError("cannot map")

    monkeypatch.setattr(integration, "to_doc", broken)
    assert _chain().invoke({"question": QUESTION}, config=_config()) == REPLY
    assert tracer.flush(timeout=10)
    assert sum(writer.faulty_events for writer in all_writers()) >= 4


def test_import_without_langchain_core_says_what_to_install() -> None:
    code = "import sys; sys.modules['langchain_core'] = None; import tracer.integrations.langchain"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ImportError" in result.stderr and "pip install 'chat-tracer[langchain]'" in result.stderr


def test_one_handler_shared_by_concurrent_calls_keeps_them_apart_and_holds_nothing_after(store: Any) -> None:
    handler = TracerCallbackHandler(project_name="gathered")

    async def many() -> list[str]:
        return await asyncio.gather(*[_chain().ainvoke({"question": QUESTION}, config={"callbacks": [handler]}) for _ in range(5)])

    assert asyncio.run(many()) == [REPLY] * 5
    assert handler.run_map == {} and handler.order_map == {}
    runs = _runs(store)
    roots = [run for run in runs if run.parent_run_id is None]
    assert len(roots) == 5
    for root in roots:
        _check_chain_tree([run for run in runs if run.trace_id == root.id], project="gathered")


def test_documents_are_logged_as_ops_that_replay_to_them() -> None:
    """The builder's side of `Document`: keys added, changed and removed, events appended."""
    versions = [
        {"id": "r", "status": "running", "events": [{"name": "start"}], "gone": 1},
        {"id": "r", "status": "running", "events": [{"name": "start"}, {"name": "new_token"}], "gone": 1, "new": [1]},
        {"id": "r", "status": "success", "events": [{"name": "end"}], "new": [2]},
    ]
    builder, run_id, replayed, previous = RunBuilder(), uuid7(), {}, None
    for version in versions:
        seen: list[Any] = []
        builder.apply(Document(run_id, lambda doc, version=version: seen.append(doc) or dict(version)))
        (change,) = builder.take_changes()
        replayed = jsonpatch.apply_patch(replayed, change.ops)
        assert seen == [previous] and replayed == change.doc == version
        previous = version
    assert [op["op"] for op in change.ops] == ["replace", "replace", "replace", "remove"] and builder.open_runs == 0
