"""One conformance suite, run against every chat-model provider over real HTTP.

Each test runs once per provider (`provider` is parametrized over the six classes) against the
fake provider server of `tests/fakeproviders` on 127.0.0.1, which speaks that provider's wire
format as its API reference documents it (JSON, SSE streams, error bodies) and refuses requests
the real API would refuse. Nothing here reaches the internet.

What is checked: the request each call sends (auth header, model, system prompt, turns,
sampling parameters, tools, tool results, images), what comes back (text, chunks arriving one by
one, usage exactly as scripted or None when the API gives none, tool calls with streamed argument
fragments, finish reasons, ids), retries (5xx, 429 with Retry-After, connection drops), the
`tracer.errors` raised for 400/401/429/500, dropped streams, malformed JSON and timeouts, that the
API key shows up nowhere but its header, and what lands in the trace store.

Provider classes load lazily: a provider whose module is missing is skipped, not an error.
Known provider bugs are listed in `KNOWN_BUGS` and run as strict xfails.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import logging
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

from fakeproviders import (
    AnthropicWire,
    Drop,
    Error,
    FakeProviderServer,
    GeminiWire,
    Malformed,
    OpenAIWire,
    Reply,
    Slow,
    StreamError,
    ToolCall,
    Usage,
    fake_provider,  # noqa: F401  (the fixture)
)
from tracer.errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    ProviderError,
    RateLimitError,
)
from tracer.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage

KEY = "sk-conformance-SECRET-7f3a9c1e5b2d"
USAGE = Usage(12, 7)


# -- the providers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    module: str
    cls: str
    wire: Any
    #: The base URL's path on the fake server (the provider adds its own endpoint path).
    prefix: str
    model: str
    #: The environment variable the key may come from, and the keyword alias for it, if any.
    env: str
    alias: str | None = None


CASES = [
    Case("openai", "tracer.chat_models.openai", "ChatOpenAI", OpenAIWire("openai"), "/v1", "gpt-4o-mini", "OPENAI_API_KEY", "openai_api_key"),
    Case("mistral", "tracer.chat_models.mistral", "ChatMistralAI", OpenAIWire("mistral"), "/mistral/v1", "mistral-small-latest", "MISTRAL_API_KEY", "mistral_api_key"),
    Case("fireworks", "tracer.chat_models.fireworks", "ChatFireworks", OpenAIWire("fireworks"), "/fireworks/inference/v1", "accounts/fireworks/models/llama-v3p1-8b-instruct", "FIREWORKS_API_KEY", "fireworks_api_key"),
    Case("together", "tracer.chat_models.together", "ChatTogether", OpenAIWire("together"), "/together/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "TOGETHER_API_KEY", "together_api_key"),
    Case("anthropic", "tracer.chat_models.anthropic", "ChatAnthropic", AnthropicWire(), "", "claude-3-5-haiku-latest", "ANTHROPIC_API_KEY", "anthropic_api_key"),
    Case("google", "tracer.chat_models.google", "ChatGoogleGenerativeAI", GeminiWire(), "", "gemini-2.0-flash", "GOOGLE_API_KEY", "google_api_key"),
]

#: (test name, provider id) -> why it fails; run as strict xfails so a fix is noticed.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


class Provider:
    """One provider class against the fake server: builds models, knows the wire format."""

    def __init__(self, case: Case, cls: type, server: FakeProviderServer) -> None:
        self.case = case
        self.cls = cls
        self.server = server
        self.wire = case.wire

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def base_url(self) -> str:
        return self.server.url + self.case.prefix

    def model(self, **kwargs: Any) -> Any:
        options: dict[str, Any] = {"model": self.case.model, "api_key": KEY, "base_url": self.base_url, "timeout": 5.0, "max_retries": 2}
        options.update(kwargs)
        return self.cls(**options)

    @property
    def tool_ids_kept(self) -> bool:
        """Gemini gives its function calls no ids (the provider makes its own, never sent)."""
        return self.wire.name != "gemini"

    def fragments_tool_args(self) -> bool:
        """OpenAI and Anthropic stream a call's arguments in pieces; Gemini sends calls whole."""
        return self.wire.name != "gemini"


_PROVIDER_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "MISTRAL_API_KEY", "FIREWORKS_API_KEY", "TOGETHER_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def provider(request: pytest.FixtureRequest, fake_provider: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Provider:
    case: Case = request.param
    module = pytest.importorskip(case.module)
    cls = getattr(module, case.cls, None)
    if cls is None:
        pytest.skip(f"{case.module} has no {case.cls} yet")
    for name in (*_PROVIDER_ENV, *getattr(cls, "api_key_env", ())):
        monkeypatch.delenv(name, raising=False)
    bug = KNOWN_BUGS.get((request.node.originalname, case.id))
    if bug:
        request.applymarker(pytest.mark.xfail(reason=bug, strict=True))
    return Provider(case, cls, fake_provider)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff without a Retry-After becomes a few milliseconds (the policy is the same)."""
    monkeypatch.setattr("tracer.chat_models._http._MAX_BACKOFF", 0.005)




# -- shared inputs ---------------------------------------------------------------------------------


CONVERSATION = [
    SystemMessage(content="You are a terse arithmetic tutor."),
    HumanMessage(content="What is 2+2?"),
    AIMessage(content="4."),
    HumanMessage(content="And 3+3?"),
]
TURNS = [("user", "What is 2+2?"), ("assistant", "4."), ("user", "And 3+3?")]
PIECES = ["The", " answer", " is", " 42."]


def get_weather(city: str, unit: str = "celsius") -> str:
    """Get the current weather in a city."""
    return f"18 degrees {unit} in {city}"


WEATHER_CALL = ToolCall("get_weather", {"city": "Paris", "unit": "celsius"}, id="call_W1")


def _png() -> str:
    """A 1x1 PNG, base64."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


PNG = _png()


def three(usage: Any) -> dict[str, int] | None:
    """The three counts of a `usage_metadata` (details are checked apart)."""
    if usage is None:
        return None
    return {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")}


def expected(usage: Usage) -> dict[str, int]:
    return {"input_tokens": usage.input, "output_tokens": usage.output, "total_tokens": usage.total}


def finish_of(message: Any) -> Any:
    return message.response_metadata.get("finish_reason", message.response_metadata.get("stop_reason"))


def add_up(chunks: list[Any]) -> Any:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


def first_text_event(provider: Provider, reply: Reply) -> int:
    """The index of the stream event that carries the reply's first piece of text."""
    fake_request = SimpleNamespace(body={"stream": True, "stream_options": {"include_usage": True}, "messages": []}, query={"alt": "sse"}, path="/x")
    events = provider.wire.events(reply, fake_request)
    needle = json.dumps(reply.pieces()[0])
    return next(i for i, event in enumerate(events) if needle in event)


def check_request_basics(provider: Provider, *, stream: bool) -> Any:
    request = provider.server.last
    assert request.wire == provider.wire.name
    assert provider.wire.auth_key(request.headers) == KEY
    assert KEY not in request.path and KEY not in json.dumps(request.query) and KEY.encode() not in request.raw
    assert request.stream is stream
    assert provider.wire.read_params(request)["model"] == provider.case.model
    if provider.wire.name == "gemini":
        expected_path = f"/v1beta/models/{provider.case.model}:{'streamGenerateContent' if stream else 'generateContent'}"
        assert request.path == expected_path
        if stream:
            assert request.query.get("alt") == "sse"
    return request


# -- invoke -------------------------------------------------------------------------------------------


def test_invoke_text(provider: Provider) -> None:
    provider.server.script(Reply("Hello! How can I help?", usage=USAGE, id="resp-001"))
    message = provider.model().invoke("Hello?")

    assert type(message) is AIMessage
    assert message.content == "Hello! How can I help?"
    assert three(message.usage_metadata) == expected(USAGE)
    assert message.tool_calls == []
    assert message.response_metadata["model_name"] == provider.case.model
    assert finish_of(message) in provider.wire.finish_values("stop")
    assert "resp-001" in (message.id, message.response_metadata.get("id"))

    request = check_request_basics(provider, stream=False)
    assert provider.wire.read_system(request.body) is None
    assert provider.wire.read_turns(request.body) == [("user", "Hello?")]
    assert len(provider.server.requests) == 1


def test_invoke_system_multi_turn_and_parameters(provider: Provider) -> None:
    provider.server.script(Reply("6."))
    model = provider.model(temperature=0.25, max_tokens=77, stop=["STOP!"])
    assert model.invoke(CONVERSATION).content == "6."

    request = check_request_basics(provider, stream=False)
    assert provider.wire.read_system(request.body) == "You are a terse arithmetic tutor."
    assert provider.wire.read_turns(request.body) == TURNS
    params = provider.wire.read_params(request)
    assert (params["temperature"], params["max_tokens"], params["stop"]) == (0.25, 77, ["STOP!"])


def test_call_time_stop_and_tuple_messages(provider: Provider) -> None:
    provider.server.script(Reply("ok"))
    provider.model().invoke([("system", "Be brief."), ("human", "Count to 3")], stop=["3"])
    request = provider.server.last
    assert provider.wire.read_system(request.body) == "Be brief."
    assert provider.wire.read_turns(request.body) == [("user", "Count to 3")]
    assert provider.wire.read_params(request)["stop"] == ["3"]


async def test_ainvoke(provider: Provider) -> None:
    provider.server.script(Reply("async hello", usage=USAGE))
    message = await provider.model().ainvoke(CONVERSATION)
    assert message.content == "async hello"
    assert three(message.usage_metadata) == expected(USAGE)
    request = check_request_basics(provider, stream=False)
    assert provider.wire.read_turns(request.body) == TURNS


def test_finish_reason_length(provider: Provider) -> None:
    provider.server.script(Reply("cut sh", finish="length"), Reply(["cut", " sh"], finish="length"))
    model = provider.model(max_tokens=2)
    assert finish_of(model.invoke("hi")) in provider.wire.finish_values("length")
    assert finish_of(add_up(list(model.stream("hi")))) in provider.wire.finish_values("length")


def test_non_ascii_text(provider: Provider) -> None:
    pieces = ["Grüße", ", 世界", " 👋🏽", " — ok"]
    provider.server.script(Reply("".join(pieces)), Reply(list(pieces)))
    model = provider.model()
    assert model.invoke("Sag hallo, 世界 👋").content == "".join(pieces)
    assert provider.wire.last_user_text(provider.server.last) == "Sag hallo, 世界 👋"
    assert [c.content for c in model.stream("hi") if c.content] == pieces


def test_default_base_url_and_missing_key(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `base_url` the class's own default is used; without a key nothing is sent."""
    monkeypatch.setattr(provider.cls, "default_base_url", provider.base_url)
    provider.server.script(Reply("default url"))
    model = provider.cls(model=provider.case.model, api_key=KEY)
    assert model.invoke("hi").content == "default url"
    check_request_basics(provider, stream=False)
    with pytest.raises(AuthenticationError) as info:
        provider.cls(model=provider.case.model).invoke("hi")
    assert provider.case.env in str(info.value)
    assert len(provider.server.requests) == 1


def test_legacy_call(provider: Provider) -> None:
    provider.server.script(Reply("legacy"))
    assert provider.model()([HumanMessage(content="hi")]).content == "legacy"


# -- streams ------------------------------------------------------------------------------------------


def _check_stream(provider: Provider, chunks: list[Any], usage: Usage | None = USAGE) -> Any:
    assert chunks and all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks if c.content] == PIECES
    total = add_up(chunks)
    assert total.content == "".join(PIECES)
    assert three(total.usage_metadata) == (expected(usage) if usage else None)
    assert finish_of(total) in provider.wire.finish_values("stop")
    request = check_request_basics(provider, stream=True)
    if provider.id == "openai":
        assert request.body.get("stream_options") == {"include_usage": True}
    return total


def test_stream(provider: Provider) -> None:
    provider.server.script(Reply(list(PIECES), usage=USAGE))
    chunks = list(provider.model().stream(CONVERSATION))
    _check_stream(provider, chunks)
    assert provider.wire.read_turns(provider.server.last.body) == TURNS


async def test_astream(provider: Provider) -> None:
    provider.server.script(Reply(list(PIECES), usage=USAGE))
    chunks = [c async for c in provider.model().astream(CONVERSATION)]
    _check_stream(provider, chunks)


def test_stream_chunks_arrive_one_by_one(provider: Provider) -> None:
    """The first text chunk reaches the caller while the server still holds the rest."""
    reply = Reply(list(PIECES))
    reply.pause_after = first_text_event(provider, reply) + 1
    provider.server.script(reply)
    stream = iter(provider.model().stream("Tell me"))
    seen = []
    while not any(c.content for c in seen):
        seen.append(next(stream))
    assert provider.server.paused.wait(2), "the first chunk only came after the server had sent everything"
    assert [c.content for c in seen if c.content] == PIECES[:1]
    provider.server.resume()
    seen += list(stream)
    assert "".join(c.content for c in seen) == "".join(PIECES)


async def test_astream_chunks_arrive_one_by_one(provider: Provider) -> None:
    reply = Reply(list(PIECES))
    reply.pause_after = first_text_event(provider, reply) + 1
    provider.server.script(reply)
    stream = provider.model().astream("Tell me").__aiter__()
    seen = []
    try:
        while not any(c.content for c in seen):
            seen.append(await stream.__anext__())
        assert provider.server.paused.wait(2), "the first chunk only came after the server had sent everything"
        provider.server.resume()
        seen += [c async for c in stream]
    finally:
        provider.server.resume()
        await stream.aclose()
    assert "".join(c.content for c in seen) == "".join(PIECES)


def test_stream_with_delays_between_events(provider: Provider) -> None:
    """Chunks reach the caller as the server sends them, not all at the end: the pauses between
    events show between arrivals (half of them suffices: a loaded machine delays the first)."""
    provider.server.script(Reply(list(PIECES), delay=0.05))
    arrivals = []
    for chunk in provider.model().stream("Tell me"):
        if chunk.content:
            arrivals.append(time.monotonic())
    assert len(arrivals) == len(PIECES)
    assert arrivals[-1] - arrivals[0] >= 0.05 * (len(PIECES) - 1) * 0.5


def test_astream_log(provider: Provider) -> None:
    provider.server.script(Reply(list(PIECES), usage=USAGE))

    async def collect() -> list[Any]:
        return [patch async for patch in provider.model().astream_log("Tell me")]

    ops = [op for patch in asyncio.run(collect()) for op in patch.ops]
    assert ops[0]["op"] == "replace" and ops[0]["path"] == ""
    assert set(ops[0]["value"]) == {"id", "streamed_output", "final_output", "logs"}
    UUID(ops[0]["value"]["id"])
    adds = ops[1:-1]
    assert len(adds) >= len(PIECES)
    assert all(op["op"] == "add" and op["path"] == "/streamed_output/-" and isinstance(op["value"], AIMessageChunk) for op in adds)
    assert "".join(op["value"].content for op in adds) == "".join(PIECES)
    last = ops[-1]
    assert last["op"] == "replace" and last["path"] == "/final_output"
    [[generation]] = last["value"]["generations"]
    assert generation["text"] == "".join(PIECES)
    assert three(generation["message"].usage_metadata) == expected(USAGE)


# -- several at once ------------------------------------------------------------------------------------


def test_batch(provider: Provider) -> None:
    provider.server.default = Reply(echo=True)
    replies = provider.model().batch(["one", "two", "three"])
    assert [r.content for r in replies] == ["echo: one", "echo: two", "echo: three"]
    assert len(provider.server.requests) == 3


async def test_abatch(provider: Provider) -> None:
    provider.server.default = Reply(echo=True)
    replies = await provider.model().abatch(["one", "two", "three", "four"], config={"max_concurrency": 2})
    assert [r.content for r in replies] == ["echo: one", "echo: two", "echo: three", "echo: four"]


def test_generate(provider: Provider) -> None:
    provider.server.default = Reply(echo=True, usage=USAGE)
    result = provider.model().generate([[HumanMessage(content="first")], [SystemMessage(content="sys"), HumanMessage(content="second")]])
    assert [g[0].text for g in result.generations] == ["echo: first", "echo: second"]
    assert [three(g[0].message.usage_metadata) for g in result.generations] == [expected(USAGE)] * 2
    assert result.llm_output["model_name"] == provider.case.model
    token_usage = result.llm_output["token_usage"]
    assert token_usage and {2 * USAGE.input, 2 * USAGE.output} <= set(token_usage.values())
    assert len(result.run) == 2 and len({r.run_id for r in result.run}) == 2
    assert all(isinstance(r.run_id, UUID) for r in result.run)


# -- tools ------------------------------------------------------------------------------------------------


def _check_tools_sent(provider: Provider) -> None:
    [tool] = provider.wire.read_tools(provider.server.last.body)
    assert tool["name"] == "get_weather"
    assert tool["description"] == "Get the current weather in a city."
    assert "city" in tool["parameters"]["properties"]
    assert tool["parameters"]["required"] == ["city"]


def _check_call(provider: Provider, calls: list[Any]) -> str:
    [call] = calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris", "unit": "celsius"})
    assert isinstance(call["id"], str) and call["id"]
    if provider.tool_ids_kept:
        assert call["id"] == WEATHER_CALL.id
    return call["id"]


def _check_tool_result_sent(provider: Provider, call_id: str) -> None:
    body = provider.server.last.body
    [sent_call] = provider.wire.read_tool_calls(body)
    assert (sent_call["name"], sent_call["args"]) == ("get_weather", {"city": "Paris", "unit": "celsius"})
    [result] = provider.wire.read_tool_results(body)
    assert "18 degrees celsius in Paris" in result["content"]
    if provider.tool_ids_kept:
        assert sent_call["id"] == result["id"] == call_id
    else:
        assert result["name"] == "get_weather"
    assert provider.wire.read_turns(body)[0] == ("user", "What's the weather in Paris?")


def test_tool_calling(provider: Provider) -> None:
    provider.server.script(Reply("", tool_calls=[WEATHER_CALL], usage=USAGE), Reply("It is 18 degrees in Paris."))
    model = provider.model().bind_tools([get_weather])
    question = HumanMessage(content="What's the weather in Paris?")
    message = model.invoke([question])
    call_id = _check_call(provider, message.tool_calls)
    assert finish_of(message) in provider.wire.finish_values("tool_calls")
    assert three(message.usage_metadata) == expected(USAGE)
    _check_tools_sent(provider)

    answer = ToolMessage(content=get_weather("Paris"), tool_call_id=call_id)
    final = model.invoke([question, message, answer])
    assert final.content == "It is 18 degrees in Paris."
    _check_tool_result_sent(provider, call_id)


def test_tool_calling_streamed(provider: Provider) -> None:
    provider.server.script(Reply("Let me check.", tool_calls=[WEATHER_CALL], usage=USAGE), Reply("18 degrees."))
    model = provider.model().bind_tools([get_weather])
    question = HumanMessage(content="What's the weather in Paris?")
    chunks = list(model.stream([question]))
    with_calls = [c for c in chunks if c.tool_call_chunks]
    if provider.fragments_tool_args():
        assert len(with_calls) >= 3, "the arguments came in fragments; each should be its own chunk"
    total = add_up(chunks)
    assert total.content == "Let me check."
    call_id = _check_call(provider, total.tool_calls)
    assert total.invalid_tool_calls == []
    assert three(total.usage_metadata) == expected(USAGE)
    _check_tools_sent(provider)

    # The summed chunk goes back into the history as the assistant turn.
    final = model.invoke([question, total, ToolMessage(content=get_weather("Paris"), tool_call_id=call_id)])
    assert final.content == "18 degrees."
    _check_tool_result_sent(provider, call_id)


async def test_tool_calling_astream(provider: Provider) -> None:
    provider.server.script(Reply("", tool_calls=[WEATHER_CALL, ToolCall("get_weather", {"city": "Oslo"}, id="call_W2")]))
    chunks = [c async for c in provider.model().bind_tools([get_weather]).astream("Weather in Paris and Oslo?")]
    total = add_up(chunks)
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("get_weather", {"city": "Paris", "unit": "celsius"}), ("get_weather", {"city": "Oslo"})]
    assert len({c["id"] for c in total.tool_calls}) == 2


@pytest.mark.parametrize("choice", ["auto", "any", "none", "get_weather"])
def test_tool_choice(provider: Provider, choice: str) -> None:
    provider.server.script(Reply("", tool_calls=[WEATHER_CALL]) if choice in ("any", "get_weather") else Reply("No tool."))
    provider.model().bind_tools([get_weather], tool_choice=choice).invoke("What's the weather in Paris?")
    assert provider.wire.read_tool_choice(provider.server.last.body) == choice
    _check_tools_sent(provider)


# -- images -------------------------------------------------------------------------------------------------


def test_image_input(provider: Provider) -> None:
    provider.server.script(Reply("A green pixel."))
    message = HumanMessage(
        content=[
            {"type": "text", "text": "What is in these images?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
        ]
    )
    assert provider.model().invoke([message]).content == "A green pixel."
    body = provider.server.last.body
    assert provider.wire.read_images(body) == [{"mime": "image/png", "data": PNG}] * 2
    assert provider.wire.read_turns(body) == [("user", "What is in these images?")]


# -- retries --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_retry_after_server_error(provider: Provider, mode: str, fast_backoff: None) -> None:
    provider.server.script(Error(500), Reply(list(PIECES)))
    model = provider.model(max_retries=2)
    text = model.invoke("hi").content if mode == "invoke" else "".join(c.content for c in model.stream("hi"))
    assert text == "".join(PIECES)
    assert len(provider.server.requests) == 2
    assert provider.server.requests[0].body == provider.server.requests[1].body


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_retry_honours_retry_after(provider: Provider, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    provider.server.script(Error(429, retry_after="0"), Reply(list(PIECES)))
    # Without the header the first backoff would now be at least 15 s: the margin is wide.
    monkeypatch.setattr("tracer.chat_models._http._MAX_BACKOFF", 60.0)
    monkeypatch.setattr("tracer.chat_models._http.random.uniform", lambda low, high: 40.0)
    model = provider.model(max_retries=1)
    started = time.monotonic()
    text = model.invoke("hi").content if mode == "invoke" else "".join(c.content for c in model.stream("hi"))
    assert text == "".join(PIECES)
    assert len(provider.server.requests) == 2
    assert time.monotonic() - started < 5


async def test_async_retry(provider: Provider) -> None:
    provider.server.script(Error(429, retry_after="0"), Error(503, headers={"retry-after-ms": "1"}), Reply("third time"))
    assert (await provider.model(max_retries=2).ainvoke("hi")).content == "third time"
    assert len(provider.server.requests) == 3


def test_overloaded_is_retried(provider: Provider) -> None:
    provider.server.script(Error(529, "Overloaded (fake 529).", retry_after="0"), Reply("calmer now"))
    assert provider.model(max_retries=1).invoke("hi").content == "calmer now"
    provider.server.script(Error(529, "Overloaded (fake 529).", retry_after="0"))
    with pytest.raises(InternalServerError) as info:
        provider.model(max_retries=0).invoke("hi")
    assert "Overloaded (fake 529)." in str(info.value) and info.value.status_code == 529


def test_retries_exhausted_server_error(provider: Provider, fast_backoff: None) -> None:
    provider.server.script(*[Error(500, "The model melted (fake 500).")] * 2)
    with pytest.raises(InternalServerError) as info:
        provider.model(max_retries=1).invoke("hi")
    assert "The model melted (fake 500)." in str(info.value)
    assert info.value.status_code == 500
    assert len(provider.server.requests) == 2


def test_retries_exhausted_rate_limit(provider: Provider) -> None:
    provider.server.script(*[Error(429, "Slow down (fake 429).", retry_after="0")] * 3)
    with pytest.raises(RateLimitError) as info:
        provider.model(max_retries=2).invoke("hi")
    assert "Slow down (fake 429)." in str(info.value)
    assert info.value.status_code == 429
    assert len(provider.server.requests) == 3


# -- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_authentication_error_is_not_retried(provider: Provider, mode: str) -> None:
    provider.server.script(Error(401, "Invalid credentials (fake 401)."))
    model = provider.model(max_retries=3)
    with pytest.raises(AuthenticationError) as info:
        model.invoke("hi") if mode == "invoke" else list(model.stream("hi"))
    assert "Invalid credentials (fake 401)." in str(info.value)
    assert info.value.status_code == 401
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert len(provider.server.requests) == 1


def test_default_error_bodies_carry_the_providers_words(provider: Provider) -> None:
    """The provider's own default message (from its error body), whatever the status."""
    for status, cls in ((400, BadRequestError), (401, AuthenticationError), (429, RateLimitError), (500, InternalServerError)):
        error = Error(status)
        provider.server.script(error)
        with pytest.raises(cls) as info:
            provider.model(max_retries=0).invoke("hi")
        body = provider.wire.error_body(error)
        words = body.get("error", body).get("message") if isinstance(body.get("error", body), dict) else None
        assert words and words in str(info.value)


def test_bad_request(provider: Provider) -> None:
    provider.server.script(Error(400, "messages: roles must alternate (fake 400)."))
    with pytest.raises(BadRequestError) as info:
        provider.model().invoke("hi")
    assert "messages: roles must alternate (fake 400)." in str(info.value)
    assert info.value.status_code == 400
    assert len(provider.server.requests) == 1
    if provider.wire.name in ("openai", "anthropic"):
        assert info.value.request_id and info.value.request_id.startswith("req_fake")


@pytest.mark.parametrize("asynchronous", [False, True])
def test_dropped_connection_mid_stream(provider: Provider, asynchronous: bool) -> None:
    reply = Reply(list(PIECES))
    provider.server.script(Drop(after_events=first_text_event(provider, reply) + 2, reply=reply))
    model = provider.model(max_retries=2)
    received: list[Any] = []

    async def consume() -> None:
        async for chunk in model.astream("hi"):
            received.append(chunk)

    with pytest.raises(APIConnectionError) as info:
        if asynchronous:
            asyncio.run(consume())
        else:
            for chunk in model.stream("hi"):
                received.append(chunk)
    assert not isinstance(info.value, APITimeoutError)
    assert "".join(c.content for c in received) == "".join(PIECES[:2])
    assert len(provider.server.requests) == 1, "a stream that has started must not be retried"


def test_dropped_connection_is_retried_before_an_answer(provider: Provider, fast_backoff: None) -> None:
    provider.server.script(Drop(), Drop())
    with pytest.raises(APIConnectionError):
        provider.model(max_retries=1).invoke("hi")
    assert len(provider.server.requests) == 2
    provider.server.script(Drop(), Reply("made it"))
    assert provider.model(max_retries=1).invoke("hi").content == "made it"


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_malformed_json(provider: Provider, mode: str) -> None:
    provider.server.script(Malformed())
    model = provider.model()
    with pytest.raises(APIResponseError):
        model.invoke("hi") if mode == "invoke" else list(model.stream("hi"))
    assert len(provider.server.requests) == 1


def test_error_event_inside_a_stream(provider: Provider) -> None:
    reply = Reply(list(PIECES))
    provider.server.script(StreamError(after_events=first_text_event(provider, reply) + 1, status=500, message="The model crashed mid-answer (fake).", reply=reply))
    received: list[Any] = []
    with pytest.raises(ProviderError) as info:
        for chunk in provider.model().stream("hi"):
            received.append(chunk)
    assert "The model crashed mid-answer (fake)." in str(info.value)
    assert isinstance(info.value, InternalServerError)
    assert "".join(c.content for c in received) == PIECES[0]


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_slow_answer_times_out(provider: Provider, mode: str) -> None:
    provider.server.script(Slow(3.0))
    model = provider.model(timeout=0.1, max_retries=0)
    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        model.invoke("hi") if mode == "invoke" else list(model.stream("hi"))
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("asynchronous", [False, True])
def test_stream_that_stalls_times_out(provider: Provider, asynchronous: bool) -> None:
    """A stream that goes quiet for longer than `timeout` after it started is a timeout too."""
    provider.server.script(Reply(list(PIECES), delay=1.0))
    model = provider.model(timeout=0.1, max_retries=2)
    received: list[Any] = []

    async def consume() -> None:
        async for chunk in model.astream("hi"):
            received.append(chunk)

    started = time.monotonic()
    with pytest.raises(APITimeoutError):
        if asynchronous:
            asyncio.run(consume())
        else:
            for chunk in model.stream("hi"):
                received.append(chunk)
    assert time.monotonic() - started < 0.9
    assert len(provider.server.requests) == 1


def test_slow_answer_within_the_timeout(provider: Provider) -> None:
    provider.server.script(Slow(0.05, Reply("patience")))
    assert provider.model(timeout=2.0).invoke("hi").content == "patience"


def test_no_usage_is_unknown_not_zero(provider: Provider) -> None:
    provider.server.script(Reply("no counts", usage=None), Reply(list(PIECES), usage=None))
    model = provider.model()
    assert model.invoke("hi").usage_metadata is None
    total = add_up(list(model.stream("hi")))
    assert total.content == "".join(PIECES)
    assert total.usage_metadata is None


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_usage_details(provider: Provider, mode: str) -> None:
    usage = Usage(input=100, output=40, cached=60, reasoning=25)
    provider.server.script(Reply(list(PIECES), usage=usage))
    model = provider.model()
    message = model.invoke("hi") if mode == "invoke" else add_up(list(model.stream("hi")))
    metadata = message.usage_metadata
    assert three(metadata) == expected(usage)
    if "cache_read" in provider.wire.reports:
        assert metadata["input_token_details"]["cache_read"] == 60
    if "reasoning" in provider.wire.reports:
        assert metadata["output_token_details"]["reasoning"] == 25


# -- the key ----------------------------------------------------------------------------------------------------


def test_key_from_the_environment_and_aliases(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(provider.case.env, "env-" + KEY)
    provider.server.default = Reply("ok")
    provider.cls(model=provider.case.model, base_url=provider.base_url).invoke("hi")
    assert provider.wire.auth_key(provider.server.last.headers) == "env-" + KEY
    if provider.case.alias:
        provider.cls(**{"model": provider.case.model, "base_url": provider.base_url, provider.case.alias: "alias-" + KEY}).invoke("hi")
        assert provider.wire.auth_key(provider.server.last.headers) == "alias-" + KEY


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_key_quoted_by_the_server_is_redacted(provider: Provider, mode: str, tracing: Any, store: Any) -> None:
    """Some servers quote the key they refuse; our exceptions and traces still must not."""
    provider.server.script(Error(401, f"Incorrect API key provided: {KEY}."))
    model = provider.model()
    with pytest.raises(AuthenticationError) as info:
        model.invoke("hi") if mode == "invoke" else list(model.stream("hi"))
    [run] = store().list_runs(project_name="tests")  # flushed before any assertion (see `store`)
    assert "Incorrect API key provided" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert run.status == "error" and KEY not in run.model_dump_json()


def test_key_never_leaks(provider: Provider, tracing: Any, store: Any, isolated_tracer: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    model = provider.model(temperature=0.5)
    for text in (repr(model), str(model), json.dumps(model.model_dump(mode="json"), default=str)):
        assert KEY not in text
    provider.server.script(Reply("fine"), Error(401), Reply(list(PIECES)), Error(400, "refused (fake)"))
    model.invoke("hi")
    with pytest.raises(AuthenticationError) as unauthorized:
        model.invoke("hi")
    list(model.stream("hi"))
    with pytest.raises(BadRequestError) as refused:
        list(model.stream("hi"))
    runs = store().list_runs(project_name="tests")

    for info in (unauthorized, refused):
        assert KEY not in str(info.value) and KEY not in repr(info.value) and KEY not in repr(info.value.body)
    assert len(runs) == 4
    for run in runs:
        assert KEY not in run.model_dump_json()
    for request in provider.server.requests:
        assert provider.wire.auth_key(request.headers) == KEY
        assert KEY not in request.path + json.dumps(request.query) and KEY.encode() not in request.raw
    assert caplog.records and KEY not in caplog.text
    files = [p for p in isolated_tracer.rglob("*") if p.is_file()]
    assert files, "the store wrote nothing"
    for path in files:
        assert KEY.encode() not in path.read_bytes(), f"the key is in {path.name}"


# -- what lands in the store ------------------------------------------------------------------------------------


def test_traced_calls(provider: Provider, tracing: Any, store: Any) -> None:
    provider.server.script(Reply("traced", usage=USAGE), Reply(list(PIECES), usage=USAGE), Reply("", tool_calls=[WEATHER_CALL], usage=USAGE))
    model = provider.model(temperature=0.3, max_tokens=50)
    model.invoke(CONVERSATION, stop=["END"])
    list(model.stream("stream me"))
    model.bind_tools([get_weather]).invoke("weather?")

    runs = sorted(store().list_runs(project_name="tests"), key=lambda r: r.start_time)
    assert len(runs) == 3
    for run in runs:
        assert run.run_type == "llm"
        assert run.status == "success" and run.error is None
        assert run.name == provider.case.cls
        assert run.model_name == provider.case.model
        assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (USAGE.input, USAGE.output, USAGE.total)
        params = run.invocation_params
        assert provider.case.model in (params.get("model"), params.get("model_name"))
        assert params.get("temperature") == 0.3 and params.get("max_tokens") == 50
        assert KEY not in json.dumps(params, default=str)
        assert run.end_time is not None and run.latency is not None and run.latency >= 0

    invoked, streamed, with_tools = runs
    assert invoked.invocation_params.get("stop") == ["END"]
    assert provider.wire.read_params(provider.server.requests[0])["stop"] == ["END"]
    assert invoked.inputs["messages"][0][0]["content"] == "You are a terse arithmetic tutor."
    [[generation]] = invoked.outputs["generations"]
    assert generation["text"] == "traced"
    assert invoked.first_token_time is None

    assert streamed.first_token_time is not None and streamed.start_time <= streamed.first_token_time <= streamed.end_time
    tokens = [e for e in streamed.events if e["name"] == "new_token"]
    assert "".join(e.get("kwargs", {}).get("token", "") for e in tokens) == "".join(PIECES)
    [[generation]] = streamed.outputs["generations"]
    assert generation["text"] == "".join(PIECES)

    [tool] = with_tools.invocation_params["tools"]
    assert tool["function"]["name"] == "get_weather"
    [[generation]] = with_tools.outputs["generations"]
    assert [c["name"] for c in generation["message"]["tool_calls"]] == ["get_weather"]


async def test_traced_async_stream(provider: Provider, tracing: Any, store: Any) -> None:
    provider.server.script(Reply(list(PIECES), usage=USAGE))
    [c async for c in provider.model().astream("async stream")]
    [run] = store().list_runs(project_name="tests")
    assert run.status == "success" and run.first_token_time is not None
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (USAGE.input, USAGE.output, USAGE.total)


def test_traced_errors(provider: Provider, tracing: Any, store: Any) -> None:
    reply = Reply(list(PIECES))
    provider.server.script(Error(400, "refused as written (fake)."), Drop(after_events=first_text_event(provider, reply) + 1, reply=reply))
    model = provider.model(max_retries=0)
    with pytest.raises(BadRequestError):
        model.invoke("hi")
    with pytest.raises(APIConnectionError):
        list(model.stream("hi"))
    runs = sorted(store().list_runs(project_name="tests"), key=lambda r: r.start_time)
    assert [r.status for r in runs] == ["error", "error"]
    assert "refused as written (fake)." in runs[0].error
    assert runs[0].run_type == "llm" and runs[0].model_name == provider.case.model
    assert runs[1].error and runs[1].first_token_time is not None


def test_traced_unknown_usage(provider: Provider, tracing: Any, store: Any) -> None:
    provider.server.script(Reply("no counts", usage=None))
    provider.model().invoke("hi")
    [run] = store().list_runs(project_name="tests")
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (None, None, None)


def test_every_provider_is_covered() -> None:
    """The suite's list matches the providers the package offers."""
    from tracer.chat_models import PROVIDERS

    assert sorted(cls for _, cls in PROVIDERS.values()) == sorted(c.cls for c in CASES)
    for case in CASES:
        assert importlib.util.find_spec(case.module) is not None
