"""ChatGoogleGenerativeAI against a mock Gemini API (httpx.MockTransport): requests, answers, streams."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, Field

import tracer
from tracer import config
from tracer.chat_models.google import ChatGoogleGenerativeAI
from tracer.errors import APIResponseError, AuthenticationError, BadRequestError, InternalServerError, PermissionDeniedError, RateLimitError
from tracer.messages import AIMessage, AIMessageChunk, ChatMessage, FunctionMessage, HumanMessage, SystemMessage, ToolMessage
from tracer.store import open_store
from tracer.tools import convert_to_tool

KEY = "AIzaSy-test-secret-key-0123456789"
PNG = "iVBORw0KGgoAAAANSUhEUg=="


def _reply(parts: list[dict[str, Any]] | None = None, *, finish: str = "STOP", usage: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "candidates": [{"content": {"role": "model", "parts": parts if parts is not None else [{"text": "Hello there."}]}, "finishReason": finish, "index": 0}],
        "modelVersion": "gemini-2.0-flash-001",
        "responseId": "resp-1",
        **extra,
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return body


USAGE = {"promptTokenCount": 11, "candidatesTokenCount": 4, "totalTokenCount": 15}


class Server:
    """A mock Gemini API: records each request, answers from a queue (or one fixed answer)."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)

    def model(self, **kwargs: Any) -> ChatGoogleGenerativeAI:
        transport = httpx.MockTransport(self)
        kwargs.setdefault("google_api_key", KEY)
        return ChatGoogleGenerativeAI(transport=transport, async_transport=transport, **kwargs)


def _json(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def _sse(*events: dict[str, Any]) -> httpx.Response:
    text = "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events)
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=text.encode())


@pytest.fixture(autouse=True)
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)


# -- the request -----------------------------------------------------------------------------------


def test_request_url_auth_and_generation_config() -> None:
    server = Server(_json(_reply(usage=USAGE)))
    model = server.model(model="models/gemini-2.5-flash", temperature=0.2, max_tokens=64, top_p=0.9, top_k=20, stop=["END"])
    model.invoke("Hi")
    request = server.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert "authorization" not in request.headers
    assert KEY not in str(request.url) and "key=" not in str(request.url)
    assert server.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64, "topP": 0.9, "topK": 20, "stopSequences": ["END"]},
    }


def test_call_time_options_override_and_extend() -> None:
    server = Server(_json(_reply()))
    model = server.model(temperature=0.2, stop=["END"])
    model.invoke("Hi", stop=["STOP"], temperature=0.0, max_output_tokens=5, generation_config={"thinkingConfig": {"thinkingBudget": 0}}, safety_settings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}])
    assert server.body["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 5, "stopSequences": ["STOP"], "thinkingConfig": {"thinkingBudget": 0}}
    assert server.body["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    with pytest.raises(TypeError, match="does not take frequency_penalty"):
        model.invoke("Hi", frequency_penalty=1.0)


def test_system_instruction_and_role_merging() -> None:
    server = Server(_json(_reply()))
    server.model().invoke(
        [
            SystemMessage("Be brief."),
            HumanMessage("one"),
            HumanMessage([{"type": "text", "text": "two"}, "three"]),
            AIMessage("four"),
            ChatMessage("five", role="assistant"),
            AIMessage(""),
            ("human", "six"),
            SystemMessage("Answer in French."),
        ]
    )
    assert server.body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert server.body["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}, {"text": "three"}]},
        {"role": "model", "parts": [{"text": "four"}, {"text": "five"}]},
        {"role": "user", "parts": [{"text": "six"}]},
    ]
    assert "generationConfig" not in server.body


def test_images() -> None:
    server = Server(_json(_reply()))
    model = server.model()
    model.invoke(
        [
            HumanMessage(
                [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": f"data:image/jpeg;base64,{PNG}"},
                    {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/webp"},
                    {"type": "image", "source_type": "url", "url": "gs://bucket/cat.png"},
                    {"type": "image_url", "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
                ]
            )
        ]
    )
    assert server.body["contents"][0]["parts"] == [
        {"text": "What is in these?"},
        {"inline_data": {"mime_type": "image/png", "data": PNG}},
        {"inline_data": {"mime_type": "image/jpeg", "data": PNG}},
        {"inline_data": {"mime_type": "image/webp", "data": PNG}},
        {"file_data": {"mime_type": "image/png", "file_uri": "gs://bucket/cat.png"}},
        {"file_data": {"file_uri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
    ]
    calls = len(server.requests)
    with pytest.raises(ValueError, match="not as web addresses"):
        model.invoke([HumanMessage([{"type": "image_url", "image_url": {"url": "https://example.com/cat.png?token=abc"}}])])
    with pytest.raises(ValueError, match="base64"):
        model.invoke([HumanMessage([{"type": "image_url", "image_url": {"url": "data:image/svg+xml,<svg/>"}}])])
    with pytest.raises(ValueError, match="audio"):
        model.invoke([HumanMessage([{"type": "audio", "data": "x"}])])
    assert len(server.requests) == calls  # nothing was sent


def test_function_call_round_trip_by_id() -> None:
    server = Server(_json(_reply()))
    ai = AIMessage(
        "Let me look.",
        tool_calls=[
            {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_0"},
            {"name": "get_time", "args": {}, "id": "call_1"},
        ],
        additional_kwargs={"thought_signatures": {"call_0": "c2lnbmF0dXJl"}},
    )
    server.model().invoke(
        [
            HumanMessage("Weather and time in Paris?"),
            ai,
            ToolMessage('{"temp_c": 21}', tool_call_id="call_0"),
            ToolMessage("timeout", tool_call_id="call_1", status="error"),
            FunctionMessage("12:00", name="legacy_clock"),
        ]
    )
    assert server.body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Let me look."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnbmF0dXJl"},
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": {"temp_c": 21}}}},
                {"functionResponse": {"name": "get_time", "response": {"error": "timeout"}}},
                {"functionResponse": {"name": "legacy_clock", "response": {"result": "12:00"}}},
            ],
        },
    ]


def test_tool_message_ids_map_to_the_latest_call() -> None:
    # Gemini's ids restart at call_0 in every reply: a ToolMessage answers the latest call_0.
    server = Server(_json(_reply()))
    server.model().invoke(
        [
            HumanMessage("a"),
            AIMessage("", tool_calls=[{"name": "first", "args": {}, "id": "call_0"}]),
            ToolMessage("1", tool_call_id="call_0"),
            AIMessage("", tool_calls=[{"name": "second", "args": {}, "id": "call_0"}]),
            ToolMessage("2", tool_call_id="call_0"),
        ]
    )
    names = [c["parts"][0].get("functionResponse", {}).get("name") for c in server.body["contents"]]
    assert names == [None, None, "first", None, "second"]
    with pytest.raises(ValueError, match="no earlier AIMessage"):
        server.model().invoke([HumanMessage("a"), ToolMessage("1", tool_call_id="nope")])


class Address(BaseModel):
    street: str
    zip: str | None = None


class Lookup(BaseModel):
    """Look a person up."""

    name: str = Field(description="full name")
    age: int | None = None
    address: Address
    tags: list[str] = []
    url: str = Field(default="", json_schema_extra={"format": "uri"})


def ping() -> str:
    """Check the connection."""
    return "pong"


def test_tools_schema_cleaning_and_tool_config() -> None:
    server = Server(_json(_reply()))
    model = server.model()
    # bind_tools takes functions and models; Gemini's own tools pass through a plain bind.
    model.bind(tools=[convert_to_tool(Lookup), convert_to_tool(ping), {"googleSearch": {}}]).invoke("Find Ada")
    [declarations, search] = server.body["tools"]
    assert search == {"googleSearch": {}}
    lookup, ping_ = declarations["functionDeclarations"]
    assert ping_ == {"name": "ping", "description": "Check the connection."}  # no empty object schema
    assert lookup == {
        "name": "Lookup",
        "description": "Look a person up.",
        "parameters": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "full name"},
                "age": {"type": "integer", "nullable": True},
                "address": {
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "zip": {"type": "string", "nullable": True}},
                    "required": ["street"],
                },
                "tags": {"type": "array", "items": {"type": "string"}},
                "url": {"type": "string"},
            },
            "required": ["name", "address"],
        },
    }
    text = json.dumps(server.body["tools"])
    for rejected in ("additionalProperties", "$schema", "$ref", "$defs", "title", "default", '"format"'):
        assert rejected not in text
    assert "toolConfig" not in server.body

    raw = {"type": "function", "function": {"name": "f", "parameters": {"$schema": "x", "type": "object", "additionalProperties": False, "properties": {"mode": {"type": "string", "enum": ["a", "b"], "title": "Mode", "default": "a"}, "level": {"type": "integer", "enum": [1, 2]}}}}}
    model.bind_tools([raw]).invoke("x")
    params = server.body["tools"][0]["functionDeclarations"][0]["parameters"]
    assert params == {"type": "object", "properties": {"mode": {"type": "string", "enum": ["a", "b"]}, "level": {"type": "integer", "description": "One of: 1, 2"}}}

    for choice, expected in [
        ("auto", {"mode": "AUTO"}),
        ("any", {"mode": "ANY"}),
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        ("ping", {"mode": "ANY", "allowedFunctionNames": ["ping"]}),
        ({"type": "function", "function": {"name": "ping"}}, {"mode": "ANY", "allowedFunctionNames": ["ping"]}),
    ]:
        model.bind_tools([ping], tool_choice=choice).invoke("x")
        assert server.body["toolConfig"] == {"functionCallingConfig": expected}


# -- the answer ------------------------------------------------------------------------------------


def test_text_answer_metadata_and_usage() -> None:
    ratings = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
    body = _reply([{"text": "Thinking...", "thought": True}, {"text": "Hello "}, {"text": "there."}], usage=USAGE)
    body["candidates"][0]["safetyRatings"] = ratings
    server = Server(_json(body))
    message = server.model().invoke("Hi")
    assert isinstance(message, AIMessage)
    assert message.content == "Hello there."
    assert message.tool_calls == []
    assert message.response_metadata == {"model_name": "gemini-2.0-flash-001", "finish_reason": "STOP", "id": "resp-1", "safety_ratings": ratings}
    assert message.usage_metadata == {"input_tokens": 11, "output_tokens": 4, "total_tokens": 15}


def test_usage_with_cached_thought_and_tool_tokens() -> None:
    usage = {"promptTokenCount": 100, "cachedContentTokenCount": 60, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 20, "thoughtsTokenCount": 30, "totalTokenCount": 155}
    server = Server(_json(_reply(usage=usage)))
    result = server.model().generate([["Hi"]])
    message = result.generations[0][0].message
    assert message.usage_metadata == {
        "input_tokens": 105,
        "output_tokens": 50,
        "total_tokens": 155,
        "input_token_details": {"cache_read": 60},
        "output_token_details": {"reasoning": 30},
    }
    assert result.llm_output == {"token_usage": usage, "model_name": "gemini-2.0-flash-001"}


def test_missing_usage_is_unknown_not_zero() -> None:
    body = _reply()
    del body["modelVersion"]
    server = Server(_json(body))
    message = server.model(model="models/gemini-1.5-pro").invoke("Hi")
    assert message.usage_metadata is None
    assert message.response_metadata["model_name"] == "gemini-1.5-pro"


def test_function_calls_in_the_answer() -> None:
    parts = [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "get_time"}},
        {"functionCall": {"name": "get_date", "args": {}, "id": "api-id-7"}},
    ]
    server = Server(_json(_reply(parts, usage=USAGE)))
    message = server.model().invoke("Weather?")
    assert message.content == ""
    assert message.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_0", "type": "tool_call"},
        {"name": "get_time", "args": {}, "id": "call_1", "type": "tool_call"},
        {"name": "get_date", "args": {}, "id": "api-id-7", "type": "tool_call"},
    ]
    assert message.additional_kwargs == {"thought_signatures": {"call_0": "c2ln"}}
    # The reply goes back as it came, signature included.
    server.model().invoke([HumanMessage("Weather?"), message, ToolMessage("sunny", tool_call_id="call_0")])
    model_turn = server.body["contents"][1]
    assert model_turn["parts"][0] == {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}
    assert server.body["contents"][2]["parts"] == [{"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}]


def test_finish_reasons_pass_through() -> None:
    server = Server(_json(_reply([{"text": "cut"}], finish="MAX_TOKENS")))
    result = server.model().generate([["Hi"]])
    assert result.generations[0][0].generation_info == {"finish_reason": "MAX_TOKENS"}
    safety = _reply(finish="SAFETY")
    del safety["candidates"][0]["content"]
    server = Server(_json(safety))
    message = server.model().invoke("Hi")
    assert message.content == "" and message.response_metadata["finish_reason"] == "SAFETY"


def test_blocked_prompt_raises_bad_request() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}
    server = Server(_json(blocked))
    with pytest.raises(BadRequestError) as caught:
        server.model().invoke("something bad")
    assert caught.value.status_code == 400
    assert "SAFETY" in str(caught.value) and caught.value.provider == "google"
    assert caught.value.body == blocked
    server = Server(_sse(blocked))
    with pytest.raises(BadRequestError, match="blocked the prompt"):
        list(server.model().stream("something bad"))


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_status", "kind"),
    [(400, "INVALID_ARGUMENT", BadRequestError), (403, "PERMISSION_DENIED", PermissionDeniedError), (429, "RESOURCE_EXHAUSTED", RateLimitError), (500, "INTERNAL", InternalServerError)],
)
def test_error_statuses(status: int, error_status: str, kind: type[Exception]) -> None:
    body = {"error": {"code": status, "message": f"Something about {KEY} went wrong.", "status": error_status}}
    server = Server(_json(body, status))
    with pytest.raises(kind) as caught:
        server.model(max_retries=0).invoke("Hi")
    text = str(caught.value)
    assert "went wrong" in text and error_status in text and str(status) in text
    assert KEY not in text and KEY not in repr(caught.value) and KEY not in caught.value.message  # type: ignore[attr-defined]


def test_error_body_as_a_list_and_on_a_stream() -> None:
    body = [{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}}]
    server = Server(_json(body, 400))
    with pytest.raises(BadRequestError, match="API key not valid"):
        list(server.model(max_retries=0).stream("Hi"))


def test_error_event_in_a_stream() -> None:
    server = Server(_sse(_reply([{"text": "Hel"}]), {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}))
    seen: list[Any] = []
    with pytest.raises(InternalServerError, match="overloaded") as caught:
        for chunk in server.model().stream("Hi"):
            seen.append(chunk)
    assert caught.value.status_code == 503
    assert [c.content for c in seen] == ["Hel"]
    server = Server(_sse({"error": {"message": f"slow down, {KEY}", "status": "RESOURCE_EXHAUSTED"}}))
    with pytest.raises(RateLimitError) as limited:
        list(server.model().stream("Hi"))
    assert limited.value.status_code == 429 and "RESOURCE_EXHAUSTED" in str(limited.value) and KEY not in str(limited.value)
    server = Server(httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"data: {not json\r\n\r\n"))
    with pytest.raises(APIResponseError):
        list(server.model().stream("Hi"))


# -- streams ---------------------------------------------------------------------------------------


def _usage(prompt: int, out: int, **more: int) -> dict[str, int]:
    return {"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out + sum(more.values()), **more}


STREAM = [
    {**_reply([{"text": "Hello"}], usage=_usage(9, 1)), "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}, "index": 0}]},
    {**_reply([{"text": " wor"}], usage=_usage(9, 2)), "candidates": [{"content": {"role": "model", "parts": [{"text": "ideas", "thought": True}, {"text": " wor"}]}, "index": 0}]},
    _reply([{"text": "ld."}], usage=_usage(9, 3, thoughtsTokenCount=4)),
]


def test_stream_text_usage_once_and_finish_reason() -> None:
    server = Server(_sse(*STREAM))
    chunks = list(server.model().stream("Hi"))
    assert str(server.requests[0].url) == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert "text/event-stream" in server.requests[0].headers["accept"]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks] == ["Hello", " wor", "ld.", ""]
    assert [c.usage_metadata for c in chunks[:-1]] == [None, None, None]
    total = chunks[0] + chunks[1:]
    assert total.content == "Hello world."
    # Cumulative counts: the last one, once (a sum of the per-event counts would be 9+9+9 input).
    assert total.usage_metadata == {"input_tokens": 9, "output_tokens": 7, "total_tokens": 16, "output_token_details": {"reasoning": 4}}
    assert total.response_metadata == {"model_name": "gemini-2.0-flash-001", "finish_reason": "STOP", "id": "resp-1"}


def test_stream_generation_info_carries_the_finish_reason() -> None:
    server = Server(_sse(*STREAM))
    model = server.model()
    parser = model._stream_parser()
    pieces = [parser.feed("message", json.dumps(e)) for e in STREAM]
    assert [p[0].generation_info for p in pieces] == [None, None, {"finish_reason": "STOP"}]
    [last] = parser.close()
    assert last.generation_info == {"finish_reason": "STOP"} and last.message.usage_metadata is not None
    assert parser.feed("message", "") == []


def test_stream_without_usage_reports_none() -> None:
    events = [{"candidates": [{"content": {"parts": [{"text": "a"}]}}]}, {"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}]}]
    server = Server(_sse(*events))
    chunks = list(server.model().stream("Hi"))
    total = chunks[0] + chunks[1:]
    assert total.content == "ab" and total.usage_metadata is None
    assert total.response_metadata == {"model_name": "gemini-2.0-flash", "finish_reason": "STOP"}


def test_stream_function_call_chunks() -> None:
    events = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking. "}]}}], "usageMetadata": _usage(20, 2)},
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}, {"functionCall": {"name": "get_time", "args": {}}}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": _usage(20, 12),
        },
    ]
    server = Server(_sse(*events))
    chunks = list(server.model().bind_tools([ping]).stream("Weather?"))
    assert chunks[1].tool_call_chunks == [
        {"name": "get_weather", "args": '{"city": "Paris"}', "id": "call_0", "index": 0, "type": "tool_call_chunk"},
        {"name": "get_time", "args": "{}", "id": "call_1", "index": 1, "type": "tool_call_chunk"},
    ]
    total = chunks[0] + chunks[1:]
    assert total.content == "Checking. "
    assert total.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_0", "type": "tool_call"},
        {"name": "get_time", "args": {}, "id": "call_1", "type": "tool_call"},
    ]
    assert total.additional_kwargs == {"thought_signatures": {"call_0": "c2ln"}}
    assert total.usage_metadata == {"input_tokens": 20, "output_tokens": 12, "total_tokens": 32}
    assert server.body["tools"] == [{"functionDeclarations": [{"name": "ping", "description": "Check the connection."}]}]


# -- keys --------------------------------------------------------------------------------------------


def test_key_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ChatGoogleGenerativeAI(google_api_key="a").api_key.get_secret_value() == "a"  # type: ignore[union-attr]
    assert ChatGoogleGenerativeAI(api_key="b").google_api_key.get_secret_value() == "b"  # type: ignore[union-attr]
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini")
    assert ChatGoogleGenerativeAI().api_key.get_secret_value() == "from-gemini"  # type: ignore[union-attr]
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google")
    assert ChatGoogleGenerativeAI().api_key.get_secret_value() == "from-google"  # type: ignore[union-attr]
    assert ChatGoogleGenerativeAI(google_api_key="given").api_key.get_secret_value() == "given"  # type: ignore[union-attr]
    server = Server(_json(_reply()))
    server.model(google_api_key=None).invoke("Hi")
    assert server.requests[0].headers["x-goog-api-key"] == "from-google"


def test_missing_key_is_an_authentication_error() -> None:
    server = Server(_json(_reply()))
    with pytest.raises(AuthenticationError, match="GOOGLE_API_KEY or GEMINI_API_KEY"):
        server.model(google_api_key=None).invoke("Hi")
    assert server.requests == []


def test_key_never_shown() -> None:
    model = ChatGoogleGenerativeAI(google_api_key=KEY, model="gemini-2.5-pro", temperature=0.5)
    for text in (repr(model), str(model), str(model.model_dump()), model.model_dump_json(), str(model._identifying_params), str(model._invocation_params(None, {}))):
        assert KEY not in text
    assert model.model_dump()["model_name"] == "gemini-2.5-pro"
    assert model._identifying_params == {"provider": "google", "model_name": "gemini-2.5-pro", "temperature": 0.5}


def test_connection_error_names_no_key() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    model = ChatGoogleGenerativeAI(google_api_key=KEY, transport=httpx.MockTransport(refuse), max_retries=0)
    with pytest.raises(tracer.errors.APIConnectionError) as caught:  # type: ignore[attr-defined]
        model.invoke("Hi")
    assert KEY not in str(caught.value) and "generateContent" in str(caught.value)


# -- end to end --------------------------------------------------------------------------------------


def _by_path(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith(":streamGenerateContent"):
        return _sse(*STREAM)
    return _json(_reply(usage=USAGE))


async def test_ainvoke_astream_and_abatch() -> None:
    server = Server(_by_path)
    model = server.model()
    message = await model.ainvoke("Hi")
    assert message.content == "Hello there." and message.usage_metadata["total_tokens"] == 15  # type: ignore[index]
    chunks = [c async for c in model.astream("Hi")]
    assert "".join(c.content for c in chunks) == "Hello world."  # type: ignore[misc]
    assert sum(c.usage_metadata["total_tokens"] for c in chunks if c.usage_metadata) == 16
    replies = await model.abatch(["a", "b"])
    assert [r.content for r in replies] == ["Hello there.", "Hello there."]
    assert all(r.headers["x-goog-api-key"] == KEY for r in server.requests)


def test_invoke_batch_legacy_call_and_generate() -> None:
    server = Server(_by_path)
    model = server.model()
    assert model.invoke("Hi").content == "Hello there."
    assert [m.content for m in model.batch(["a", "b"])] == ["Hello there.", "Hello there."]
    assert model([HumanMessage("Hi")]).content == "Hello there."
    result = model.generate([["a"], ["b"]])
    assert result.llm_output == {"token_usage": {"promptTokenCount": 22, "candidatesTokenCount": 8, "totalTokenCount": 30}, "model_name": "gemini-2.0-flash-001"}


@pytest.fixture
def read_runs(isolated_tracer: Path) -> Iterator[Callable[[], list[Any]]]:
    stores: list[Any] = []

    def read() -> list[Any]:
        assert tracer.flush(timeout=10)
        stores.append(open_store(config.get_settings().store_url))
        return stores[-1].list_runs(limit=100)

    yield read
    for store in stores:
        store.close()


def test_traced_runs_have_exact_usage_and_no_key(tracing: Any, read_runs: Callable[[], list[Any]]) -> None:
    server = Server(_by_path)
    model = server.model()
    model.invoke("Hi")
    list(model.stream("Hi"))
    runs = sorted(read_runs(), key=lambda r: r.start_time)
    assert [(r.prompt_tokens, r.completion_tokens, r.total_tokens) for r in runs] == [(11, 4, 15), (9, 7, 16)]
    assert all(r.model_name == "gemini-2.0-flash-001" for r in runs)
    assert all(r.invocation_params["_type"] == "google-chat" for r in runs)
    for run in runs:
        assert KEY not in run.model_dump_json()


def test_a_429_waits_as_long_as_retry_info_says() -> None:
    import httpx

    from tracer.chat_models.google import ChatGoogleGenerativeAI

    answers = iter([
        httpx.Response(429, json={"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.01s"}]}}),
        httpx.Response(200, json={"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}),
    ])
    model = ChatGoogleGenerativeAI(api_key="k", max_retries=1, transport=httpx.MockTransport(lambda request: next(answers)))
    response = httpx.Response(429, json={"error": {"details": [{"retryDelay": "0.01s"}]}})
    assert model._delay(0, response) == 0.01
    assert model.invoke("hi").content == "ok"
