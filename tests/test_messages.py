"""Messages: types, repr, chunk addition, coercion and the JSON round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tracer.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    ChatPromptValue,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    StringPromptValue,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
    add_usage,
    convert_to_messages,
    get_buffer_string,
    message_chunk_to_message,
    message_from_dict,
    message_to_dict,
    messages_from_dict,
    messages_to_dict,
)

# One instance of every message type, with the fields each one requires.
ALL_MESSAGES: list[BaseMessage] = [
    HumanMessage(content="hi"),
    AIMessage(content="hello"),
    SystemMessage(content="be brief"),
    FunctionMessage(content="42", name="answer"),
    ToolMessage(content="42", tool_call_id="call_1"),
    ChatMessage(content="hmm", role="critic"),
    HumanMessageChunk(content="hi"),
    AIMessageChunk(content="hel"),
    SystemMessageChunk(content="be"),
    FunctionMessageChunk(content="4", name="answer"),
    ToolMessageChunk(content="4", tool_call_id="call_1"),
    ChatMessageChunk(content="hm", role="critic"),
]

TYPE_TAGS = {
    HumanMessage: "human",
    AIMessage: "ai",
    SystemMessage: "system",
    FunctionMessage: "function",
    ToolMessage: "tool",
    ChatMessage: "chat",
    HumanMessageChunk: "HumanMessageChunk",
    AIMessageChunk: "AIMessageChunk",
    SystemMessageChunk: "SystemMessageChunk",
    FunctionMessageChunk: "FunctionMessageChunk",
    ToolMessageChunk: "ToolMessageChunk",
    ChatMessageChunk: "ChatMessageChunk",
}


def _ids(messages: list[BaseMessage]) -> list[str]:
    return [type(m).__name__ for m in messages]


# -- types --------------------------------------------------------------------------------------


@pytest.mark.parametrize("message", ALL_MESSAGES, ids=_ids(ALL_MESSAGES))
def test_every_type_has_its_tag_and_is_a_pydantic_model(message: BaseMessage) -> None:
    assert message.type == TYPE_TAGS[type(message)]
    assert isinstance(message, BaseMessage)
    assert isinstance(message, BaseMessageChunk) == type(message).__name__.endswith("Chunk")
    assert set(type(message).model_fields) >= {"content", "additional_kwargs", "response_metadata", "type", "name", "id"}
    dumped = message.model_dump()
    assert dumped["type"] == message.type and dumped["content"] == message.content


def test_content_may_be_positional() -> None:
    assert HumanMessage("hi") == HumanMessage(content="hi")
    assert AIMessage("yo").content == "yo"


def test_required_fields_are_enforced() -> None:
    with pytest.raises(ValidationError):
        ToolMessage(content="x")  # no tool_call_id
    with pytest.raises(ValidationError):
        ChatMessage(content="x")  # no role
    with pytest.raises(ValidationError):
        FunctionMessage(content="x")  # no name


def test_ai_message_usage_and_response_metadata() -> None:
    message = AIMessage(
        content="hi",
        usage_metadata={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
        response_metadata={"model_name": "m", "finish_reason": "stop"},
    )
    assert message.usage_metadata == {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    assert message.response_metadata["finish_reason"] == "stop"


def test_text_of_list_content() -> None:
    message = AIMessage(content=["a", {"type": "text", "text": "b"}, {"type": "image_url", "image_url": "x"}])
    assert message.text == "ab"


def test_get_buffer_string() -> None:
    text = get_buffer_string([SystemMessage("s"), HumanMessage("h"), AIMessage("a"), ChatMessage(content="c", role="critic")])
    assert text == "System: s\nHuman: h\nAI: a\ncritic: c"


# -- repr ---------------------------------------------------------------------------------------


def test_repr_shows_the_conversation_only() -> None:
    assert repr(AIMessage(content="The purpose")) == "AIMessage(content='The purpose')"
    assert repr(HumanMessage(content="hi")) == "HumanMessage(content='hi')"
    assert repr(SystemMessage(content="s")) == "SystemMessage(content='s')"
    assert repr(AIMessageChunk(content="")) == "AIMessageChunk(content='')"
    assert str(AIMessage(content="x")) == "AIMessage(content='x')"
    # Usage and provider metadata stay out of the repr.
    rich = AIMessage(content="x", usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}, response_metadata={"a": 1}, id="m1")
    assert repr(rich) == "AIMessage(content='x')"


def test_repr_of_double_quote_content_matches_seed() -> None:
    assert repr(AIMessage(content="J'adore la programmation.")) == "AIMessage(content=\"J'adore la programmation.\")"


def test_repr_shows_role_name_and_tool_fields() -> None:
    assert repr(ChatMessage(content="x", role="critic")) == "ChatMessage(content='x', role='critic')"
    assert repr(ChatMessageChunk(content="x", role="critic")) == "ChatMessageChunk(content='x', role='critic')"
    assert repr(FunctionMessage(content="1", name="f")) == "FunctionMessage(content='1', name='f')"
    assert repr(ToolMessage(content="1", tool_call_id="c1")) == "ToolMessage(content='1', tool_call_id='c1')"
    call = {"name": "search", "args": {"q": "x"}, "id": "c1", "type": "tool_call"}
    assert repr(AIMessage(content="", tool_calls=[call])) == f"AIMessage(content='', tool_calls=[{call!r}])"


# -- chunk addition -----------------------------------------------------------------------------

PAIRS = [
    (HumanMessageChunk(content="a", additional_kwargs={"x": "1"}), HumanMessageChunk(content="b", additional_kwargs={"x": "2", "y": 3})),
    (SystemMessageChunk(content="a"), SystemMessageChunk(content="b", additional_kwargs={"y": 3})),
    (FunctionMessageChunk(content="a", name="f"), FunctionMessageChunk(content="b", name="f", additional_kwargs={"y": 3})),
    (ToolMessageChunk(content="a", tool_call_id="c"), ToolMessageChunk(content="b", tool_call_id="c", additional_kwargs={"y": 3})),
    (ChatMessageChunk(content="a", role="r"), ChatMessageChunk(content="b", role="r", additional_kwargs={"y": 3})),
    (AIMessageChunk(content="a", additional_kwargs={"x": "1"}), AIMessageChunk(content="b", additional_kwargs={"x": "2", "y": 3})),
]


@pytest.mark.parametrize("left,right", PAIRS, ids=[type(p[0]).__name__ for p in PAIRS])
def test_chunks_of_every_kind_add_up(left: BaseMessageChunk, right: BaseMessageChunk) -> None:
    total = left + right
    assert type(total) is type(left)
    assert total.content == "ab"
    assert total.additional_kwargs["y"] == 3
    if "x" in left.additional_kwargs:
        assert total.additional_kwargs["x"] == "12"  # text fragments concatenate
    # Operands are untouched.
    assert left.content == "a" and right.content == "b"


def test_chunk_metadata_merges_and_identity_keys_stay_single() -> None:
    left = AIMessageChunk(content="a", id="run-1", response_metadata={"model_name": "m", "nested": {"a": 1}, "logprobs": [1]})
    right = AIMessageChunk(content="b", id="run-1", response_metadata={"model_name": "m", "finish_reason": "stop", "nested": {"b": 2}, "logprobs": [2]})
    total = left + right
    assert total.id == "run-1"
    assert total.response_metadata == {"model_name": "m", "finish_reason": "stop", "nested": {"a": 1, "b": 2}, "logprobs": [1, 2]}


def test_chunk_usage_is_summed() -> None:
    left = AIMessageChunk(content="a", usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4})
    right = AIMessageChunk(content="b", usage_metadata={"input_tokens": 0, "output_tokens": 2, "total_tokens": 2})
    assert (left + right).usage_metadata == {"input_tokens": 3, "output_tokens": 3, "total_tokens": 6}
    assert (left + AIMessageChunk(content="c")).usage_metadata == left.usage_metadata
    assert (AIMessageChunk(content="c") + AIMessageChunk(content="d")).usage_metadata is None


def test_add_usage_sums_details() -> None:
    left = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2, "input_token_details": {"cache_read": 1}}
    right = {"input_tokens": 2, "output_tokens": 3, "total_tokens": 5, "input_token_details": {"cache_read": 2, "audio": 1}}
    assert add_usage(left, right) == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7, "input_token_details": {"cache_read": 3, "audio": 1}}
    assert add_usage(None, right) == right
    assert add_usage(left, None) == left


def test_tool_call_chunks_merge_by_index_and_parse() -> None:
    first = AIMessageChunk(
        content="",
        tool_call_chunks=[
            {"name": "search", "args": '{"q": ', "id": "c1", "index": 0},
            {"name": "add", "args": '{"a": 1', "id": "c2", "index": 1},
        ],
    )
    # Incomplete JSON so far: nothing parses yet.
    assert first.tool_calls == []
    assert {call["id"] for call in first.invalid_tool_calls} == {"c1", "c2"}
    second = AIMessageChunk(content="", tool_call_chunks=[{"name": None, "args": '"cats"}', "id": None, "index": 0}])
    third = AIMessageChunk(content="", tool_call_chunks=[{"name": None, "args": ', "b": 2}', "id": None, "index": 1}])
    total = first + second + third
    assert [(c["name"], c["args"], c["id"], c["index"]) for c in total.tool_call_chunks] == [
        ("search", '{"q": "cats"}', "c1", 0),
        ("add", '{"a": 1, "b": 2}', "c2", 1),
    ]
    assert [(c["name"], c["args"], c["id"]) for c in total.tool_calls] == [("search", {"q": "cats"}, "c1"), ("add", {"a": 1, "b": 2}, "c2")]
    assert total.invalid_tool_calls == []
    final = message_chunk_to_message(total)
    assert type(final) is AIMessage
    assert final.tool_calls == total.tool_calls


def test_tool_call_chunk_with_bad_json_becomes_invalid() -> None:
    chunk = AIMessageChunk(content="", tool_call_chunks=[{"name": "f", "args": "[1, 2]", "id": "c", "index": 0}])
    assert chunk.tool_calls == []
    assert chunk.invalid_tool_calls[0]["args"] == "[1, 2]"
    assert chunk.invalid_tool_calls[0]["error"]


def test_adding_different_chunk_types_fails() -> None:
    with pytest.raises(TypeError):
        AIMessageChunk(content="a") + HumanMessageChunk(content="b")  # noqa: B018
    with pytest.raises(TypeError):
        AIMessageChunk(content="a") + "b"  # noqa: B018
    with pytest.raises(TypeError):
        AIMessage(content="a") + AIMessage(content="b")  # noqa: B018  (whole messages do not add)


def test_adding_chunks_of_different_roles_or_tool_calls_fails() -> None:
    with pytest.raises(ValueError):
        ChatMessageChunk(content="a", role="r") + ChatMessageChunk(content="b", role="s")  # noqa: B018
    with pytest.raises(ValueError):
        ToolMessageChunk(content="a", tool_call_id="1") + ToolMessageChunk(content="b", tool_call_id="2")  # noqa: B018


def test_tool_message_chunk_error_status_wins() -> None:
    total = ToolMessageChunk(content="a", tool_call_id="1") + ToolMessageChunk(content="b", tool_call_id="1", status="error")
    assert total.status == "error"
    assert total.tool_call_id == "1"


def test_list_content_merges() -> None:
    left = AIMessageChunk(content=[{"type": "text", "text": "a", "index": 0}])
    right = AIMessageChunk(content=[{"type": "text", "text": "b", "index": 0}, {"type": "text", "text": "c", "index": 1}])
    assert (left + right).content == [{"type": "text", "text": "ab", "index": 0}, {"type": "text", "text": "c", "index": 1}]
    assert (AIMessageChunk(content="x") + AIMessageChunk(content=["y"])).content == ["x", "y"]


def test_summing_a_list_in_one_go() -> None:
    chunks = [AIMessageChunk(content=p) for p in ["The", " purpose", " of"]]
    assert (chunks[0] + chunks[1:]).content == "The purpose of"
    assert (chunks[0] + []) == chunks[0]
    roles = [ChatMessageChunk(content=p, role="r") for p in "abc"]
    assert (roles[0] + roles[1:]).content == "abc"
    with pytest.raises(ValueError):
        roles[0] + [ChatMessageChunk(content="x", role="other")]  # noqa: B018


_usage = st.one_of(
    st.none(),
    st.builds(
        lambda i, o: {"input_tokens": i, "output_tokens": o, "total_tokens": i + o},
        st.integers(0, 10_000),
        st.integers(0, 10_000),
    ),
)
_ai_chunk = st.builds(
    lambda text, usage, meta, ident: AIMessageChunk(content=text, usage_metadata=usage, response_metadata=meta, id=ident),
    st.text(max_size=8),
    _usage,
    st.dictionaries(st.sampled_from(["model_name", "finish_reason", "note", "n"]), st.one_of(st.text(max_size=3), st.integers(0, 5)), max_size=2),
    st.one_of(st.none(), st.sampled_from(["id-1", "id-2"])),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ai_chunk, min_size=1, max_size=8))
def test_list_sum_equals_pairwise_addition(chunks: list[AIMessageChunk]) -> None:
    pairwise = chunks[0]
    for chunk in chunks[1:]:
        pairwise = pairwise + chunk
    at_once = chunks[0] + chunks[1:]
    assert at_once == pairwise
    assert at_once.content == "".join(c.content for c in chunks)  # type: ignore[misc]
    usages = [c.usage_metadata for c in chunks if c.usage_metadata]
    if usages:
        assert at_once.usage_metadata["output_tokens"] == sum(u["output_tokens"] for u in usages)  # type: ignore[index]
        assert at_once.usage_metadata["total_tokens"] == sum(u["total_tokens"] for u in usages)  # type: ignore[index]
    else:
        assert at_once.usage_metadata is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=6), min_size=1, max_size=6), st.sampled_from([HumanMessageChunk, SystemMessageChunk]))
def test_list_sum_equals_pairwise_for_other_kinds(pieces: list[str], cls: type[BaseMessageChunk]) -> None:
    chunks = [cls(content=p) for p in pieces]
    pairwise = chunks[0]
    for chunk in chunks[1:]:
        pairwise = pairwise + chunk
    assert chunks[0] + chunks[1:] == pairwise


# -- chunk -> message ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunk,expected",
    [
        (AIMessageChunk(content="x", usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}, response_metadata={"finish_reason": "stop"}, id="r"),
         AIMessage(content="x", usage_metadata={"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}, response_metadata={"finish_reason": "stop"}, id="r")),
        (HumanMessageChunk(content="x"), HumanMessage(content="x")),
        (SystemMessageChunk(content="x"), SystemMessage(content="x")),
        (FunctionMessageChunk(content="x", name="f"), FunctionMessage(content="x", name="f")),
        (ToolMessageChunk(content="x", tool_call_id="c"), ToolMessage(content="x", tool_call_id="c")),
        (ChatMessageChunk(content="x", role="r"), ChatMessage(content="x", role="r")),
    ],
    ids=lambda v: type(v).__name__,
)
def test_message_chunk_to_message(chunk: BaseMessageChunk, expected: BaseMessage) -> None:
    message = message_chunk_to_message(chunk)
    assert type(message) is type(expected)
    assert message == expected


def test_message_chunk_to_message_leaves_messages_alone() -> None:
    message = AIMessage(content="x")
    assert message_chunk_to_message(message) is message


# -- coercion -----------------------------------------------------------------------------------


def test_str_is_a_human_message() -> None:
    assert convert_to_messages("hi") == [HumanMessage(content="hi")]


@pytest.mark.parametrize(
    "role,cls",
    [("human", HumanMessage), ("user", HumanMessage), ("ai", AIMessage), ("assistant", AIMessage), ("system", SystemMessage), ("developer", SystemMessage)],
)
def test_role_tuples_and_dicts(role: str, cls: type[BaseMessage]) -> None:
    [from_tuple] = convert_to_messages([(role, "text")])
    assert type(from_tuple) is cls and from_tuple.content == "text"
    [from_dict] = convert_to_messages([{"role": role, "content": "text"}])
    assert type(from_dict) is cls and from_dict.content == "text"


def test_unknown_role_is_a_chat_message() -> None:
    assert convert_to_messages([("critic", "meh")]) == [ChatMessage(content="meh", role="critic")]
    assert convert_to_messages([{"role": "critic", "content": "meh"}]) == [ChatMessage(content="meh", role="critic")]


def test_tool_and_function_roles_need_their_ids() -> None:
    assert convert_to_messages([{"role": "tool", "content": "42", "tool_call_id": "c1"}]) == [ToolMessage(content="42", tool_call_id="c1")]
    assert convert_to_messages([{"role": "function", "content": "42", "name": "f"}]) == [FunctionMessage(content="42", name="f")]
    with pytest.raises(ValueError):  # pydantic's ValidationError is a ValueError
        convert_to_messages([("tool", "42")])
    with pytest.raises(ValueError):
        convert_to_messages([("function", "42")])


def test_type_key_stands_for_role() -> None:
    assert convert_to_messages([{"type": "human", "content": "x"}]) == [HumanMessage(content="x")]


def test_dict_with_extra_fields() -> None:
    [message] = convert_to_messages([{"role": "user", "content": "x", "name": "bob", "id": "m1"}])
    assert message == HumanMessage(content="x", name="bob", id="m1")


def test_openai_assistant_dict_with_tool_calls() -> None:
    raw = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "cats"}'}}],
    }
    [message] = convert_to_messages([raw])
    assert isinstance(message, AIMessage)
    assert message.tool_calls == [{"name": "search", "args": {"q": "cats"}, "id": "call_1", "type": "tool_call"}]
    # Our own ToolCall shape is accepted as is.
    ours = {"role": "ai", "content": "", "tool_calls": [{"name": "f", "args": {}, "id": "c"}]}
    assert convert_to_messages([ours])[0].tool_calls[0]["name"] == "f"  # type: ignore[attr-defined]


def test_openai_assistant_dict_with_null_content() -> None:
    raw = {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    [message] = convert_to_messages([raw])
    assert message.content == "" and message.tool_calls[0]["name"] == "f"  # type: ignore[attr-defined]


def test_message_to_dict_shape_is_coerced() -> None:
    assert convert_to_messages([message_to_dict(HumanMessage(content="x"))]) == [HumanMessage(content="x")]


def test_mixed_list_and_single_values() -> None:
    mixed = convert_to_messages([SystemMessage("s"), "h", ("ai", "a"), {"role": "user", "content": "u"}])
    assert mixed == [SystemMessage(content="s"), HumanMessage(content="h"), AIMessage(content="a"), HumanMessage(content="u")]
    message = AIMessage(content="x")
    assert convert_to_messages(message) == [message]
    assert convert_to_messages(message)[0] is message
    assert convert_to_messages({"role": "user", "content": "x"}) == [HumanMessage(content="x")]
    assert convert_to_messages(()) == []


def test_prompt_values() -> None:
    assert convert_to_messages(StringPromptValue(text="hi")) == [HumanMessage(content="hi")]
    prompt = ChatPromptValue(messages=[SystemMessage("s"), HumanMessage("h")])
    assert convert_to_messages(prompt) == [SystemMessage(content="s"), HumanMessage(content="h")]
    assert prompt.to_string() == "System: s\nHuman: h"
    assert StringPromptValue(text="x").to_string() == "x"


@pytest.mark.parametrize("bad", [42, None, 3.5, object()])
def test_bad_input_raises_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="str|PromptValue|message"):
        convert_to_messages(bad)


@pytest.mark.parametrize("bad", [[42], [None], [("human",)], [object()]])
def test_bad_item_raises_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="chat message"):
        convert_to_messages(bad)


@pytest.mark.parametrize("bad", [{"content": "x"}, {"role": "user"}, [{"text": "x"}]])
def test_bad_dict_raises_value_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="role"):
        convert_to_messages(bad)


# -- JSON round trip ----------------------------------------------------------------------------

RICH_MESSAGES: list[BaseMessage] = [
    *ALL_MESSAGES,
    AIMessage(
        content="",
        tool_calls=[{"name": "f", "args": {"a": [1, 2]}, "id": "c1", "type": "tool_call"}],
        invalid_tool_calls=[{"name": "g", "args": "{", "id": "c2", "error": "bad", "type": "invalid_tool_call"}],
        usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        response_metadata={"model_name": "m"},
        id="run-1",
        name="bot",
    ),
    AIMessageChunk(content="", tool_call_chunks=[{"name": "f", "args": '{"a": 1}', "id": "c1", "index": 0}]),
    ToolMessage(content=[{"type": "text", "text": "x"}], tool_call_id="c", status="error", artifact={"rows": [1]}),
    HumanMessage(content=["a", {"type": "image_url", "image_url": {"url": "data:,"}}], additional_kwargs={"k": {"n": 1}}),
]


@pytest.mark.parametrize("message", RICH_MESSAGES, ids=_ids(RICH_MESSAGES))
def test_json_round_trip(message: BaseMessage) -> None:
    flat = message.model_dump()
    again = message_from_dict(flat)
    assert type(again) is type(message) and again == message
    through_json = message_from_dict(json.loads(json.dumps(flat)))
    assert type(through_json) is type(message) and through_json == message
    wrapped = message_to_dict(message)
    assert wrapped["type"] == message.type and wrapped["data"] == flat
    [back] = messages_from_dict(json.loads(json.dumps(messages_to_dict([message]))))
    assert type(back) is type(message) and back == message
    assert json.loads(message.model_dump_json()) == json.loads(json.dumps(flat))


def test_string_prompt_value_round_trip() -> None:
    value = StringPromptValue(text="hi")
    assert StringPromptValue.model_validate_json(value.model_dump_json()) == value


def test_chat_prompt_value_round_trip_keeps_message_classes() -> None:
    value = ChatPromptValue(messages=[SystemMessage("s"), HumanMessage("h"), AIMessage("a")])
    back = ChatPromptValue.model_validate_json(value.model_dump_json())
    assert [type(m) for m in back.messages] == [SystemMessage, HumanMessage, AIMessage]
    assert back == value


def test_unknown_type_in_dict_fails() -> None:
    with pytest.raises(ValueError, match="Unknown message type"):
        message_from_dict({"type": "alien", "content": "x"})


_content = st.one_of(
    st.text(),
    st.lists(st.one_of(st.text(max_size=5), st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=5))), max_size=3),
)
_constructors = [
    lambda c: HumanMessage(content=c),
    lambda c: AIMessage(content=c),
    lambda c: SystemMessage(content=c),
    lambda c: FunctionMessage(content=c, name="f"),
    lambda c: ToolMessage(content=c, tool_call_id="t"),
    lambda c: ChatMessage(content=c, role="r"),
    lambda c: HumanMessageChunk(content=c),
    lambda c: AIMessageChunk(content=c),
    lambda c: SystemMessageChunk(content=c),
    lambda c: FunctionMessageChunk(content=c, name="f"),
    lambda c: ToolMessageChunk(content=c, tool_call_id="t"),
    lambda c: ChatMessageChunk(content=c, role="r"),
]


@settings(max_examples=200, deadline=None)
@given(_content, st.sampled_from(_constructors), st.one_of(st.none(), st.text(max_size=5)))
def test_json_round_trip_property(content: Any, make: Any, name: str | None) -> None:
    message = make(content)
    if name is not None and not isinstance(message, (FunctionMessage,)):
        message.name = name
    [back] = messages_from_dict(json.loads(json.dumps(messages_to_dict([message]))))
    assert type(back) is type(message)
    assert back == message
    assert message_from_dict(json.loads(message.model_dump_json())) == message
