"""ChatAnthropic against Anthropic's Messages API, served by `httpx.MockTransport`: the requests
it writes, the answers and streams it reads, its errors, and where its key never goes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import tracer
from tracer.chat_models.anthropic import ChatAnthropic
from tracer.errors import APIResponseError, AuthenticationError, BadRequestError, InternalServerError, RateLimitError
from tracer.messages import AIMessage, AIMessageChunk, ChatMessage, FunctionMessage, HumanMessage, SystemMessage, ToolMessage
from tracer.store import open_store

KEY = "sk-ant-test-0123456789-secret"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

USAGE = {"input_tokens": 12, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000, "output_tokens": 9}

TEXT_ANSWER = {
    "id": "msg_01Text",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hello! How can I help?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": USAGE,
}

TOOL_ANSWER = {
    "id": "msg_01Tool",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [
        {"type": "text", "text": "Let me check the weather."},
        {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 380, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 71},
}


def sse(*events: tuple[str, dict[str, Any]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def text_events(pieces: list[str] = ["Hello", "! How", " can I help?"]) -> list[tuple[str, dict[str, Any]]]:  # noqa: B006
    start_usage = {"input_tokens": 12, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000, "output_tokens": 1}
    return [
        ("message_start", {"type": "message_start", "message": {**TEXT_ANSWER, "content": [], "stop_reason": None, "usage": start_usage}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        *[("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}) for p in pieces],
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    ]


def tool_events(fragments: list[str] = ['{"city": ', '"Par', 'is", "unit": "cel', 'sius"}']) -> list[tuple[str, dict[str, Any]]]:  # noqa: B006
    start_usage = {"input_tokens": 380, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
    return [
        ("message_start", {"type": "message_start", "message": {**TOOL_ANSWER, "content": [], "stop_reason": None, "usage": start_usage}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " the weather."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        *[("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": f}}) for f in fragments],
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 71}}),
        ("message_stop", {"type": "message_stop"}),
    ]


class Server:
    """Answers each request with the next of `replies` (a JSON body, SSE bytes, or a Response)."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, httpx.Response):
            return reply
        if isinstance(reply, bytes):
            return httpx.Response(200, content=reply, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=reply)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)


def model(server: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> ChatAnthropic:
    kwargs.setdefault("api_key", KEY)
    return ChatAnthropic(transport=httpx.MockTransport(server), async_transport=httpx.MockTransport(server), **kwargs)


def sent(messages: list[Any], **kwargs: Any) -> dict[str, Any]:
    server = Server(TEXT_ANSWER)
    model(server).invoke(messages, **kwargs)
    return server.body


# -- the request ------------------------------------------------------------------------------------


def test_posts_to_messages_with_key_and_version_headers() -> None:
    server = Server(TEXT_ANSWER)
    model(server).invoke("Hi")
    request = server.requests[0]
    assert request.method == "POST" and str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert server.body == {"model": "claude-3-5-haiku-latest", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hi"}]}


def test_version_base_url_and_default_headers_are_configurable() -> None:
    server = Server(TEXT_ANSWER)
    model(server, base_url="http://proxy.local/anthropic/", anthropic_version="2024-01-01", default_headers={"anthropic-beta": "x"}).invoke("Hi")
    request = server.requests[0]
    assert str(request.url) == "http://proxy.local/anthropic/v1/messages"
    assert request.headers["anthropic-version"] == "2024-01-01" and request.headers["anthropic-beta"] == "x"


def test_system_messages_are_joined_into_the_top_level_system() -> None:
    body = sent([SystemMessage("Be brief."), HumanMessage("Hi"), SystemMessage([{"type": "text", "text": "Answer in French."}])])
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_system_blocks_with_cache_control_are_kept_as_blocks() -> None:
    cached = {"type": "text", "text": "A long manual.", "cache_control": {"type": "ephemeral"}}
    body = sent([SystemMessage("Be brief."), SystemMessage([cached]), HumanMessage("Hi")])
    assert body["system"] == [{"type": "text", "text": "Be brief."}, cached]


def test_consecutive_turns_of_one_role_are_merged() -> None:
    body = sent([
        HumanMessage("one"),
        HumanMessage("two"),
        AIMessage("three"),
        ChatMessage("four", role="assistant"),
        AIMessage(""),
        ("human", "five"),
    ])
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}]},
        {"role": "user", "content": "five"},
    ]


def test_images_as_data_urls_web_addresses_and_neutral_blocks() -> None:
    content = [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": "https://example.com/cat.jpg"},
        {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
        {"type": "image", "source_type": "url", "url": "https://example.com/dog.webp"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}},
    ]
    body = sent([HumanMessage(content)])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/dog.webp"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}},
    ]


def test_an_image_that_is_neither_data_nor_web_is_refused_before_sending() -> None:
    server = Server(TEXT_ANSWER)
    with pytest.raises(ValueError, match="data URL or an https URL"):
        model(server).invoke([HumanMessage([{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}])])
    assert server.requests == []


def test_tool_calls_and_tool_results_round_trip() -> None:
    calls = [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "toolu_1", "type": "tool_call"},
        {"name": "get_time", "args": {}, "id": "toolu_2", "type": "tool_call"},
    ]
    body = sent([
        HumanMessage("Weather and time in Paris?"),
        AIMessage("Checking.", tool_calls=calls),
        ToolMessage("18°C, sunny", tool_call_id="toolu_1"),
        ToolMessage("clock unavailable", tool_call_id="toolu_2", status="error"),
        HumanMessage("Thanks; and tomorrow?"),
    ])
    assert body["messages"] == [
        {"role": "user", "content": "Weather and time in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C, sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "clock unavailable", "is_error": True},
                {"type": "text", "text": "Thanks; and tomorrow?"},
            ],
        },
    ]


def test_an_ai_message_with_only_tool_calls_sends_only_tool_use_and_results_come_first() -> None:
    body = sent([
        HumanMessage("Paris?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "toolu_1"}]),
        HumanMessage("(also: hurry)"),
        ToolMessage([{"type": "text", "text": "18°C"}], tool_call_id="toolu_1"),
    ])
    assert body["messages"][1] == {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]}
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18°C"}]},
        {"type": "text", "text": "(also: hurry)"},
    ]


def test_function_messages_answer_the_latest_tool_use_of_their_name() -> None:
    body = sent([
        HumanMessage("Paris, then Rome?"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "toolu_old"}]),
        FunctionMessage("18°C", name="get_weather"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Rome"}, "id": "toolu_new"}]),
        FunctionMessage("25°C", name="get_weather"),
    ])
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_old", "content": "18°C"}]
    assert body["messages"][4]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_new", "content": "25°C"}]


def test_a_legacy_function_call_and_its_function_message_pair_up_by_name() -> None:
    body = sent([
        HumanMessage("Paris?"),
        AIMessage("", additional_kwargs={"function_call": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}),
        FunctionMessage("18°C", name="get_weather"),
    ])
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "get_weather", "name": "get_weather", "input": {"city": "Paris"}}]
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "get_weather", "content": "18°C"}]


def get_weather(city: str, unit: str = "celsius") -> str:
    """The weather in a city.

    More words the model does not need."""
    return "sunny"


class Calculator(BaseModel):
    """Add two numbers."""

    a: int
    b: int


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("any", {"type": "any"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ("Calculator", {"type": "tool", "name": "Calculator"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
        ({"type": "any", "disable_parallel_tool_use": True}, {"type": "any", "disable_parallel_tool_use": True}),
    ],
)
def test_bound_tools_and_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    server = Server(TOOL_ANSWER)
    raw = {"name": "lookup", "description": "", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    model(server).bind_tools([get_weather, Calculator, raw], tool_choice=choice).invoke("Paris?")
    body = server.body
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "default": "celsius"}}, "required": ["city"]},
        },
        {"name": "Calculator", "description": "Add two numbers.", "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}},
        {"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
    ]
    assert body["tool_choice"] == expected


def test_sampling_options_stop_sequences_and_call_time_options() -> None:
    server = Server(TEXT_ANSWER)
    chat = model(server, model="claude-sonnet-4-0", temperature=0.2, top_k=40, top_p=0.9, max_tokens=300, stop=["END"])
    chat.invoke("Hi")
    assert server.body == {
        "model": "claude-sonnet-4-0",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Hi"}],
        "temperature": 0.2,
        "top_k": 40,
        "top_p": 0.9,
        "stop_sequences": ["END"],
    }
    chat.invoke("Hi", stop=["\n\nHuman:"], max_tokens=20, metadata={"user_id": "u1"})
    assert server.body["stop_sequences"] == ["\n\nHuman:"]
    assert server.body["max_tokens"] == 20 and server.body["metadata"] == {"user_id": "u1"}
    assert "stream" not in server.body


# -- the answer -------------------------------------------------------------------------------------


def test_a_text_answer_with_cache_usage() -> None:
    reply = model(Server(TEXT_ANSWER)).invoke("Hi")
    assert isinstance(reply, AIMessage)
    assert reply.content == "Hello! How can I help?" and reply.tool_calls == []
    assert reply.id == "msg_01Text"
    assert reply.response_metadata == {"id": "msg_01Text", "model_name": "claude-3-5-haiku-20241022", "finish_reason": "end_turn", "stop_sequence": None}
    # The prompt is the uncached tokens plus those read from and written to the cache.
    assert reply.usage_metadata == {
        "input_tokens": 2112,
        "output_tokens": 9,
        "total_tokens": 2121,
        "input_token_details": {"cache_read": 2000, "cache_creation": 100},
    }


def test_generate_reports_the_raw_usage_model_and_finish_reason() -> None:
    result = model(Server(TEXT_ANSWER)).generate([["Hi"]])
    assert result.llm_output == {"token_usage": USAGE, "model_name": "claude-3-5-haiku-20241022"}
    assert result.generations[0][0].generation_info == {"finish_reason": "end_turn"}
    assert result.generations[0][0].text == "Hello! How can I help?"


def test_a_tool_use_answer() -> None:
    reply = model(Server(TOOL_ANSWER)).invoke("Weather in Paris?")
    assert reply.content == "Let me check the weather."
    assert reply.tool_calls == [{"name": "get_weather", "args": {"city": "Paris", "unit": "celsius"}, "id": "toolu_01A", "type": "tool_call"}]
    assert reply.response_metadata["finish_reason"] == "tool_use"
    assert reply.usage_metadata == {"input_tokens": 380, "output_tokens": 71, "total_tokens": 451, "input_token_details": {"cache_read": 0, "cache_creation": 0}}


def test_usage_without_cache_fields_has_no_details_and_missing_usage_is_unknown() -> None:
    plain = {**TEXT_ANSWER, "usage": {"input_tokens": 5, "output_tokens": 3}}
    assert model(Server(plain)).invoke("Hi").usage_metadata == {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    bare = {key: value for key, value in TEXT_ANSWER.items() if key != "usage"}
    assert model(Server(bare)).invoke("Hi").usage_metadata is None


def test_thinking_is_kept_beside_the_reply_not_in_it() -> None:
    answer = {**TEXT_ANSWER, "content": [{"type": "thinking", "thinking": "They greet me.", "signature": "sig"}, *TEXT_ANSWER["content"]]}
    reply = model(Server(answer)).invoke("Hi")
    assert reply.content == "Hello! How can I help?"
    assert reply.additional_kwargs == {"thinking": "They greet me."}


# -- the stream -------------------------------------------------------------------------------------


def _sum(chunks: list[Any]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


def _same_reply(streamed: AIMessageChunk, invoked: Any) -> None:
    assert streamed.content == invoked.content
    assert streamed.tool_calls == invoked.tool_calls
    assert streamed.invalid_tool_calls == []
    assert streamed.usage_metadata == invoked.usage_metadata
    assert streamed.response_metadata == invoked.response_metadata
    assert streamed.additional_kwargs == invoked.additional_kwargs
    assert streamed.id == invoked.id


def test_a_text_stream_adds_up_to_the_invoked_reply() -> None:
    server = Server(sse(*text_events()))
    chunks = list(model(server).stream("Hi"))
    assert server.body["stream"] is True
    assert "text/event-stream" in server.requests[0].headers["accept"]
    assert [c.content for c in chunks if c.content] == ["Hello", "! How", " can I help?"]
    # The prompt's tokens on the first chunk, the reply's on the last: never counted twice.
    assert chunks[0].usage_metadata == {"input_tokens": 2112, "output_tokens": 0, "total_tokens": 2112, "input_token_details": {"cache_read": 2000, "cache_creation": 100}}
    assert chunks[-1].usage_metadata == {"input_tokens": 0, "output_tokens": 9, "total_tokens": 9}
    assert chunks[-1].response_metadata["finish_reason"] == "end_turn"
    _same_reply(_sum(chunks), model(Server(TEXT_ANSWER)).invoke("Hi"))


def test_the_finish_reason_chunk_carries_it_in_generation_info() -> None:
    chat = model(Server(sse(*text_events())))
    generated = list(chat._stream([HumanMessage("Hi")]))
    infos = [g.generation_info for g in generated if g.generation_info]
    assert infos == [{"finish_reason": "end_turn"}]


def test_a_tool_stream_assembles_its_arguments_from_fragments() -> None:
    chunks = list(model(Server(sse(*tool_events()))).stream("Weather in Paris?"))
    starts = [c.tool_call_chunks[0] for c in chunks if c.tool_call_chunks and c.tool_call_chunks[0]["name"]]
    assert starts == [{"name": "get_weather", "id": "toolu_01A", "args": "", "index": 1, "type": "tool_call_chunk"}]
    fragments = [c.tool_call_chunks[0]["args"] for c in chunks if c.tool_call_chunks and not c.tool_call_chunks[0]["name"]]
    assert fragments == ['{"city": ', '"Par', 'is", "unit": "cel', 'sius"}']
    total = _sum(chunks)
    assert total.tool_calls == [{"name": "get_weather", "args": {"city": "Paris", "unit": "celsius"}, "id": "toolu_01A", "type": "tool_call"}]
    _same_reply(total, model(Server(TOOL_ANSWER)).invoke("Weather in Paris?"))


def test_two_tool_calls_in_one_stream_stay_apart() -> None:
    events = tool_events()[:-2] + [
        ("content_block_start", {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"tz": "CET"}'}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        *tool_events()[-2:],
    ]
    total = _sum(list(model(Server(sse(*events))).stream("?")))
    assert [(c["name"], c["id"], c["args"]) for c in total.tool_calls] == [
        ("get_weather", "toolu_01A", {"city": "Paris", "unit": "celsius"}),
        ("get_time", "toolu_01B", {"tz": "CET"}),
    ]


def test_cumulative_usage_in_message_delta_is_not_counted_twice() -> None:
    events = text_events()
    # Newer API versions repeat the cumulative prompt counts in message_delta.
    events[-2] = ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {**USAGE}})
    total = _sum(list(model(Server(sse(*events))).stream("Hi")))
    assert total.usage_metadata == model(Server(TEXT_ANSWER)).invoke("Hi").usage_metadata


def test_a_stream_that_reports_cache_use_only_at_its_end_still_adds_up() -> None:
    events = text_events()
    events[0][1]["message"]["usage"] = {"input_tokens": 12, "output_tokens": 1}
    events[-2][1]["usage"] = {**USAGE}
    total = _sum(list(model(Server(sse(*events))).stream("Hi")))
    assert total.usage_metadata == model(Server(TEXT_ANSWER)).invoke("Hi").usage_metadata


def test_thinking_deltas_stay_out_of_the_streamed_content() -> None:
    events = text_events()
    events[1:1] = [
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "They greet"}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": " me."}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    total = _sum(list(model(Server(sse(*events))).stream("Hi")))
    assert total.content == "Hello! How can I help?"
    assert total.additional_kwargs == {"thinking": "They greet me."}


@pytest.mark.parametrize(
    ("kind", "status", "error_class"),
    [("overloaded_error", 529, InternalServerError), ("rate_limit_error", 429, RateLimitError), ("api_error", 500, InternalServerError), ("something_new", 500, InternalServerError)],
)
def test_an_error_event_raises_with_the_providers_message(kind: str, status: int, error_class: type[Exception]) -> None:
    events = text_events()[:4] + [("error", {"type": "error", "error": {"type": kind, "message": "Overloaded, try later"}})]
    server = Server(sse(*events))
    received = []
    with pytest.raises(error_class) as caught:
        for chunk in model(server).stream("Hi"):
            received.append(chunk)
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert "Overloaded, try later" in str(caught.value) and kind in str(caught.value)
    assert "".join(str(c.content) for c in received) == "Hello"
    assert len(server.requests) == 1  # a stream that has started is never silently restarted


def test_events_are_read_by_their_type_when_unnamed_and_unknown_ones_are_skipped() -> None:
    body = "".join(f"data: {json.dumps(data)}\n\n" for _, data in text_events()) + 'event: future_event\ndata: {"type": "future_event"}\n\n'
    server = Server(httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"}))
    assert _sum(list(model(server).stream("Hi"))).content == "Hello! How can I help?"


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=40), cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6), args=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3))
def test_any_split_of_a_reply_streams_to_what_invoke_returns(text: str, cuts: list[int], args: dict[str, Any]) -> None:
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    encoded = json.dumps(args)
    json_bounds = sorted({0, len(encoded), *(c for c in cuts if c <= len(encoded))})
    fragments = [encoded[a:b] for a, b in zip(json_bounds, json_bounds[1:])]
    answer = {**TOOL_ANSWER, "content": [{"type": "text", "text": text}, {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": args}]}
    events = tool_events(fragments)
    events[2:4] = [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}) for p in pieces]
    _same_reply(_sum(list(model(Server(sse(*events))).stream("?"))), model(Server(answer)).invoke("?"))


# -- async ------------------------------------------------------------------------------------------


async def test_ainvoke_and_astream_end_to_end() -> None:
    server = Server(TOOL_ANSWER, sse(*tool_events()))
    chat = model(server)
    invoked = await chat.ainvoke([SystemMessage("Be brief."), HumanMessage("Weather in Paris?")])
    assert server.body["system"] == "Be brief."
    chunks = [chunk async for chunk in chat.astream("Weather in Paris?")]
    assert server.body["stream"] is True
    _same_reply(_sum(chunks), invoked)


async def test_abatch_and_agenerate() -> None:
    chat = model(Server(TEXT_ANSWER))
    replies = await chat.abatch(["a", "b", "c"])
    assert [r.content for r in replies] == ["Hello! How can I help?"] * 3
    result = await chat.agenerate([["a"], ["b"]])
    assert result.llm_output is not None and result.llm_output["token_usage"]["input_tokens"] == 24


async def test_an_async_error_event_raises_too() -> None:
    events = text_events()[:2] + [("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})]
    with pytest.raises(InternalServerError, match="Overloaded"):
        async for _ in model(Server(sse(*events))).astream("Hi"):
            pass


def test_batch_and_legacy_call() -> None:
    chat = model(Server(TEXT_ANSWER))
    assert [r.content for r in chat.batch(["a", "b"])] == ["Hello! How can I help?"] * 2
    assert chat([HumanMessage("Hi")]).content == "Hello! How can I help?"


# -- errors -----------------------------------------------------------------------------------------


def _error(status: int, kind: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"type": "error", "error": {"type": kind, "message": message}}, headers={"request-id": "req_011", **headers})


def test_an_error_status_carries_the_providers_message_and_request_id() -> None:
    server = Server(_error(400, "invalid_request_error", "messages: roles must alternate"))
    with pytest.raises(BadRequestError) as caught:
        model(server).invoke("Hi")
    assert caught.value.message == "invalid_request_error: messages: roles must alternate"
    assert caught.value.request_id == "req_011" and caught.value.status_code == 400
    assert str(caught.value) == "anthropic answered 400: invalid_request_error: messages: roles must alternate (request req_011)"


def test_overloaded_is_retried_and_then_succeeds() -> None:
    server = Server(_error(529, "overloaded_error", "Overloaded", **{"retry-after": "0"}), TEXT_ANSWER)
    assert model(server, max_retries=1).invoke("Hi").content == "Hello! How can I help?"
    assert len(server.requests) == 2


def test_overloaded_past_the_retries_is_an_internal_server_error() -> None:
    server = Server(_error(529, "overloaded_error", "Overloaded", **{"retry-after": "0"}))
    with pytest.raises(InternalServerError) as caught:
        model(server, max_retries=2).invoke("Hi")
    assert caught.value.status_code == 529 and len(server.requests) == 3


@pytest.mark.parametrize("answer", [{"type": "message"}, [1, 2], {"content": [{"type": "tool_use", "id": "x"}]}])
def test_an_unreadable_answer_is_an_api_response_error(answer: Any) -> None:
    with pytest.raises(APIResponseError, match="unreadable message"):
        model(Server(answer)).invoke("Hi")


def test_an_unreadable_event_is_an_api_response_error() -> None:
    body = b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}\n\n'
    server = Server(httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}))
    with pytest.raises(APIResponseError, match="Could not read a streamed event"):
        list(model(server).stream("Hi"))


def test_a_stream_refused_before_it_starts_raises_the_status_error() -> None:
    server = Server(_error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"))
    with pytest.raises(RateLimitError, match="per-minute rate limit"):
        list(model(server, max_retries=0).stream("Hi"))


# -- the key ----------------------------------------------------------------------------------------


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    server = Server(TEXT_ANSWER)
    ChatAnthropic(transport=httpx.MockTransport(server)).invoke("Hi")
    assert server.requests[0].headers["x-api-key"] == "sk-ant-from-env"
    assert ChatAnthropic(anthropic_api_key="given").api_key.get_secret_value() == "given"  # type: ignore[union-attr]


def test_no_key_is_an_authentication_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    server = Server(TEXT_ANSWER)
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        ChatAnthropic(transport=httpx.MockTransport(server)).invoke("Hi")
    assert server.requests == []


def test_the_key_is_not_in_repr_str_dump_or_errors() -> None:
    server = Server(_error(401, "authentication_error", "invalid x-api-key"))
    chat = model(server)
    for text in (repr(chat), str(chat), str(chat.model_dump()), chat.model_dump_json(), str(chat._identifying_params)):
        assert KEY not in text
    with pytest.raises(AuthenticationError) as caught:
        chat.invoke("Hi")
    assert KEY not in str(caught.value) and KEY not in repr(caught.value) and KEY not in json.dumps(caught.value.body)


def test_a_traced_call_records_usage_and_never_the_key(tracing: tracer.Settings, isolated_tracer: Path) -> None:
    chat = model(Server(TEXT_ANSWER, sse(*text_events())))
    chat.invoke([SystemMessage("Be brief."), HumanMessage("Hi")])
    list(chat.stream("Hi"))
    assert tracer.flush(timeout=30)
    with open_store(tracing.store_url) as store:
        runs = sorted(store.list_runs(project_name="tests"), key=lambda run: run.dotted_order)
        assert len(runs) == 2 and all(run.status == "success" for run in runs)
        for run in runs:
            assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (2112, 9, 2121)
            assert run.invocation_params["model_name"] == "claude-3-5-haiku-latest"
            assert KEY not in run.model_dump_json()
    for path in isolated_tracer.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()
