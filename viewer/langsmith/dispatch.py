"""The LangSmith client at the root: `LANGCHAIN_ENDPOINT=http://127.0.0.1:PORT` makes it call
`/runs/multipart`, `/sessions`, `/datasets`..., and those requests are served by the routes
under `PREFIX` (`/langsmith`), while the viewer keeps its own pages at the same root.

A WSGI middleware rewrites `PATH_INFO` to `PREFIX + path` for exactly LangSmith's shapes
(`_ROUTES`: a method and a path, `<id>` being a UUID) and nothing else, so the viewer's form
posts (`POST /runs/<id>/feedback`, `POST /feedback/<id>`, `POST /runs/add-to-dataset`,
`/datasets/<name>/...`) never match. Three shapes are also viewer pages, and there the request
decides:

    GET /runs/<id>, GET /datasets, GET /datasets/<id>
        LangSmith when the request prefers JSON to HTML (the client sends
        `Accept: application/json`; a browser's navigation and the viewer's own fetches ask
        for text/html, and a request without Accept, or with */*, gets the page)
    POST /datasets
        LangSmith when the body is JSON (the viewer's form is url-encoded or multipart)

Everything else in `_ROUTES` goes to LangSmith's routes whatever it accepts: the viewer has no
page there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from . import PREFIX

__all__ = ["install", "LangSmithDispatch", "wants_langsmith"]

_ID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GET = frozenset({"GET", "HEAD"})
# A route's condition: always LangSmith's, or only when the request is not for a page.
_ALWAYS, _JSON_ACCEPT, _JSON_BODY = "always", "json-accept", "json-body"

_ROUTES: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = tuple(
    (frozenset(methods), re.compile(pattern), condition)
    for methods, pattern, condition in (
        (_GET, "/info", _ALWAYS),
        ({"POST"}, "/runs", _ALWAYS),
        ({"POST"}, "/runs/(?:multipart|batch|query)", _ALWAYS),
        ({"PATCH"}, f"/runs/{_ID}", _ALWAYS),
        (_GET, f"/runs/{_ID}", _JSON_ACCEPT),
        (_GET | {"POST"}, "/sessions", _ALWAYS),
        (_GET | {"PATCH", "DELETE"}, f"/sessions/{_ID}", _ALWAYS),
        (_GET | {"POST"}, "/feedback", _ALWAYS),
        (_GET | {"PATCH", "DELETE"}, f"/feedback/{_ID}", _ALWAYS),
        (_GET, "/datasets", _JSON_ACCEPT),
        ({"POST"}, "/datasets", _JSON_BODY),
        (_GET, f"/datasets/{_ID}", _JSON_ACCEPT),
        ({"PATCH", "DELETE"}, f"/datasets/{_ID}", _ALWAYS),
        (_GET | {"POST"}, "/examples", _ALWAYS),
        ({"POST", "PATCH"}, "/examples/bulk", _ALWAYS),
        (_GET | {"PATCH", "DELETE"}, f"/examples/{_ID}", _ALWAYS),
    )
)


def _prefers_json(environ: dict[str, Any]) -> bool:
    accept = parse_accept_header(environ.get("HTTP_ACCEPT"), MIMEAccept)
    return accept.best_match(("text/html", "application/json")) == "application/json"


def _json_body(environ: dict[str, Any]) -> bool:
    mimetype, _options = parse_options_header(environ.get("CONTENT_TYPE"))
    return mimetype == "application/json" or mimetype.endswith("+json")


_CONDITIONS: dict[str, Callable[[dict[str, Any]], bool]] = {
    _ALWAYS: lambda _environ: True,
    _JSON_ACCEPT: _prefers_json,
    _JSON_BODY: _json_body,
}


def wants_langsmith(method: str, path: str, environ: dict[str, Any]) -> bool:
    """Whether a request at the root is the LangSmith client's (see the module docstring)."""
    return any(
        method in methods and pattern.fullmatch(path) is not None and _CONDITIONS[condition](environ)
        for methods, pattern, condition in _ROUTES
    )


class LangSmithDispatch:
    """WSGI middleware: LangSmith's requests at the root go to `PREFIX + path`."""

    def __init__(self, app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if wants_langsmith(environ.get("REQUEST_METHOD", "GET"), path, environ):
            environ["PATH_INFO"] = PREFIX + path
        return self.app(environ, start_response)


def install(app: Flask) -> None:
    """Put the middleware in front of `app`'s WSGI application."""
    app.wsgi_app = LangSmithDispatch(app.wsgi_app)  # type: ignore[method-assign]
