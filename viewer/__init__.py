"""The local web viewer and HTTP API (Flask).

`create_app(store_url)` builds the app: it opens the store once (views reach it through
`get_store()`), installs the security checks (`viewer.security`) and the error pages
(`viewer.errors`), and registers the blueprints of the areas that are installed:

    viewer.pages      projects, runs, trace, run and compare pages
    viewer.feedback   feedback posted from the browser
    viewer.live       server-sent events for runs in progress
    viewer.api        the JSON API under /api/v1 and its OpenAPI document
    viewer.datasets   dataset pages: examples, editing, adding runs, downloads
    viewer.review     the review queue and the feedback keys' settings
    viewer.langsmith  the LangSmith protocol: ingestion and what the official client reads

Each area module either defines `init_app(app)` or a blueprint named `bp`. `tracer ui` serves
the app with werkzeug; tests drive it through Flask's test client or a real server.
"""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any
from urllib.parse import quote

from flask import Flask, current_app

from tracer.store import Store

__all__ = ["create_app", "get_store", "path_segment", "on_close", "close_app", "AREAS"]

AREAS = ("pages", "feedback", "live", "api", "datasets", "review", "langsmith")
STORE_EXTENSION = "tracer_store"
CLOSERS_EXTENSION = "tracer_closers"


def create_app(
    store_url: str | None = None,
    *,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    test_config: Mapping[str, Any] | None = None,
) -> Flask:
    """The viewer over the store at `store_url` (default: the settings' store).

    `host` is the address the server binds: any address but loopback requires an API key,
    `api_key` or `TRACER_API_KEY`, or else one is generated (`app.config["TRACER_API_KEY"]`,
    with `TRACER_API_KEY_GENERATED` true, for `tracer ui` to print). `test_config` overrides
    the configuration; `TRACER_STORE` in it is an open `Store` to use instead of opening one.
    """
    from . import errors, security

    app = Flask(__name__)
    key = api_key or os.environ.get("TRACER_API_KEY") or None
    generated = False
    if key is None and security.needs_key(host):
        key, generated = secrets.token_urlsafe(24), True
    app.config.from_mapping(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_NAME="tracer_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        TRACER_HOST=host,
        TRACER_API_KEY=key,
        TRACER_API_KEY_GENERATED=generated,
    )
    if test_config:
        app.config.update(test_config)
    store = app.config.pop("TRACER_STORE", None)
    if store is None:
        from tracer import get_settings
        from tracer.store import open_store

        store = open_store(store_url or get_settings().store_url)
    app.extensions[STORE_EXTENSION] = store

    app.add_template_filter(path_segment)
    errors.init_app(app)
    security.init_app(app)
    for module in _areas():
        init = getattr(module, "init_app", None)
        if init is not None:
            init(app)
        else:
            app.register_blueprint(module.bp)
    return app


def _areas() -> list[ModuleType]:
    """The area modules that are installed (each may still be missing while it is built)."""
    found = []
    for name in AREAS:
        qualified = f"{__name__}.{name}"
        try:
            found.append(importlib.import_module(qualified))
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise  # the module is there but imports something missing: a real error
    return found


def on_close(app: Flask, closer: Callable[[], object]) -> None:
    """Run `closer` when the app is closed (`close_app`), before its store closes: a background
    worker finishes what it accepted."""
    app.extensions.setdefault(CLOSERS_EXTENSION, []).append(closer)


def close_app(app: Flask) -> None:
    """Stop the app's workers (newest first), then close its store: when a server stops."""
    for closer in reversed(app.extensions.pop(CLOSERS_EXTENSION, [])):
        closer()
    app.extensions[STORE_EXTENSION].close()


def path_segment(value: object) -> str:
    """`value` quoted to be one segment of a URL path ("a/b c" -> "a%2Fb%20c")."""
    return quote(str(value), safe="")


def get_store() -> Store:
    """The store of the app handling the current request."""
    return current_app.extensions[STORE_EXTENSION]  # type: ignore[no-any-return]
