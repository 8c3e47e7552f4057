"""LangSmith run payloads -> our run documents and back (`tracer.langsmith_wire`).

Payloads follow what the official client sends (the protocol notes, §4-§6), with LangChain's own
serialization (`langchain_core.load.dumpd`) for messages; the round trip runs over documents
our tracer really writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.load import dumpd
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompt_values import ChatPromptValue

import tracer
from tracer import config, traceable
from tracer.chat_models import FakeChatModel
from tracer.langsmith_wire import DOC_KEYS, PayloadError, from_doc, merge, to_doc
from tracer.messages import AIMessage as OurAIMessage
from tracer.messages import HumanMessage as OurHumanMessage
from tracer.messages import ToolMessage as OurToolMessage
from tracer.pricing import cost
from tracer.store import open_store

RUN = "01a21388-e793-75be-87a5-d85acbc099a0"
ROOT = "01a21388-e7a8-70a5-b684-74650bfa8c5a"
T0, T1, T2, T3 = (f"2026-11-25T16:27:49.0{n}0000+00:00" for n in (1, 2, 3, 4))
USAGE = {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19, "input_token_details": {"cache_read": 2}}
RUNTIME = {"sdk": "langsmith-py", "sdk_version": "0.15.1", "library": "langchain-core", "runtime": "python"}


def _reply(**kwargs: Any) -> AIMessage:
    return AIMessage(content="hello there friend", response_metadata={"model_name": "gpt-4o-mini-2024-07-18"}, id="lc_run--x-0", **kwargs)


def _outputs(message: Any, kind: str = "ChatGeneration") -> dict[str, Any]:
    return {
        "generations": [[{"text": message.content, "generation_info": None, "type": kind, "message": dumpd(message)}]],
        "llm_output": None,
        "run": None,
        "type": "LLMResult",
    }


def _post(**fields: Any) -> dict[str, Any]:
    """An llm run's `post` (with its sub-parts as keys), as LangChain sends it at the start."""
    return {
        "id": RUN,
        "trace_id": ROOT,
        "parent_run_id": ROOT,
        "dotted_order": f"20261125T162749010000Z{ROOT}.20261125T162749020000Z{RUN}",
        "name": "ChatOpenAI",
        "run_type": "llm",
        "start_time": T1,
        "session_name": "proto-test",
        "tags": ["seq:step:2"],
        "inputs": {"messages": [[dumpd(SystemMessage("be brief")), dumpd(HumanMessage("hi"))]]},
        "outputs": {},
        "events": [{"name": "start", "time": T1}],
        "extra": {
            "invocation_params": {"model": "gpt-4o-mini", "_type": "openai-chat", "stop": None, "api_key": "sk-secret"},
            "options": {"stop": None},
            "batch_size": 1,
            "metadata": {"user": "u1", "ls_provider": "openai", "ls_model_name": "gpt-4o-mini", "ls_model_type": "chat"},
            "runtime": RUNTIME,
        },
        "serialized": {"lc": 1, "type": "not_implemented", "id": ["langchain_openai", "ChatOpenAI"], "repr": "ChatOpenAI()"},
        **fields,
    }


def _patch(**fields: Any) -> dict[str, Any]:
    """The same run's `patch` at its end: nulls mean unchanged."""
    post = _post()
    return {
        **{key: post[key] for key in ("id", "trace_id", "parent_run_id", "dotted_order", "name", "run_type", "start_time", "tags", "session_name", "inputs")},
        "session_id": None,
        "reference_example_id": None,
        "end_time": T3,
        "outputs": _outputs(_reply(usage_metadata={k: v for k, v in USAGE.items() if k != "input_token_details"})),
        "events": [{"name": "start", "time": T1}, {"name": "end", "time": T3}],
        "extra": {**post["extra"], "metadata": {**post["extra"]["metadata"], "usage_metadata": USAGE}},
        **fields,
    }


def test_post_only_is_a_running_run() -> None:
    doc = merge(None, to_doc(_post()))
    assert list(doc) == list(DOC_KEYS)
    assert doc["status"] == "running" and doc["end_time"] is None and doc["outputs"] is None
    assert doc["project"] == "proto-test" and doc["trace_id"] == ROOT and doc["parent_run_id"] == ROOT
    assert doc["inputs"] == {"messages": [[{"content": "be brief", "type": "system"}, {"content": "hi", "type": "human"}]]}
    assert doc["extra"]["invocation_params"]["api_key"] == "**REDACTED**"
    assert doc["extra"]["runtime"] == RUNTIME and doc["extra"]["metadata"]["ls_provider"] == "openai"
    assert doc["model_name"] == "gpt-4o-mini" and doc["prompt_tokens"] is None
    assert "serialized" not in doc


def test_to_doc_keeps_only_what_the_op_carries() -> None:
    partial = to_doc({"id": RUN, "name": None, "outputs": {"done": 5}, "end_time": T3, "tags": None, "extra": None})
    assert partial == {"id": RUN, "outputs": {"done": 5}, "end_time": T3}


@pytest.mark.parametrize("order", ["post, patch", "patch, post", "merged", "patch only"])
def test_every_order_of_post_and_patch_gives_the_same_run(order: str) -> None:
    post, patch = to_doc(_post()), to_doc(_patch())
    if order == "post, patch":
        doc = merge(merge(None, post), patch)
    elif order == "patch, post":
        doc = merge(merge(None, patch), post)
    elif order == "merged":
        doc = merge(None, to_doc({**_post(), **{k: v for k, v in _patch().items() if v is not None}}))
    else:
        doc = merge(None, patch)
    assert doc["status"] == "success" and doc["end_time"] == T3
    assert doc["outputs"]["generations"][0][0]["message"] == {
        "content": "hello there friend",
        "response_metadata": {"model_name": "gpt-4o-mini-2024-07-18"},
        "type": "ai",
        "id": "lc_run--x-0",
        "usage_metadata": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
    }
    assert [e["name"] for e in doc["events"]] == ["start", "end"]
    # Canonical usage: extra.metadata.usage_metadata; the model: the one that answered.
    assert (doc["prompt_tokens"], doc["completion_tokens"], doc["total_tokens"]) == (12, 7, 19)
    assert doc["model_name"] == "gpt-4o-mini-2024-07-18"
    assert doc["cost"] == cost("openai", "gpt-4o-mini-2024-07-18", USAGE) and doc["cost"] is not None
    if order != "patch only":
        assert doc["extra"]["batch_size"] == 1 and doc["extra"]["metadata"]["usage_metadata"] == USAGE


def test_patch_without_trace_fields_changes_only_what_it_says() -> None:
    stored = merge(merge(None, to_doc(_post())), to_doc(_patch()))
    nulls = {"id": RUN, "name": None, "run_type": None, "trace_id": None, "dotted_order": None, "tags": None, "extra": None}
    again = merge(stored, to_doc({**nulls, "outputs": None, "error": None, "end_time": T2}))
    assert again == {**stored, "end_time": T2}


def test_usage_from_the_messages_when_extra_has_none() -> None:
    outputs = _outputs(_reply(usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}))
    doc = merge(None, to_doc(_post(outputs=outputs, end_time=T3, extra={"metadata": {}})))
    assert (doc["prompt_tokens"], doc["completion_tokens"], doc["total_tokens"]) == (3, 2, 5)
    assert doc["extra"] == {"invocation_params": {}, "metadata": {}, "runtime": {}}


def test_streamed_run_has_its_first_token_time_and_chunk_message() -> None:
    chunk = AIMessageChunk(content="hello there friend", chunk_position="last", usage_metadata={"input_tokens": 1, "output_tokens": 4, "total_tokens": 5})
    events = [{"name": "start", "time": T1}, {"name": "new_token", "time": "2026-11-25T16:27:49.025Z"}, {"name": "end", "time": T3}]
    doc = merge(None, to_doc(_post(outputs=_outputs(chunk, "ChatGenerationChunk"), end_time=T3, events=events)))
    assert doc["first_token_time"] == "2026-11-25T16:27:49.025000+00:00"
    generation = doc["outputs"]["generations"][0][0]
    assert generation["type"] == "ChatGenerationChunk"
    assert generation["message"] == {"content": "hello there friend", "type": "AIMessageChunk", "usage_metadata": {"input_tokens": 1, "output_tokens": 4, "total_tokens": 5}}
    assert doc["total_tokens"] == 5


def test_tool_calls_and_tool_messages_become_ours() -> None:
    call = {"name": "multiply", "args": {"a": 2, "b": 3}, "id": "call_1", "type": "tool_call"}
    inputs = {"messages": [[dumpd(HumanMessage("2*3?")), dumpd(AIMessage(content="", tool_calls=[call])), dumpd(ToolMessage(content="6", tool_call_id="call_1"))]]}
    doc = merge(None, to_doc(_post(inputs=inputs, outputs=_outputs(_reply(tool_calls=[call])), end_time=T3)))
    human, ai, tool = doc["inputs"]["messages"][0]
    assert OurAIMessage.model_validate(ai).tool_calls == [call]
    assert OurToolMessage.model_validate(tool).tool_call_id == "call_1" and OurHumanMessage.model_validate(human).content == "2*3?"
    assert doc["outputs"]["generations"][0][0]["message"]["tool_calls"] == [call]


def test_failing_chain_keeps_its_traceback() -> None:
    error = "ValueError('intentional failure')Traceback (most recent call last):\n  ..."
    payload = {
        "id": ROOT,
        "name": "my_chain",
        "run_type": "chain",
        "start_time": T0,
        "end_time": T2,
        "inputs": {"question": "what is 2+2?"},
        "error": error,
        "events": [{"name": "start", "time": T0}, {"name": "error", "time": T2}],
        "extra": {"metadata": {}, "runtime": RUNTIME},
        "tags": [],
    }
    doc = merge(None, to_doc(payload, project="fallback"))
    assert doc["status"] == "error" and doc["error"] == error and doc["outputs"] is None
    assert doc["project"] == "fallback" and doc["trace_id"] == ROOT and doc["parent_run_id"] is None
    assert doc["dotted_order"] == f"20261125T162749010000Z{ROOT}"
    # A post arriving after its failure was patched in takes nothing back.
    late = merge(doc, to_doc({**payload, "end_time": None, "error": None, "outputs": {}, "events": payload["events"][:1]}))
    assert late == doc


def test_traceable_llm_reports_usage_in_its_outputs() -> None:
    outputs = {"output": "x", "usage_metadata": {"input_tokens": 4, "output_tokens": 1, "total_tokens": 5}}
    payload = {"id": RUN, "name": "traceable_llm", "run_type": "llm", "start_time": T0, "end_time": T1, "inputs": {"x": 1}, "outputs": outputs, "extra": {"metadata": {"ls_method": "traceable", "ls_model_name": "m"}}}
    doc = merge(None, to_doc(payload))
    assert (doc["prompt_tokens"], doc["completion_tokens"], doc["total_tokens"], doc["model_name"]) == (4, 1, 5, "m")


def test_unknown_lc_objects_are_kept() -> None:
    secret = {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}
    odd = {"lc": 1, "type": "constructor", "id": ["x", "Unknown"], "kwargs": {"a": dumpd(HumanMessage("in"))}}
    broken = {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessage"], "kwargs": {"content": 5}}
    prompt = dumpd(ChatPromptValue(messages=[HumanMessage("x")]))
    doc = to_doc({"id": RUN, "inputs": {"s": secret, "o": odd, "b": broken, "n": {"lc": 1, "type": "not_implemented", "repr": "X()"}}, "outputs": {"output": prompt}})
    assert doc["inputs"]["s"] == secret and doc["inputs"]["b"] == broken
    assert doc["inputs"]["o"]["kwargs"]["a"] == {"content": "in", "type": "human"}
    assert doc["outputs"]["output"] == {"type": "ChatPromptValue", "messages": [{"content": "x", "type": "human"}]}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x"}, "id"),
        ({"id": "not-a-uuid"}, "id"),
        ({"id": RUN, "trace_id": "nope"}, "trace_id"),
        ({"id": RUN, "start_time": "yesterday"}, "start_time"),
        ({"id": RUN, "end_time": 5}, "end_time"),
        ({"id": RUN, "extra": []}, "extra"),
        ({"id": RUN, "events": {}}, "events"),
    ],
)
def test_malformed_payloads_name_run_and_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        to_doc(payload)
    assert caught.value.field == field and field in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_from_doc_sends_model_and_usage_where_langsmith_reads_them() -> None:
    doc = merge(None, to_doc(_patch()))
    payload = from_doc(doc)
    assert payload["session_name"] == "proto-test" and "project" not in payload and "status" not in payload
    assert payload["extra"]["metadata"]["ls_model_name"] == "gpt-4o-mini"  # the client's own, kept
    plain = {**doc, "extra": {"invocation_params": {}, "metadata": {}, "runtime": {}}}
    metadata = from_doc(plain)["extra"]["metadata"]
    assert metadata["ls_model_name"] == doc["model_name"]
    assert metadata["usage_metadata"] == {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19, "total_cost": doc["cost"]}


# -- round trip over what our tracer records ------------------------------------------------------

_TRACED: list[dict[str, Any]] = []


def _traced_docs(home: Path) -> list[dict[str, Any]]:
    """Documents of every kind of run our tracer records, traced once for the whole module."""
    if _TRACED:
        return _TRACED
    with tracer.tracing_enabled(project_name="roundtrip"):
        model = FakeChatModel(["Hello there friend."])
        model.invoke([("system", "be brief"), ("human", "hi")], config={"tags": ["t"], "metadata": {"user": "u1"}})
        list(model.stream("hey"))
        model.invoke([OurHumanMessage("q"), OurAIMessage(content="", tool_calls=[{"name": "mul", "args": {"a": 1}, "id": "c1"}]), OurToolMessage(content="2", tool_call_id="c1")])
        with pytest.raises(RuntimeError):
            FakeChatModel(error="boom").invoke("x")

        @traceable(run_type="llm")
        def llm_step(x: int) -> dict[str, Any]:
            return {"output": x, "usage_metadata": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}

        @traceable
        def outer(x: int) -> Any:
            return llm_step(x)

        outer(3)
    assert tracer.flush(timeout=10)
    with open_store(config.get_settings().store_url) as store:
        _TRACED.extend(store.replay_run(run.id) for run in store.list_runs(limit=100))
    return _TRACED


def test_round_trip_of_every_traced_run(isolated_tracer: Path) -> None:
    docs = _traced_docs(isolated_tracer)
    assert {(d["run_type"], d["status"]) for d in docs} == {("llm", "success"), ("llm", "error"), ("chain", "success")}
    assert any(d["first_token_time"] for d in docs) and any(d["prompt_tokens"] for d in docs)
    for doc in docs:
        assert merge(None, to_doc(json.loads(json.dumps(from_doc(doc))))) == doc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_round_trip_property(isolated_tracer: Path, data: st.DataObject) -> None:
    """Any traced run, with any metadata, tags and cost: back as it was."""
    doc = dict(data.draw(st.sampled_from(_traced_docs(isolated_tracer))))
    text = st.text(max_size=8)
    doc["tags"] = data.draw(st.lists(text, max_size=3))
    doc["extra"] = {**doc["extra"], "metadata": data.draw(st.dictionaries(text, st.integers() | text, max_size=3))}
    if doc["total_tokens"] is not None:
        doc["cost"] = data.draw(st.none() | st.floats(min_value=0, max_value=10))
    assert merge(None, to_doc(json.loads(json.dumps(from_doc(doc))))) == doc


_USAGE = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


@pytest.mark.parametrize(
    "message",
    [
        HumanMessage("hi"),
        HumanMessage("hi", name="bob", id="m1"),
        HumanMessage([{"type": "text", "text": "hi"}]),
        SystemMessage("be brief"),
        AIMessage("a", usage_metadata=_USAGE),
        AIMessage("a", usage_metadata={**_USAGE, "input_token_details": {"cache_read": 1}}),
        AIMessage("a", response_metadata={"model_name": "gpt-4o", "finish_reason": "stop"}, additional_kwargs={"refusal": None}),
        AIMessage("", tool_calls=[{"name": "mul", "args": {"a": 1}, "id": "c1"}]),
        AIMessageChunk("c"),
        ToolMessage("2", tool_call_id="c1"),
    ],
)
def test_lc_messages_become_exactly_what_our_models_dump(message: Any) -> None:
    """The direct mapping of plain messages (no pydantic) gives what validation gives, key order too."""
    serialized = dumpd(message)
    doc = to_doc({"id": "0a3c030d-dcf2-4cc0-98ab-c68a22e59939", "inputs": {"messages": [[serialized]]}})
    cls = getattr(tracer.messages, type(message).__name__)
    fields = {key: value for key, value in serialized["kwargs"].items() if key not in ("example", "chunk_position")}
    expected = cls.model_validate({**fields, "type": cls.model_fields["type"].default}).model_dump()
    assert json.dumps(doc["inputs"]["messages"][0][0]) == json.dumps(expected)
