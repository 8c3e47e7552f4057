"""Fake chat-model providers for tests: a real local HTTP server speaking each provider's wire format.

    from fakeproviders import Reply, Error, Usage, fake_provider  # the fixture, imported into a test module

    def test_something(fake_provider):
        fake_provider.script(Reply("Hi!", usage=Usage(5, 2)))
        model = ChatOpenAI(model="gpt-4o-mini", api_key="sk-test", base_url=f"{fake_provider.url}/v1")
        assert model.invoke("hello").content == "Hi!"
        assert fake_provider.last.body["messages"] == [{"role": "user", "content": "hello"}]

See `server.py` for the script items and `*_wire.py` for what each format sends and checks.
"""

from .anthropic_wire import AnthropicWire
from .gemini_wire import GeminiWire
from .openai_wire import OpenAIWire
from .server import Drop, Error, FakeProviderServer, Malformed, Reply, Request, Slow, StreamError, ToolCall, Usage, fake_provider

__all__ = [
    "AnthropicWire",
    "Drop",
    "Error",
    "FakeProviderServer",
    "GeminiWire",
    "Malformed",
    "OpenAIWire",
    "Reply",
    "Request",
    "Slow",
    "StreamError",
    "ToolCall",
    "Usage",
    "fake_provider",
]
