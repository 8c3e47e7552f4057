"""The LangSmith protocol, so the official `langsmith` client and LangChain apps can send to and
read from this server with `LANGCHAIN_ENDPOINT=http://127.0.0.1:5055` (see
../shared/langsmith-protocol.md for what the client sends and expects).

Every LangSmith route is served under `/langsmith` (`LANGCHAIN_ENDPOINT=http://host:port/langsmith`
works too); `dispatch.py` routes the client's requests at the root there, leaving a browser's
pages alone where the paths meet (`/runs/<id>`, `/datasets`):

    viewer.langsmith.ingest    /info, /runs/multipart, /runs/batch, POST /runs, PATCH /runs/<id>
    viewer.langsmith.compat    /sessions, /feedback, /datasets, /examples, GET /runs/<id>, /runs/query
    viewer.langsmith.dispatch  the root-path routing (WSGI middleware)
"""

from __future__ import annotations

import importlib

from flask import Flask

__all__ = ["PREFIX", "init_app"]

PREFIX = "/langsmith"
_PARTS = ("ingest", "compat")


def init_app(app: Flask) -> None:
    """Register the parts that are installed, then route the client's root paths to them."""
    for name in _PARTS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.init_app(app)
    try:
        from .dispatch import install
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.dispatch":
            raise
    else:
        install(app)
