"""ChatOpenAI and its OpenAI-compatible subclasses (Mistral, Fireworks, Together), off the
network: every request goes to an `httpx.MockTransport` that records it and answers as the API
would. What is checked: the request bodies, the parsing of answers and of event streams, and
that a stream's chunks add up to what `invoke` returns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import tracer
from tracer import config
from tracer.chat_models.fireworks import ChatFireworks
from tracer.chat_models.mistral import ChatMistralAI
from tracer.chat_models.openai import ChatOpenAI
from tracer.chat_models.together import ChatTogether
from tracer.errors import APIResponseError, AuthenticationError, BadRequestError, InternalServerError, RateLimitError
from tracer.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from tracer.store import open_store

KEY = "sk-test-SECRET-0123456789"
PROVIDER_ENV = ("OPENAI_API_KEY", "OPENAI_ORG_ID", "OPENAI_BASE_URL", "MISTRAL_API_KEY", "FIREWORKS_API_KEY", "TOGETHER_API_KEY")


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


class Server:
    """Answers requests in turn with the responses given (the last one repeats)."""

    def __init__(self, *responses: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.responses[min(len(self.requests), len(self.responses)) - 1]
        if callable(response):
            return response(request)
        # A fresh copy each time: one Response object cannot be sent twice.
        return httpx.Response(response.status_code, headers=response.headers, content=response.read())

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)

    def model(self, cls: type[ChatOpenAI] = ChatOpenAI, **kwargs: Any) -> Any:
        transport = httpx.MockTransport(self)
        return cls(**{"api_key": KEY, "transport": transport, "async_transport": transport, "max_retries": 0, **kwargs})


def completion(content: str | None = "Hello there!", *, tool_calls: list[dict[str, Any]] | None = None, usage: Any = "default", finish_reason: str = "stop", **extra: Any) -> httpx.Response:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_abc",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        **extra,
    }
    if usage == "default":
        usage = {
            "prompt_tokens": 20,
            "completion_tokens": 5,
            "total_tokens": 25,
            "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0},
        }
    if usage is not None:
        body["usage"] = usage
    return httpx.Response(200, json=body)


def sse(*events: Any) -> httpx.Response:
    """An event stream: dicts are JSON `data:` events, strings are sent as they are."""
    lines = []
    for event in events:
        lines.append(event if isinstance(event, str) else "data: " + json.dumps(event) + "\n\n")
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content="".join(lines).encode())


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return {"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_abc", "choices": choices, **extra}


USAGE = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25, "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 2, "audio_tokens": 0}}
EXPECTED_USAGE = {
    "input_tokens": 20,
    "output_tokens": 5,
    "total_tokens": 25,
    "input_token_details": {"cache_read": 8, "audio": 0},
    "output_token_details": {"reasoning": 2, "audio": 0},
}


def text_stream(done: bool = True) -> httpx.Response:
    events: list[Any] = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": " there"}),
        chunk({"content": "!"}),
        chunk({}, "stop"),
        chunk(None, usage=USAGE),
    ]
    if done:
        events.append("data: [DONE]\n\n")
    return sse(*events)


def get_weather(city: str, unit: str = "celsius") -> str:
    """Look up the weather in a city."""
    return "sunny"


class Multiply(BaseModel):
    """Multiply two integers."""

    a: int
    b: int


# -- requests ------------------------------------------------------------------------------------


def test_request_url_headers_and_basic_body() -> None:
    server = Server(completion())
    model = server.model(temperature=0.2, max_tokens=50, stop=["\n\n"], top_p=0.9, frequency_penalty=0.1, presence_penalty=0.3, seed=7, organization="org-42")
    model.invoke([SystemMessage("Be brief."), HumanMessage("Hi")])
    [request] = server.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["openai-organization"] == "org-42"
    assert server.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.3,
        "seed": 7,
        "max_tokens": 50,
        "stop": ["\n\n"],
    }


def test_call_options_override_fields_and_pass_through() -> None:
    server = Server(completion())
    model = server.model(model="gpt-4o", temperature=0.2, stop=["x"], model_kwargs={"user": "u-1"})
    model.invoke("Hi", stop=["END"], temperature=0.7, max_tokens=9, response_format={"type": "json_object"}, logprobs=True)
    body = server.body
    assert body["model"] == "gpt-4o"
    assert body["stop"] == ["END"]
    assert body["temperature"] == 0.7
    assert body["max_tokens"] == 9
    assert body["response_format"] == {"type": "json_object"}
    assert body["logprobs"] is True
    assert body["user"] == "u-1"
    assert "stream" not in body and "stream_options" not in body


def test_base_url_for_compatible_servers() -> None:
    server = Server(completion())
    server.model(base_url="http://127.0.0.1:8000/v1/", model="llama").invoke("Hi")
    assert str(server.requests[0].url) == "http://127.0.0.1:8000/v1/chat/completions"


def test_messages_of_every_role() -> None:
    server = Server(completion())
    history = [
        SystemMessage("You are a helpful assistant."),
        HumanMessage("What's the weather in Paris and 6*7?", name="alice"),
        AIMessage(
            "",
            tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}],
            invalid_tool_calls=[{"name": "multiply", "args": "{bad", "id": "call_2", "error": "x", "type": "invalid_tool_call"}],
        ),
        ToolMessage("sunny", tool_call_id="call_1"),
        ToolMessage("could not parse", tool_call_id="call_2", name="multiply"),
        AIMessage("Paris is sunny.", name="bot"),
        AIMessage("", additional_kwargs={"function_call": {"name": "get_time", "arguments": "{}"}}),
        FunctionMessage("12:00", name="get_time"),
        ChatMessage("Answer in French.", role="developer"),
    ]
    server.model().invoke(history)
    assert server.body["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather in Paris and 6*7?", "name": "alice"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "multiply", "arguments": "{bad"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "could not parse", "name": "multiply"},
        {"role": "assistant", "content": "Paris is sunny.", "name": "bot"},
        {"role": "assistant", "content": None, "function_call": {"name": "get_time", "arguments": "{}"}},
        {"role": "function", "name": "get_time", "content": "12:00"},
        {"role": "developer", "content": "Answer in French."},
    ]


def test_openai_dict_messages_round_trip_into_the_request() -> None:
    server = Server(completion())
    call = {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    server.model().invoke([{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "tool", "content": "rain", "tool_call_id": "call_9"}])
    assert server.body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [{**call, "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}
    assert server.body["messages"][2] == {"role": "tool", "tool_call_id": "call_9", "content": "rain"}


IMAGE_BLOCKS = [
    "Describe these:",
    {"type": "text", "text": "one by one."},
    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
    {"type": "image_url", "image_url": "https://example.com/b.png"},
    {"type": "image", "source_type": "base64", "data": "iVBORw0KGgo=", "mime_type": "image/png"},
    {"type": "image", "source_type": "url", "url": "https://example.com/c.jpg"},
    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
    {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
]


def test_images_become_image_url_parts() -> None:
    server = Server(completion())
    server.model().invoke([HumanMessage(IMAGE_BLOCKS)])
    assert server.body["messages"][0]["content"] == [
        {"type": "text", "text": "Describe these:"},
        {"type": "text", "text": "one by one."},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/c.jpg"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
        {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
    ]


def test_image_block_without_data_is_refused_before_sending() -> None:
    server = Server(completion())
    with pytest.raises(ValueError, match="base64 data or a URL"):
        server.model().invoke([HumanMessage([{"type": "image", "mime_type": "image/png"}])])
    assert server.requests == []


def test_tools_and_tool_choice() -> None:
    server = Server(completion())
    model = server.model()
    model.bind_tools([get_weather, Multiply]).invoke("Hi")
    body = server.body
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "Multiply"]
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Look up the weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "default": "celsius"}}, "required": ["city"]},
        },
    }
    assert "tool_choice" not in body
    expected = {
        "auto": "auto",
        "none": "none",
        "required": "required",
        "any": "required",
        "Multiply": {"type": "function", "function": {"name": "Multiply"}},
    }
    for choice, sent in expected.items():
        model.bind_tools([get_weather, Multiply], tool_choice=choice).invoke("Hi")
        assert server.body["tool_choice"] == sent
    model.bind_tools([Multiply], tool_choice=True).invoke("Hi")
    assert server.body["tool_choice"] == {"type": "function", "function": {"name": "Multiply"}}
    explicit = {"type": "function", "function": {"name": "get_weather"}}
    model.bind_tools([get_weather], tool_choice=explicit).invoke("Hi")
    assert server.body["tool_choice"] == explicit


@pytest.mark.parametrize(
    ("model_name", "field"),
    [("gpt-4o-mini", "max_tokens"), ("gpt-3.5-turbo", "max_tokens"), ("o1", "max_completion_tokens"), ("o1-mini", "max_completion_tokens"), ("o3-mini", "max_completion_tokens"), ("o4-mini-2025-04-16", "max_completion_tokens"), ("gpt-5-mini", "max_completion_tokens")],
)
def test_max_tokens_field_depends_on_the_model(model_name: str, field: str) -> None:
    server = Server(completion())
    server.model(model=model_name, max_tokens=64).invoke("Hi")
    assert server.body[field] == 64
    assert {"max_tokens", "max_completion_tokens"} - {field} & server.body.keys() == set()


def test_compatible_providers_always_send_max_tokens() -> None:
    for cls in (ChatMistralAI, ChatFireworks, ChatTogether):
        server = Server(completion())
        server.model(cls, model="o1-lookalike", max_tokens=10).invoke("Hi")
        assert server.body["max_tokens"] == 10 and "max_completion_tokens" not in server.body


def test_stream_options_ask_for_usage() -> None:
    server = Server(text_stream())
    list(server.model().stream("Hi"))
    assert server.body["stream"] is True
    assert server.body["stream_options"] == {"include_usage": True}
    assert server.requests[0].headers["accept"] == "text/event-stream"
    list(server.model(stream_usage=False).stream("Hi"))
    assert "stream_options" not in server.body
    list(server.model().stream("Hi", stream_usage=False))
    assert "stream_options" not in server.body and "stream_usage" not in server.body
    for cls in (ChatFireworks, ChatTogether):
        list(server.model(cls).stream("Hi"))
        assert server.body["stream_options"] == {"include_usage": True}


# -- Mistral's differences -----------------------------------------------------------------------


def test_mistral_request_differences() -> None:
    server = Server(text_stream(), completion())
    model = server.model(ChatMistralAI, seed=3, safe_prompt=True)
    history = [
        SystemMessage("sys", name="setup"),
        HumanMessage([{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, {"type": "image", "source_type": "base64", "data": "AAAA", "mime_type": "image/jpeg"}], name="alice"),
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "abcDEF123", "type": "tool_call"}]),
        ToolMessage("sunny", tool_call_id="abcDEF123", name="get_weather"),
        FunctionMessage("12:00", name="get_time"),
    ]
    list(model.bind_tools([get_weather], tool_choice="required").stream(history))
    body = server.body
    assert str(server.requests[0].url) == "https://api.mistral.ai/v1/chat/completions"
    assert body["model"] == "mistral-large-latest"
    assert body["random_seed"] == 3 and "seed" not in body
    assert body["safe_prompt"] is True
    assert body["stream"] is True and "stream_options" not in body
    assert body["tool_choice"] == "any"
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": "https://example.com/a.png"}, {"type": "image_url", "image_url": "data:image/jpeg;base64,AAAA"}]},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "abcDEF123", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "abcDEF123", "content": "sunny", "name": "get_weather"},
        {"role": "tool", "name": "get_time", "content": "12:00"},
    ]
    model.bind_tools([get_weather], tool_choice="any").invoke("Hi")
    assert server.body["tool_choice"] == "any"
    model.bind_tools([get_weather], tool_choice="get_weather").invoke("Hi")
    assert server.body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_mistral_stream_with_whole_tool_calls_and_usage_in_the_last_chunk() -> None:
    calls = [
        {"id": "aaaaaaaa1", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}, "index": 0},
        {"id": "bbbbbbbb2", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}, "index": 0},
    ]
    usage = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}
    server = Server(sse(chunk({"role": "assistant", "content": ""}), chunk({"tool_calls": calls}, "tool_calls", usage=usage), "data: [DONE]\n\n"))
    chunks = list(server.model(ChatMistralAI).stream("Weather in Paris and Rome?"))
    total = sum(chunks[1:], chunks[0])
    assert total.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "aaaaaaaa1", "type": "tool_call"},
        {"name": "get_weather", "args": {"city": "Rome"}, "id": "bbbbbbbb2", "type": "tool_call"},
    ]
    assert total.usage_metadata == {"input_tokens": 30, "output_tokens": 12, "total_tokens": 42}
    assert total.response_metadata["finish_reason"] == "tool_calls"


def test_mistral_list_content_keeps_the_text() -> None:
    server = Server(completion([{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}, {"type": "text", "text": "Answer."}]))  # type: ignore[arg-type]
    assert server.model(ChatMistralAI).invoke("Hi").content == "Answer."


# -- answers -------------------------------------------------------------------------------------


def test_text_answer() -> None:
    server = Server(completion(service_tier="default"))
    message = server.model().invoke("Hi")
    assert isinstance(message, AIMessage)
    assert message.content == "Hello there!"
    assert message.id == "chatcmpl-123"
    assert message.tool_calls == [] and message.invalid_tool_calls == []
    assert message.response_metadata == {"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop", "id": "chatcmpl-123", "system_fingerprint": "fp_abc", "service_tier": "default"}
    assert message.usage_metadata == EXPECTED_USAGE


def test_generate_gives_generation_info_and_llm_output() -> None:
    server = Server(completion())
    result = server.model().generate([[HumanMessage("Hi")]])
    [[generation]] = result.generations
    assert generation.text == "Hello there!"
    assert generation.generation_info == {"finish_reason": "stop"}
    assert result.llm_output is not None
    assert result.llm_output["model_name"] == "gpt-4o-mini-2024-07-18"
    assert result.llm_output["token_usage"] == {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}


def test_direct_parse_keeps_raw_usage_and_fingerprint() -> None:
    result = ChatOpenAI(api_key=KEY)._parse_response(completion().json())
    assert result.llm_output == {"token_usage": USAGE, "model_name": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_abc"}


def test_tool_call_answer() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "Multiply", "arguments": '{"a": 6, "b": 7}'}},
        {"id": "call_3", "type": "function", "function": {"name": "noargs", "arguments": ""}},
    ]
    server = Server(completion(None, tool_calls=calls, finish_reason="tool_calls"))
    message = server.model().bind_tools([get_weather, Multiply]).invoke("Hi")
    assert message.content == ""
    assert message.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"},
        {"name": "Multiply", "args": {"a": 6, "b": 7}, "id": "call_2", "type": "tool_call"},
        {"name": "noargs", "args": {}, "id": "call_3", "type": "tool_call"},
    ]
    assert message.response_metadata["finish_reason"] == "tool_calls"


def test_malformed_tool_arguments_are_invalid_tool_calls() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Par'}},
        {"id": "call_2", "type": "function", "function": {"name": "Multiply", "arguments": "[1, 2]"}},
        {"id": "call_3", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
    ]
    message = Server(completion(None, tool_calls=calls, finish_reason="tool_calls")).model().invoke("Hi")
    assert message.tool_calls == [{"name": "get_weather", "args": {"city": "Rome"}, "id": "call_3", "type": "tool_call"}]
    assert [(c["name"], c["args"], c["id"]) for c in message.invalid_tool_calls] == [("get_weather", '{"city": "Par', "call_1"), ("Multiply", "[1, 2]", "call_2")]
    assert all(c["error"] and c["type"] == "invalid_tool_call" for c in message.invalid_tool_calls)


def test_missing_usage_is_unknown_not_zero() -> None:
    server = Server(completion(usage=None))
    message = server.model().invoke("Hi")
    assert message.usage_metadata is None
    result = server.model().generate([["Hi"]])
    assert result.llm_output is not None and result.llm_output["token_usage"] == {}
    assert result.usage() is None
    # A usage object without the counts is no count either.
    assert Server(completion(usage={"total_tokens": None})).model().invoke("Hi").usage_metadata is None


def test_usage_without_details() -> None:
    message = Server(completion(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7})).model().invoke("Hi")
    assert message.usage_metadata == {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}


def test_error_status_carries_the_providers_message_and_no_key() -> None:
    body = {"error": {"message": "Invalid 'messages[0].role': 'robot'.", "type": "invalid_request_error", "param": "messages", "code": None}}
    server = Server(httpx.Response(400, json=body, headers={"x-request-id": "req_1"}))
    with pytest.raises(BadRequestError) as info:
        server.model().invoke("Hi")
    assert info.value.status_code == 400 and info.value.provider == "openai"
    assert "Invalid 'messages[0].role'" in str(info.value) and "req_1" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_error_object_in_a_200_answer_raises() -> None:
    server = Server(httpx.Response(200, json={"error": {"message": "model overloaded", "type": "server_error"}}))
    with pytest.raises(InternalServerError, match="model overloaded"):
        server.model().invoke("Hi")


def test_answer_without_choices_is_a_response_error() -> None:
    with pytest.raises(APIResponseError, match="without choices"):
        Server(httpx.Response(200, json={"id": "x", "choices": []})).model().invoke("Hi")
    with pytest.raises(APIResponseError, match="not a JSON object"):
        Server(httpx.Response(200, json=["no"])).model().invoke("Hi")


def test_assistant_blocks_from_other_providers_keep_only_text() -> None:
    server = Server(completion())
    reply = AIMessage([{"type": "text", "text": "Let me check."}, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}], tool_calls=[{"name": "get_weather", "args": {}, "id": "toolu_1"}])
    server.model().invoke([HumanMessage("Weather?"), reply, ToolMessage("sunny", tool_call_id="toolu_1")])
    assert server.body["messages"][1]["content"] == [{"type": "text", "text": "Let me check."}]
    assert server.body["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": "{}"}


def test_rate_limit_is_retried_then_answered() -> None:
    server = Server(httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after-ms": "1"}), completion())
    assert server.model(max_retries=2).invoke("Hi").content == "Hello there!"
    assert len(server.requests) == 2


# -- streams -------------------------------------------------------------------------------------


def test_stream_text_finish_and_usage() -> None:
    server = Server(text_stream())
    chunks = list(server.model().stream("Hi"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks] == ["", "Hello", " there", "!", "", ""]
    finish, usage = chunks[-2], chunks[-1]
    assert finish.response_metadata == {"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop", "id": "chatcmpl-123", "system_fingerprint": "fp_abc"}
    assert finish.usage_metadata is None
    assert usage.usage_metadata == EXPECTED_USAGE
    assert all(c.usage_metadata is None for c in chunks[:-1])


def test_stream_sum_equals_invoke() -> None:
    invoked = Server(completion()).model().invoke("Hi")
    chunks = list(Server(text_stream()).model().stream("Hi"))
    total = sum(chunks[1:], chunks[0])
    assert total.content == invoked.content
    assert total.tool_calls == invoked.tool_calls
    assert total.usage_metadata == invoked.usage_metadata
    assert total.response_metadata == invoked.response_metadata
    assert total.id == invoked.id


def test_stream_generation_info_carries_the_finish_reason() -> None:
    model = Server(text_stream()).model()
    generation_chunks = list(model._stream([HumanMessage("Hi")]))
    infos = [c.generation_info for c in generation_chunks]
    assert infos == [None, None, None, None, {"finish_reason": "stop"}, None]


STREAMED_CALLS = [
    chunk({"role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Par'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'is"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "Multiply", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"a": 6, '}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"b": 7}'}}]}),
    chunk({}, "tool_calls"),
    chunk(None, usage={"prompt_tokens": 50, "completion_tokens": 30, "total_tokens": 80}),
    "data: [DONE]\n\n",
]


def test_streamed_tool_call_fragments_are_assembled() -> None:
    chunks = list(Server(sse(*STREAMED_CALLS)).model().stream("Hi"))
    assert chunks[0].tool_call_chunks == [{"name": "get_weather", "args": "", "id": "call_1", "index": 0, "type": "tool_call_chunk"}]
    assert chunks[1].tool_call_chunks[0]["args"] == '{"ci'
    total = sum(chunks[1:], chunks[0])
    assert total.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"},
        {"name": "Multiply", "args": {"a": 6, "b": 7}, "id": "call_2", "type": "tool_call"},
    ]
    assert total.invalid_tool_calls == []
    assert total.usage_metadata == {"input_tokens": 50, "output_tokens": 30, "total_tokens": 80}
    assert total.response_metadata["finish_reason"] == "tool_calls"
    # The same answer, not streamed, gives the same message.
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "Multiply", "arguments": '{"a": 6, "b": 7}'}},
    ]
    invoked = Server(completion(None, tool_calls=calls, finish_reason="tool_calls", usage={"prompt_tokens": 50, "completion_tokens": 30, "total_tokens": 80})).model().invoke("Hi")
    assert (total.content, total.tool_calls, total.usage_metadata, total.response_metadata) == (invoked.content, invoked.tool_calls, invoked.usage_metadata, invoked.response_metadata)


def test_streamed_malformed_arguments_end_as_invalid_tool_calls() -> None:
    events = [
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": '}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "oops"}}]}),
        chunk({}, "tool_calls"),
        "data: [DONE]\n\n",
    ]
    chunks = list(Server(sse(*events)).model().stream("Hi"))
    total = sum(chunks[1:], chunks[0])
    assert total.tool_calls == []
    assert [(c["name"], c["args"], c["id"]) for c in total.invalid_tool_calls] == [("get_weather", '{"city": oops', "call_1")]


def test_servers_repeating_the_name_and_id_do_not_double_them() -> None:
    events = [
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": '{"city": '}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": '"Oslo"}'}}]}),
        chunk({}, "tool_calls"),
        "data: [DONE]\n\n",
    ]
    chunks = list(Server(sse(*events)).model().stream("Hi"))
    total = sum(chunks[1:], chunks[0])
    assert total.tool_calls == [{"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_1", "type": "tool_call"}]


def test_stream_without_done_and_with_repeated_running_usage() -> None:
    events = [
        chunk({"content": "Hi"}, usage={"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}),
        chunk({"content": "!"}, usage={"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}),
        chunk({}, "stop", usage={"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}),
    ]
    chunks = list(Server(sse(*events)).model().stream("Hi"))
    total = sum(chunks[1:], chunks[0])
    assert total.content == "Hi!"
    assert total.usage_metadata == {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6}


def test_stream_without_usage_is_unknown() -> None:
    chunks = list(Server(text_stream()).model(stream_usage=False)._stream([HumanMessage("Hi")]))
    # The server sent usage anyway (our mock ignores the option): it is kept.
    assert chunks[-1].message.usage_metadata == EXPECTED_USAGE
    events = [chunk({"content": "Hi"}), chunk({}, "stop"), "data: [DONE]\n\n"]
    chunks2 = list(Server(sse(*events)).model().stream("Hi"))
    total = sum(chunks2[1:], chunks2[0])
    assert total.usage_metadata is None


def test_events_after_done_are_ignored() -> None:
    events = [chunk({"content": "A"}), chunk({}, "stop"), "data: [DONE]\n\n", chunk({"content": "B"})]
    assert "".join(c.content for c in Server(sse(*events)).model().stream("Hi")) == "A"


@pytest.mark.parametrize(
    ("error", "exc"),
    [
        ({"message": "The server had an error while processing your request.", "type": "server_error"}, InternalServerError),
        ({"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}, RateLimitError),
        ({"message": "Bad input", "type": "invalid_request_error", "code": 400}, BadRequestError),
        ({"message": "Something odd"}, InternalServerError),
        ({"message": "Too many", "code": "429"}, RateLimitError),
    ],
)
def test_error_event_in_a_stream_raises(error: dict[str, Any], exc: type[Exception]) -> None:
    server = Server(sse(chunk({"content": "Partial"}), {"error": error}, "data: [DONE]\n\n"))
    received: list[str] = []
    with pytest.raises(exc) as info:
        for piece in server.model().stream("Hi"):
            received.append(piece.content)
    assert received == ["Partial"]
    assert error["message"] in str(info.value)
    assert info.value.provider == "openai"  # type: ignore[attr-defined]


def test_named_error_event_raises() -> None:
    server = Server(sse('event: error\ndata: {"message": "upstream failed", "code": 503}\n\n'))
    with pytest.raises(InternalServerError, match="upstream failed") as info:
        list(server.model().stream("Hi"))
    assert info.value.status_code == 503


def test_malformed_stream_event_is_a_response_error() -> None:
    server = Server(sse(chunk({"content": "A"}), "data: {not json\n\n"))
    with pytest.raises(APIResponseError):
        list(server.model().stream("Hi"))


def test_stream_error_status_before_the_first_event() -> None:
    server = Server(httpx.Response(401, json={"error": {"message": "Incorrect API key provided: sk-te***789."}}))
    with pytest.raises(AuthenticationError, match="Incorrect API key"):
        list(server.model().stream("Hi"))


# -- end to end, sync and async -------------------------------------------------------------------


async def test_ainvoke_and_astream() -> None:
    server = Server(completion(), text_stream())
    model = server.model()
    message = await model.ainvoke("Hi")
    assert message.content == "Hello there!" and message.usage_metadata == EXPECTED_USAGE
    chunks = [c async for c in model.astream("Hi")]
    total = sum(chunks[1:], chunks[0])
    assert total.content == "Hello there!"
    assert total.usage_metadata == EXPECTED_USAGE
    assert server.body["stream"] is True


async def test_abatch_and_batch() -> None:
    server = Server(completion())
    model = server.model()
    assert [m.content for m in model.batch(["a", "b"])] == ["Hello there!", "Hello there!"]
    assert [m.content for m in await model.abatch(["a", "b", "c"])] == ["Hello there!"] * 3
    assert len(server.requests) == 5


async def test_astream_tool_calls() -> None:
    model = Server(sse(*STREAMED_CALLS)).model()
    chunks = [c async for c in model.bind_tools([get_weather, Multiply]).astream("Hi")]
    total = sum(chunks[1:], chunks[0])
    assert [c["name"] for c in total.tool_calls] == ["get_weather", "Multiply"]


def test_legacy_call() -> None:
    assert Server(completion()).model()([HumanMessage("Hi")]).content == "Hello there!"


@pytest.mark.parametrize("cls", [ChatOpenAI, ChatMistralAI, ChatFireworks, ChatTogether])
def test_every_provider_invokes_and_streams(cls: type[ChatOpenAI]) -> None:
    server = Server(completion(), text_stream())
    model = server.model(cls)
    assert model.invoke("Hi").content == "Hello there!"
    assert str(server.requests[0].url) == cls.default_base_url + "/chat/completions"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    chunks = list(model.stream("Hi"))
    total = sum(chunks[1:], chunks[0])
    assert total.content == "Hello there!" and total.usage_metadata == EXPECTED_USAGE


# -- the subclasses and their keys ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "provider", "url", "env", "default_model", "alias"),
    [
        (ChatOpenAI, "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4o-mini", "openai_api_key"),
        (ChatMistralAI, "mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "mistral-large-latest", "mistral_api_key"),
        (ChatFireworks, "fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", "accounts/fireworks/models/mixtral-8x7b-instruct", "fireworks_api_key"),
        (ChatTogether, "together", "https://api.together.xyz/v1", "TOGETHER_API_KEY", "mistralai/Mixtral-8x7B-Instruct-v0.1", "together_api_key"),
    ],
)
def test_provider_defaults_env_and_aliases(cls: type[ChatOpenAI], provider: str, url: str, env: str, default_model: str, alias: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cls.provider == provider and cls.default_base_url == url and cls.api_key_env == (env,)
    assert cls().model_name == default_model
    assert cls()._llm_type == f"{provider}-chat"
    assert cls(model="m").model_name == "m"
    assert cls(api_key="k1").api_key.get_secret_value() == "k1"  # type: ignore[union-attr]
    assert cls(**{alias: "k2"}).api_key.get_secret_value() == "k2"  # type: ignore[union-attr]
    assert cls().api_key is None
    with pytest.raises(AuthenticationError, match=env):
        cls(transport=httpx.MockTransport(Server(completion()))).invoke("Hi")
    monkeypatch.setenv(env, "k-from-env")
    assert cls().api_key.get_secret_value() == "k-from-env"  # type: ignore[union-attr]
    assert cls(api_key="explicit").api_key.get_secret_value() == "explicit"  # type: ignore[union-attr]


def test_together_api_key_keyword() -> None:
    server = Server(completion())
    model = ChatTogether(together_api_key=KEY, model="meta-llama/Llama-3-8b-chat-hf", transport=httpx.MockTransport(server))
    model.invoke("Hi")
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert server.body["model"] == "meta-llama/Llama-3-8b-chat-hf"


def test_unknown_keyword_is_refused() -> None:
    with pytest.raises(ValueError):
        ChatTogether(openai_api_key="k")
    with pytest.raises(ValueError):
        ChatOpenAI(together_api_key="k")


def test_openai_env_organization_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:9/v1")
    model = ChatOpenAI()
    assert model.organization == "org-env" and model.base_url == "http://localhost:9/v1"
    # The compatible providers do not pick up OpenAI's settings.
    assert ChatTogether().base_url is None and ChatTogether().organization is None


@pytest.mark.parametrize("cls", [ChatOpenAI, ChatMistralAI, ChatFireworks, ChatTogether])
def test_key_is_never_shown(cls: type[ChatOpenAI]) -> None:
    model = cls(api_key=KEY, temperature=0.5)
    for text in (repr(model), str(model), str(model.model_dump()), model.model_dump_json(), json.dumps(model._identifying_params), str(model._invocation_params(None, {}))):
        assert KEY not in text
    assert model.api_key is not None and model.api_key.get_secret_value() == KEY


def test_key_is_not_in_the_trace(tracing: Any, isolated_tracer: Path) -> None:
    server = Server(completion(), text_stream())
    model = server.model()
    model.invoke([SystemMessage("Be brief."), HumanMessage("Hi")])
    list(model.stream("Hi"))
    assert tracer.flush(timeout=10)
    store = open_store(config.get_settings().store_url)
    try:
        runs = store.list_runs(project_name="tests", limit=10)
        assert len(runs) == 2
        for run in runs:
            assert run.run_type == "llm" and run.status == "success"
            assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (20, 5, 25)
            assert run.invocation_params["_type"] == "openai-chat"
            assert run.invocation_params["model_name"] == "gpt-4o-mini"
            assert KEY not in json.dumps(run.model_dump(mode="json"), default=str)
    finally:
        store.close()
    for path in isolated_tracer.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()
