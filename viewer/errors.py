"""What the viewer answers when a request cannot be served: one sentence, as a page or as JSON.

    ViewerError          an HTTP-aware error a view raises on purpose (status + one sentence)
     ├── BadRequest      400: a bad parameter, a bad form
     ├── Unauthorized    401: no API key and no logged-in session
     ├── Forbidden       403: a bad CSRF token, a Host this server does not answer to
     └── NotFound        404: no such project, run or trace

Besides these, one handler turns `tracer.store.NotFound` into a 404, a `ValueError` raised by a
view (a bad filter value from `RunFilter.from_query`, say) into a 400, werkzeug's HTTP errors
(404 for an unknown URL, 405, 413, ...) into the same page, and any other exception into a 500
whose traceback is logged and never shown. A client that prefers JSON (or sends `x-api-key`)
gets `{"error": {"status": 404, "message": "..."}}` instead of `error.html`.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, InternalServerError

__all__ = ["ViewerError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "init_app", "wants_json", "error_response"]

log = logging.getLogger("viewer")

# One sentence per status, for errors raised without a message of their own.
SENTENCES: dict[int, str] = {
    400: "The request is not valid.",
    401: "This viewer needs an API key: log in, or send it in the x-api-key header.",
    403: "You are not allowed to do that.",
    404: "There is nothing at this address.",
    405: "This address does not accept that kind of request.",
    413: "The request is too large.",
    500: "Something went wrong on the server; the error was logged.",
}

TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Log in needed",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    500: "Server error",
}


class ViewerError(Exception):
    """An error with an HTTP status and one sentence for the person who made the request."""

    status = 500

    def __init__(self, message: str | None = None, *, status: int | None = None) -> None:
        if status is not None:
            self.status = status
        self.message = message or SENTENCES.get(self.status, "The request failed.")
        super().__init__(self.message)


class BadRequest(ViewerError):
    """400: a parameter or form field is not valid."""

    status = 400


class Unauthorized(ViewerError):
    """401: the request needs the API key (a session, or the x-api-key header)."""

    status = 401


class Forbidden(ViewerError):
    """403: the request is refused (a bad CSRF token, a Host that is not ours)."""

    status = 403


class NotFound(ViewerError):
    """404: no such project, run or trace."""

    status = 404


def wants_json() -> bool:
    """True for API clients: they prefer JSON to HTML, send `x-api-key`, or call `/api/` or the
    LangSmith routes (`/langsmith/`)."""
    if request.path.startswith(("/api/", "/langsmith/")) or "x-api-key" in request.headers:
        return True
    return request.accept_mimetypes.best_match(("text/html", "application/json")) == "application/json"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:500]


def error_response(
    status: int, message: str | None = None, headers: dict[str, str] | None = None, *, position: int | None = None
) -> Response:
    """The error page (or JSON body) for `status` with one sentence; `position` is where in a
    filter the problem is (JSON only: the runs page shows it beside the filter itself)."""
    sentence = message or SENTENCES.get(status, "The request failed.")
    if wants_json():
        error: dict[str, Any] = {"status": status, "message": sentence}
        if position is not None:
            error["position"] = position
        response = jsonify({"error": error})
    else:
        title = TITLES.get(status, "Error")
        try:
            body = render_template("error.html", status=status, title=title, message=sentence)
        except Exception:  # a broken template must not hide the error it was to show
            log.exception("error.html could not be rendered")
            body = f"<!doctype html><title>{status} {escape(title)}</title><p>{escape(sentence)}</p>"
        response = Response(body, mimetype="text/html")
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if status < 400:  # redirects raised as exceptions pass through untouched
        return exc
    custom = exc.description if exc.description != type(exc).description else None
    if status == 405:
        custom = f"This address does not accept a {request.method} request."
    headers = {name: value for name, value in exc.get_headers() if name.lower() == "allow"}
    if status >= 500:
        custom = None  # never show a server error's own text
    return error_response(status, custom, headers)


def _viewer_error(exc: ViewerError) -> Response:
    return error_response(exc.status, exc.message)


def _not_found(exc: Exception) -> Response:
    return error_response(404, _first_line(str(exc)) or None)


def _value_error(exc: ValueError) -> Response:
    position = getattr(exc, "position", None)  # a FilterError's
    return error_response(400, _first_line(str(exc)) or None, position=position if isinstance(position, int) else None)


def _server_error(exc: InternalServerError) -> Response:
    # Flask has logged the original exception before calling this handler.
    return error_response(500)


def init_app(app: Flask) -> None:
    """Register the handlers on `app`."""
    from tracer.store import NotFound as StoreNotFound

    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ViewerError, _viewer_error)
    app.register_error_handler(StoreNotFound, _not_found)
    app.register_error_handler(ValueError, _value_error)
    app.register_error_handler(InternalServerError, _server_error)
