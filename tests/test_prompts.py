"""Prompt templates and the string parser, alone and as the ends of a streamed chain."""

from __future__ import annotations

from typing import Any

import pytest

import tracer
from tracer.chat_models import FakeChatModel
from tracer.messages import AIMessage, AIMessageChunk, ChatPromptValue, HumanMessage, StringPromptValue, SystemMessage
from tracer.output_parsers import StrOutputParser
from tracer.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from tracer.store import open_store

PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You are {role}."), MessagesPlaceholder("history", optional=True), ("human", "{question}")]
)


def test_chat_prompt_formats_roles_variables_and_history() -> None:
    value = PROMPT.invoke({"role": "a geographer", "question": "Capital of France?", "history": [("human", "hi"), ("ai", "hello")]})
    assert isinstance(value, ChatPromptValue)
    assert value.to_messages() == [
        SystemMessage(content="You are a geographer."),
        HumanMessage(content="hi"),
        AIMessage(content="hello"),
        HumanMessage(content="Capital of France?"),
    ]
    assert PROMPT.input_variables == ["role", "question"]


def test_missing_variable_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="'question'"):
        PROMPT.invoke({"role": "x"})


def test_single_variable_prompt_takes_a_bare_value() -> None:
    assert ChatPromptTemplate.from_template("Tell me about {topic}").invoke("owls").to_messages() == [HumanMessage(content="Tell me about owls")]
    assert PromptTemplate.from_template("Say {word}{{!}}").invoke("hi") == StringPromptValue(text="Say hi{!}")
    with pytest.raises(TypeError, match="takes a dict"):
        PROMPT.invoke("no dict")


def test_parser_turns_messages_and_chunks_into_text() -> None:
    parser = StrOutputParser()
    assert parser.invoke(AIMessage(content="done")) == "done"
    assert list(parser.transform(iter([AIMessageChunk(content="a"), AIMessageChunk(content="b")]))) == ["a", "b"]


def test_chain_streams_tokens_through_the_parser() -> None:
    chain = PROMPT | FakeChatModel(["Paris is the capital."]) | StrOutputParser()
    assert list(chain.stream({"role": "x", "question": "y"})) == ["", "Paris", " is", " the", " capital", ".", ""]
    assert chain.invoke({"role": "x", "question": "y"}) == "Paris is the capital."


async def test_chain_astreams_tokens_through_the_parser() -> None:
    chain = PROMPT | FakeChatModel(["Paris is the capital."]) | StrOutputParser()
    assert [c async for c in chain.astream({"role": "x", "question": "y"})] == ["", "Paris", " is", " the", " capital", ".", ""]


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_chain_trace_is_one_root_with_its_steps_in_order(tracing: tracer.Settings, mode: str) -> None:
    chain = PROMPT | FakeChatModel(["Paris is the capital."]) | StrOutputParser()
    call: Any = getattr(chain, mode)
    result = call({"role": "x", "question": "y"})
    if mode == "stream":
        list(result)
    assert tracer.flush(timeout=30)
    with open_store(tracing.store_url) as store:
        runs = sorted(store.list_runs(project_name="tests"), key=lambda run: run.dotted_order)
    assert [(run.name, run.run_type) for run in runs] == [
        ("RunnableSequence", "chain"),
        ("ChatPromptTemplate", "prompt"),
        ("FakeChatModel", "llm"),
        ("StrOutputParser", "parser"),
    ]
    root = runs[0]
    assert all(run.parent_run_id == root.id and run.trace_id == root.id for run in runs[1:])
    assert root.outputs == {"output": "Paris is the capital."}
    parser = runs[3]
    # A streamed step learns its inputs as it consumes them: recorded with its end.
    assert parser.inputs["input"]["content"] == "Paris is the capital."
    assert parser.outputs == {"output": "Paris is the capital."}
