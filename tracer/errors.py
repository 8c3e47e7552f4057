"""What chat-tracer raises into user code: failures of the providers it calls for you.

    TracerError
     ├── StoreError                  the run store (tracer.store); NotFound below it
     └── ProviderError               a chat-model provider call failed
          ├── APIConnectionError     no HTTP answer: refused, reset, dropped mid-stream
          │    └── APITimeoutError   no answer within `timeout`
          ├── APIResponseError       an answer that cannot be read (malformed JSON or SSE)
          └── APIStatusError         an error status, with the provider's own message
               ├── BadRequestError        400, 422
               ├── AuthenticationError    401
               ├── PermissionDeniedError  403
               ├── NotFoundError          404
               ├── RateLimitError         429
               └── InternalServerError    500 and above (Anthropic's 529 "overloaded" too)

Messages carry the provider's words and the status, never a key: requests are described by
method and URL without query strings (Gemini can take its key there) and without headers.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TracerError",
    "ProviderError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "InternalServerError",
    "status_error",
]


class TracerError(Exception):
    """Anything chat-tracer itself raises."""


class ProviderError(TracerError):
    """A call to a chat-model provider failed."""

    def __init__(self, message: str, *, provider: str) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider


class APIConnectionError(ProviderError):
    """The provider could not be reached, or the connection broke before the answer ended."""


class APITimeoutError(APIConnectionError):
    """The provider did not answer within the timeout."""


class APIResponseError(ProviderError):
    """The provider's answer could not be read (malformed JSON or event stream)."""


class APIStatusError(ProviderError):
    """The provider answered with an error status."""

    def __init__(self, message: str, *, provider: str, status_code: int, body: Any = None, request_id: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.status_code = status_code
        self.body = body
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.provider} answered {self.status_code}: {self.message}" + (f" (request {self.request_id})" if self.request_id else "")


class BadRequestError(APIStatusError):
    """400 or 422: the request was refused as it was written."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such model or endpoint."""


class RateLimitError(APIStatusError):
    """429: too many requests (retried first, honouring Retry-After)."""


class InternalServerError(APIStatusError):
    """500 and above: the provider failed (retried first)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def status_error(status_code: int, message: str, *, provider: str, body: Any = None, request_id: str | None = None) -> APIStatusError:
    """The exception for an error status."""
    cls = _BY_STATUS.get(status_code) or (InternalServerError if status_code >= 500 else APIStatusError)
    return cls(message, provider=provider, status_code=status_code, body=body, request_id=request_id)
