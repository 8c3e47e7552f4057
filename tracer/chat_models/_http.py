"""`HTTPChatModel`: what every provider over HTTP shares.

A provider subclass says how to write a request (`_request_body`), read an answer
(`_parse_response`) and read a stream (`_stream_parser`), and how to authenticate
(`_auth_headers`). This class owns the rest: one `httpx.Client` per model and one
`httpx.AsyncClient` per model and event loop, reused across calls; retries with exponential
backoff and jitter on 408/409/429/5xx and on connection errors, honouring `Retry-After`;
server-sent events parsed incrementally (httpx-sse); and errors turned into the
`tracer.errors` tree with the provider's own message. A stream is retried only before its first
event: after that, a broken connection is an `APIConnectionError`, never a silent restart.

Keys are `SecretStr`: not in `repr`, not in the trace (invocation parameters hold no key), not
in error messages (which name the URL without its query string, never headers).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar, Protocol

import httpx
from httpx_sse import SSEError, aconnect_sse, connect_sse
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr

from .._retry import retry_after
from ..errors import APIConnectionError, APIResponseError, APITimeoutError, AuthenticationError, ProviderError, status_error
from ..messages import BaseMessage
from ..outputs import ChatGenerationChunk, ChatResult
from .base import BaseChatModel

__all__ = ["HTTPChatModel", "StreamParser", "RETRY_STATUSES"]

#: Statuses worth another try: timeouts, conflicts, rate limits, server errors.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_MAX_BACKOFF = 8.0
_MAX_RETRY_AFTER = 60.0
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-goog-request-id", "cf-ray")


class StreamParser(Protocol):
    """Turns a provider's server-sent events into chunks; one parser per stream."""

    def feed(self, event: str, data: str) -> list[ChatGenerationChunk]: ...

    def close(self) -> list[ChatGenerationChunk]: ...


class HTTPChatModel(BaseChatModel):
    """A chat model behind an HTTP API. See the module docstring for what it handles."""

    model_config = ConfigDict(populate_by_name=True)

    model_name: str = Field(alias="model")
    api_key: SecretStr | None = None
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    #: Seconds to wait for the provider (connect, read, write each); None waits forever.
    timeout: float | None = 60.0
    #: Further tries after a failure worth retrying (0: try once).
    max_retries: int = 2
    default_headers: dict[str, str] | None = None
    #: Replaces the network, for tests and proxies (httpx transports).
    transport: Any = Field(default=None, exclude=True, repr=False)
    async_transport: Any = Field(default=None, exclude=True, repr=False)

    #: The provider's name in traces, errors and the price table.
    provider: ClassVar[str] = "http"
    default_base_url: ClassVar[str] = ""
    #: Environment variables that may hold the key, in order.
    api_key_env: ClassVar[tuple[str, ...]] = ()

    _client: httpx.Client | None = PrivateAttr(default=None)
    _async_clients: Any = PrivateAttr(default_factory=weakref.WeakKeyDictionary)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def model_post_init(self, context: Any) -> None:
        if self.api_key is None:
            for name in self.api_key_env:
                if os.environ.get(name):
                    self.api_key = SecretStr(os.environ[name])
                    break

    # -- what a provider writes ------------------------------------------------------------------

    def _auth_headers(self, key: str) -> dict[str, str]:
        raise NotImplementedError

    def _request_path(self, stream: bool) -> str:
        raise NotImplementedError

    def _request_body(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any], stream: bool) -> dict[str, Any]:
        raise NotImplementedError

    def _parse_response(self, data: Any) -> ChatResult:
        raise NotImplementedError

    def _stream_parser(self) -> StreamParser:
        raise NotImplementedError

    def _error_message(self, body: Any, text: str) -> str:
        """The provider's own words from an error body (`{"error": {"message": ...}}` for most)."""
        if isinstance(body, dict):
            error = body.get("error", body)
            if isinstance(error, dict) and error.get("message"):
                return str(error["message"])
            if isinstance(error, str):
                return error
            if body.get("message"):
                return str(body["message"])
        return text[:500] or "no error message"

    # -- identity in traces ----------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return f"{self.provider}-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"provider": self.provider, "model_name": self.model_name}
        for name in ("temperature", "max_tokens", "stop"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.base_url:
            params["base_url"] = self.base_url
        return params

    def _run_metadata(self) -> dict[str, Any] | None:
        # LangSmith's names, so runs sent there are recognized as this provider's.
        return {**(self.metadata or {}), "ls_provider": self.provider, "ls_model_name": self.model_name, "ls_model_type": "chat"}

    # -- the calls ---------------------------------------------------------------------------------

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        body = self._request_body(messages, stop, kwargs, stream=False)
        return self._parse(self._send(self._request_path(False), body))

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        body = self._request_body(messages, stop, kwargs, stream=False)
        return self._parse(await self._asend(self._request_path(False), body))

    def _parse(self, data: Any) -> ChatResult:
        try:
            return self._parse_response(data)
        except ProviderError as exc:  # an error object inside a 200 answer
            raise self._scrub(exc) from exc.__cause__

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        body = self._request_body(messages, stop, kwargs, stream=True)
        parser = self._stream_parser()
        for event, data in self._send_stream(self._request_path(True), body):
            yield from self._feed(parser, event, data)
        yield from parser.close()

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        body = self._request_body(messages, stop, kwargs, stream=True)
        parser = self._stream_parser()
        async for event, data in self._asend_stream(self._request_path(True), body):
            for chunk in self._feed(parser, event, data):
                yield chunk
        for chunk in parser.close():
            yield chunk

    def _feed(self, parser: StreamParser, event: str, data: str) -> list[ChatGenerationChunk]:
        try:
            return parser.feed(event, data)
        except ProviderError as exc:  # an error event in the stream
            raise self._scrub(exc) from exc.__cause__
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise APIResponseError(f"Could not read a streamed event from {self.provider} ({exc!r}): {data[:200]!r}", provider=self.provider) from exc

    # -- HTTP --------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return (self.base_url or self.default_base_url).rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json", **(self.default_headers or {})}
        if self.api_key is not None and self.api_key.get_secret_value():
            headers.update(self._auth_headers(self.api_key.get_secret_value()))
        elif not self.base_url:
            names = " or ".join(self.api_key_env) or "an API key"
            raise AuthenticationError(f"No API key for {self.provider}: set {names}, or pass api_key=...", provider=self.provider, status_code=401)
        return headers

    def _stream_headers(self) -> dict[str, str]:
        # httpx-sse asks for `text/event-stream` itself.
        return {k: v for k, v in self._headers().items() if k != "accept"}

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout)

    def _sync_client(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(timeout=self._timeout(), transport=self.transport)
        return self._client

    def _async_client(self) -> httpx.AsyncClient:
        # An AsyncClient's connections belong to the loop that made them: one client per loop.
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = httpx.AsyncClient(timeout=self._timeout(), transport=self.async_transport)
        return client

    def _describe(self, url: str) -> str:
        return url.split("?", 1)[0]

    def _status_error(self, response: httpx.Response, text: str) -> ProviderError:
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = None
        request_id = next((response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None)
        error = status_error(response.status_code, self._error_message(body, text), provider=self.provider, body=body, request_id=request_id)
        return self._scrub(error)

    def _redact(self, text: str) -> str:
        """`text` without the key, should an answer quote it (some servers echo it back)."""
        key = self.api_key.get_secret_value() if self.api_key is not None else ""
        return text.replace(key, "***") if key and key in text else text

    def _scrub(self, error: ProviderError) -> ProviderError:
        """The error with the key taken out of its message and body."""
        key = self.api_key.get_secret_value() if self.api_key is not None else ""
        if not key:
            return error
        error.message = self._redact(error.message)
        error.args = tuple(self._redact(a) if isinstance(a, str) else a for a in error.args)
        body = getattr(error, "body", None)
        if body is not None and key in json.dumps(body, default=str):
            error.body = json.loads(self._redact(json.dumps(body, default=str)))  # type: ignore[attr-defined]
        return error

    def _connection_error(self, exc: httpx.TransportError, url: str) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"{self.provider} did not answer within {self.timeout} s ({self._describe(url)})", provider=self.provider)
        return APIConnectionError(f"Could not reach {self.provider} at {self._describe(url)}: {exc.__class__.__name__}", provider=self.provider)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise APIResponseError(f"{self.provider} answered with malformed JSON: {response.text[:200]!r}", provider=self.provider) from exc

    def _delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before try `attempt + 1`, or None to give up."""
        if attempt >= self.max_retries:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            after = retry_after(response.headers)
            if after is not None:
                return after if after <= _MAX_RETRY_AFTER else None
        return min(_MAX_BACKOFF, 0.5 * 2**attempt) * random.uniform(0.75, 1.0)

    def _send(self, path: str, body: dict[str, Any]) -> Any:
        url, headers = self._url(path), self._headers()
        attempt = 0
        while True:
            try:
                response = self._sync_client().post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                delay = self._delay(attempt, None)
                if delay is None:
                    raise self._connection_error(exc, url) from exc
            else:
                if response.is_success:
                    return self._json(response)
                delay = self._delay(attempt, response)
                if delay is None:
                    raise self._status_error(response, response.text)
            time.sleep(delay)
            attempt += 1

    async def _asend(self, path: str, body: dict[str, Any]) -> Any:
        url, headers = self._url(path), self._headers()
        attempt = 0
        while True:
            try:
                response = await self._async_client().post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                delay = self._delay(attempt, None)
                if delay is None:
                    raise self._connection_error(exc, url) from exc
            else:
                if response.is_success:
                    return self._json(response)
                delay = self._delay(attempt, response)
                if delay is None:
                    raise self._status_error(response, response.text)
            await asyncio.sleep(delay)
            attempt += 1

    def _send_stream(self, path: str, body: dict[str, Any]) -> Iterator[tuple[str, str]]:
        """(event, data) of each server-sent event; retried until the first one arrives."""
        url, headers = self._url(path), self._stream_headers()
        attempt = 0
        while True:
            started = False
            try:
                with connect_sse(self._sync_client(), "POST", url, json=body, headers=headers) as source:
                    response = source.response
                    if not response.is_success:
                        response.read()
                        delay = self._delay(attempt, response)
                        if delay is None:
                            raise self._status_error(response, response.text)
                    else:
                        for sse in source.iter_sse():
                            started = True
                            yield sse.event, sse.data
                        return
            except httpx.TransportError as exc:
                delay = None if started else self._delay(attempt, None)
                if delay is None:
                    raise self._stream_broken(exc, url, started) from exc
            except SSEError as exc:
                raise APIResponseError(f"{self.provider} did not answer with an event stream: {exc}", provider=self.provider) from exc
            time.sleep(delay)
            attempt += 1

    async def _asend_stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[tuple[str, str]]:
        url, headers = self._url(path), self._stream_headers()
        attempt = 0
        while True:
            started = False
            try:
                async with aconnect_sse(self._async_client(), "POST", url, json=body, headers=headers) as source:
                    response = source.response
                    if not response.is_success:
                        await response.aread()
                        delay = self._delay(attempt, response)
                        if delay is None:
                            raise self._status_error(response, response.text)
                    else:
                        async for sse in source.aiter_sse():
                            started = True
                            yield sse.event, sse.data
                        return
            except httpx.TransportError as exc:
                delay = None if started else self._delay(attempt, None)
                if delay is None:
                    raise self._stream_broken(exc, url, started) from exc
            except SSEError as exc:
                raise APIResponseError(f"{self.provider} did not answer with an event stream: {exc}", provider=self.provider) from exc
            await asyncio.sleep(delay)
            attempt += 1

    def _stream_broken(self, exc: httpx.TransportError, url: str, started: bool) -> ProviderError:
        if not started or isinstance(exc, httpx.TimeoutException):
            return self._connection_error(exc, url)
        return APIConnectionError(f"The connection to {self.provider} broke in the middle of a stream ({exc.__class__.__name__}, {self._describe(url)})", provider=self.provider)

    def close(self) -> None:
        """Close the HTTP connections (they are also closed when the model is collected)."""
        if self._client is not None:
            self._client.close()
            self._client = None
