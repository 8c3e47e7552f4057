"""FakeChatModel and the BaseChatModel machinery it inherits."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tracer.callbacks import BaseCallbackHandler
from tracer.chat_models import BaseChatModel, FakeChatModel
from tracer.chat_models.fake import tokenize
from tracer.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatPromptValue,
    HumanMessage,
    StringPromptValue,
    SystemMessage,
)
from tracer.outputs import ChatGeneration, ChatResult, LLMResult, RunInfo


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.tokens: list[str] = []
        self.ends: list[tuple[LLMResult, UUID]] = []
        self.errors: list[BaseException] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.starts.append({"messages": messages, **kwargs})

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self.ends.append((response, run_id))

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


MESSAGES = [SystemMessage(content="You're a helpful assistant"), HumanMessage(content="What is the purpose of model regularization?")]


def _prompt_tokens(messages: list[BaseMessage]) -> int:
    return sum(len(tokenize(m.text)) for m in messages)


# -- replies ------------------------------------------------------------------------------------


def test_cycles_through_responses() -> None:
    model = FakeChatModel(["one", "two", "three"])
    assert [model.invoke("x").content for _ in range(7)] == ["one", "two", "three", "one", "two", "three", "one"]


def test_responses_keyword_and_positional_agree() -> None:
    assert FakeChatModel(responses=["a"]).invoke("x").content == FakeChatModel(["a"]).invoke("x").content == "a"


def test_default_reply_quotes_the_last_human_message() -> None:
    model = FakeChatModel()
    assert model.invoke(MESSAGES).content == "This is a fake reply from fake-chat to: What is the purpose of model regularization?"
    assert FakeChatModel(model="other").invoke("hi").content == "This is a fake reply from other to: hi"
    assert model.invoke([SystemMessage(content="only system")]).content == "Hello! I am an offline fake chat model."


def test_invoke_returns_ai_message_with_metadata() -> None:
    reply = FakeChatModel(["J'adore la programmation."]).invoke(MESSAGES)
    assert type(reply) is AIMessage
    assert repr(reply) == "AIMessage(content=\"J'adore la programmation.\")"
    assert reply.response_metadata == {"finish_reason": "stop", "model_name": "fake-chat"}


def test_accepts_every_input_shape() -> None:
    model = FakeChatModel()
    for value in ["hi", [("human", "hi")], [{"role": "user", "content": "hi"}], StringPromptValue(text="hi"), ChatPromptValue(messages=[HumanMessage("hi")]), HumanMessage("hi")]:
        assert model.invoke(value).content.endswith("to: hi")
    with pytest.raises(TypeError):
        model.invoke(42)


def test_list_responses_are_replayed_verbatim_as_chunks() -> None:
    model = FakeChatModel([["Hel", "lo", " wor", "ld!"]])
    chunks = list(model.stream("x"))
    assert [c.content for c in chunks] == ["", "Hel", "lo", " wor", "ld!", ""]
    reply = model.invoke("x")
    assert reply.content == "Hello world!"
    assert reply.usage_metadata["output_tokens"] == 4  # type: ignore[index]


# -- streaming ----------------------------------------------------------------------------------


def test_stream_shape() -> None:
    model = FakeChatModel(["The purpose of regularization."])
    chunks = list(model.stream(MESSAGES))
    assert all(type(c) is AIMessageChunk for c in chunks)
    assert chunks[0] == AIMessageChunk(content="")
    assert [c.content for c in chunks[1:-1]] == ["The", " purpose", " of", " regularization", "."]
    last = chunks[-1]
    assert last.content == ""
    assert last.response_metadata == {"finish_reason": "stop", "model_name": "fake-chat"}
    prompt = _prompt_tokens(MESSAGES)
    assert last.usage_metadata == {"input_tokens": prompt, "output_tokens": 5, "total_tokens": prompt + 5}
    # Only the last chunk carries usage, so the sum of the stream has the right totals.
    whole = chunks[0] + chunks[1:]
    assert whole.content == "The purpose of regularization."
    assert whole.usage_metadata == last.usage_metadata
    assert all(c.usage_metadata is None for c in chunks[:-1])


def test_stream_of_an_empty_response() -> None:
    chunks = list(FakeChatModel([""]).stream("x"))
    assert [c.content for c in chunks] == ["", ""]
    assert chunks[-1].usage_metadata["output_tokens"] == 0  # type: ignore[index]


async def test_astream_and_ainvoke() -> None:
    model = FakeChatModel(["a b", "c d"])
    assert (await model.ainvoke("x")).content == "a b"
    chunks = [c async for c in model.astream("x")]
    assert [c.content for c in chunks] == ["", "c", " d", ""]
    assert chunks[-1].usage_metadata == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}


def test_stream_reports_each_token_to_handlers() -> None:
    handler = Recorder()
    list(FakeChatModel(["x y"]).stream("q", {"callbacks": [handler]}))
    assert handler.tokens == ["", "x", " y", ""]
    [(result, _)] = handler.ends
    [[generation]] = result.generations
    assert generation.text == "x y"
    assert generation.generation_info == {"finish_reason": "stop"}


def test_batch_and_abatch() -> None:
    import asyncio

    model = FakeChatModel()
    assert [m.content for m in model.batch(["a", "b"])] == ["This is a fake reply from fake-chat to: a", "This is a fake reply from fake-chat to: b"]
    assert [m.content for m in asyncio.run(model.abatch(["a", "b"]))] == ["This is a fake reply from fake-chat to: a", "This is a fake reply from fake-chat to: b"]


# -- tokens -------------------------------------------------------------------------------------


def test_tokenize_examples() -> None:
    assert tokenize("Hello, world!") == ("Hello", ",", " world", "!")
    assert tokenize("  two  spaces ") == ("  two", "  spaces", " ")
    assert tokenize("") == ()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokenize_pieces_join_back(text: str) -> None:
    pieces = tokenize(text)
    assert "".join(pieces) == text
    assert all(pieces)  # no empty piece


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=60), st.text(min_size=1, max_size=40))
def test_token_usage_is_exact(reply: str, question: str) -> None:
    messages = [SystemMessage(content="sys prompt here"), HumanMessage(content=question)]
    result = FakeChatModel([reply]).invoke(messages)
    prompt = len(tokenize("sys prompt here")) + len(tokenize(question))
    completion = len(tokenize(reply))
    assert result.usage_metadata == {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}
    assert result.content == reply


# -- errors and latency -------------------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    "error,kind,text",
    [(Boom("exact instance"), Boom, "exact instance"), (Boom, Boom, "told to fail"), ("just a message", RuntimeError, "just a message")],
    ids=["instance", "class", "str"],
)
def test_error_option(error: Any, kind: type[BaseException], text: str) -> None:
    model = FakeChatModel(error=error)
    handler = Recorder()
    with pytest.raises(kind, match=text):
        model.invoke("x", {"callbacks": [handler]})
    with pytest.raises(kind, match=text):
        list(model.stream("x"))
    with pytest.raises(kind, match=text):
        model.generate([["x"]])
    assert len(handler.errors) == 1 and isinstance(handler.errors[0], kind)
    assert handler.ends == []


async def test_error_option_async() -> None:
    model = FakeChatModel(error=Boom)
    with pytest.raises(Boom):
        await model.ainvoke("x")
    with pytest.raises(Boom):
        async for _ in model.astream("x"):
            pass


def test_error_instance_is_the_same_object() -> None:
    error = Boom("same")
    with pytest.raises(Boom) as caught:
        FakeChatModel(error=error).invoke("x")
    assert caught.value is error


def test_latency_on_invoke_and_stream() -> None:
    model = FakeChatModel(["a b c"], latency=0.01)
    start = time.monotonic()
    model.invoke("x")
    assert time.monotonic() - start >= 0.03  # latency per piece, 3 pieces
    start = time.monotonic()
    chunks = list(model.stream("x"))
    assert time.monotonic() - start >= 0.03
    assert len(chunks) == 5


async def test_latency_on_astream() -> None:
    model = FakeChatModel(["a b"], latency=0.01)
    start = time.monotonic()
    async for _ in model.astream("x"):
        pass
    assert time.monotonic() - start >= 0.02


# -- the legacy interface -----------------------------------------------------------------------


def test_legacy_call_returns_the_message() -> None:
    chat = FakeChatModel(["J'adore la programmation."])
    question = "Translate this sentence from English to French: I love programming."
    prompt, completion = len(tokenize(question)), len(tokenize("J'adore la programmation."))
    assert (prompt, completion) == (12, 6)
    handler = Recorder()
    reply = chat([HumanMessage(content=question)], callbacks=[handler])
    assert reply == AIMessage(
        content="J'adore la programmation.",
        response_metadata={"finish_reason": "stop", "model_name": "fake-chat"},
        usage_metadata={"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion},
    )
    assert len(handler.starts) == 1 and len(handler.ends) == 1


def _batch_messages() -> list[list[BaseMessage]]:
    system = SystemMessage(content="You are a helpful assistant that translates English to French.")
    return [[system, HumanMessage(content="I love programming.")], [system, HumanMessage(content="I love artificial intelligence.")]]


def test_generate() -> None:
    batch = _batch_messages()
    chat = FakeChatModel(["J'adore programmer.", "J'adore l'intelligence artificielle."], model="gpt-fake")
    handler = Recorder()
    result = chat.generate(batch, callbacks=[handler])
    assert isinstance(result, LLMResult)
    assert [[g.text for g in gens] for gens in result.generations] == [["J'adore programmer."], ["J'adore l'intelligence artificielle."]]
    assert all(isinstance(gens[0], ChatGeneration) and gens[0].generation_info == {"finish_reason": "stop"} for gens in result.generations)
    prompt = [_prompt_tokens(m) for m in batch]
    completion = [len(tokenize("J'adore programmer.")), len(tokenize("J'adore l'intelligence artificielle."))]
    assert result.llm_output == {
        "token_usage": {"prompt_tokens": sum(prompt), "completion_tokens": sum(completion), "total_tokens": sum(prompt) + sum(completion)},
        "model_name": "gpt-fake",
    }
    assert result.run is not None and len(result.run) == 2
    assert all(isinstance(info, RunInfo) for info in result.run)
    # One run per conversation, and RunInfo names the runs the handlers saw.
    assert [info.run_id for info in result.run] == [s["run_id"] for s in handler.starts]
    assert len({info.run_id for info in result.run}) == 2
    assert [s["messages"] for s in handler.starts] == [[batch[0]], [batch[1]]]
    assert repr(result).startswith("LLMResult(generations=[[ChatGeneration(text=\"J'adore programmer.\", generation_info={'finish_reason': 'stop'}, message=AIMessage(content=\"J'adore programmer.\"))]")
    assert "run=[RunInfo(run_id=UUID('" in repr(result)
    assert result.usage() == {"input_tokens": sum(prompt), "output_tokens": sum(completion), "total_tokens": sum(prompt) + sum(completion)}


def test_generate_without_handlers_still_has_run_ids() -> None:
    result = FakeChatModel().generate([["a"], ["b"], ["c"]])
    assert result.run is not None and len({info.run_id for info in result.run}) == 3


def test_generate_passes_tags_metadata_and_run_name() -> None:
    handler = Recorder()
    FakeChatModel().generate([["a"]], callbacks=[handler], tags=["t"], metadata={"k": 1}, run_name="legacy")
    [start] = handler.starts
    assert start["tags"] == ["t"] and start["metadata"] == {"k": 1} and start["name"] == "legacy"


async def test_agenerate() -> None:
    batch = _batch_messages()
    handler = Recorder()
    result = await FakeChatModel(["uno", "dos"]).agenerate(batch, callbacks=[handler])
    assert sorted(g[0].text for g in result.generations) == ["dos", "uno"]
    assert result.llm_output is not None and result.llm_output["model_name"] == "fake-chat"
    assert result.llm_output["token_usage"]["prompt_tokens"] == sum(_prompt_tokens(m) for m in batch)
    assert result.llm_output["token_usage"]["completion_tokens"] == 2
    assert result.run is not None and sorted(i.run_id for i in result.run) == sorted(s["run_id"] for s in handler.starts)


# -- construction -------------------------------------------------------------------------------


def test_unknown_constructor_keyword_is_rejected() -> None:
    with pytest.raises(ValidationError):
        FakeChatModel(temperatur=0.2)
    with pytest.raises(ValidationError):
        FakeChatModel(latency="slow")


def test_model_alias_and_repr() -> None:
    model = FakeChatModel(model="m1")
    assert model.model_name == "m1"
    assert FakeChatModel(model_name="m2").model_name == "m2"
    assert "m1" in repr(model)


def test_invocation_params_reported_to_handlers() -> None:
    handler = Recorder()
    FakeChatModel(model="m1").invoke("x", {"callbacks": [handler]}, stop=["\n"], max_tokens=5)
    params = handler.starts[0]["invocation_params"]
    assert params == {"model_name": "m1", "_type": "fake-chat", "stop": ["\n"], "max_tokens": 5}


class EchoModel(BaseChatModel):
    """A provider with only `_generate`: it cannot stream."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        text = messages[-1].text
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))], llm_output={"token_usage": {"prompt_tokens": 1, "completion_tokens": 1}})


async def test_base_chat_model_defaults_for_a_non_streaming_provider() -> None:
    model = EchoModel()
    assert model.invoke("hi").content == "hi"
    assert [c.content for c in model.stream("hi")] == ["hi"]
    assert (await model.ainvoke("yo")).content == "yo"  # _agenerate runs _generate in a thread
    assert [c.content async for c in model.astream("yo")] == ["yo"]
    result = model.generate([["a"], ["b"]])
    assert result.llm_output == {"token_usage": {"prompt_tokens": 2, "completion_tokens": 2}}


class SyncStreamOnly(FakeChatModel):
    """Streams synchronously only: `astream` must step `_stream` in a worker thread."""

    async def _astream(self, messages: Any, stop: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        async for chunk in BaseChatModel._astream(self, messages, stop, **kwargs):
            yield chunk


async def test_default_astream_steps_the_sync_stream() -> None:
    chunks = [c.content async for c in SyncStreamOnly(["p q"]).astream("x")]
    assert chunks == ["", "p", " q", ""]


def test_model_in_a_sequence_with_config_binding() -> None:
    handler = Recorder()
    bound = FakeChatModel(["ok"]).with_config(tags=["bound"], callbacks=[handler])
    assert bound.invoke("x").content == "ok"
    assert handler.starts[0]["tags"] == ["bound"]
