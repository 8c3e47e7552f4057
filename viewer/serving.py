"""A viewer served from a background thread: for programs that embed it, scripts and tests.

`tracer ui` serves in the foreground (`tracer.cli`); this is the same werkzeug server on a
thread, on a free port by default, whose `close()` stops it and closes the app (its workers,
then its store).

    with BackgroundServer(create_app()) as server:
        httpx.get(server.url + "/api/v1/projects")
"""

from __future__ import annotations

import threading
from types import TracebackType

from flask import Flask
from werkzeug.serving import make_server

from . import close_app

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """`app` served on `host`:`port` (0: a free port) by a threaded werkzeug server."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._httpd = make_server(host, port, app, threaded=True)
        self.port = self._httpd.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=lambda: self._httpd.serve_forever(poll_interval=0.05), name="viewer-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving (requests in flight finish), then close the app (`viewer.close_app`)."""
        self._httpd.shutdown()
        self._thread.join(5)
        self._httpd.server_close()
        close_app(self.app)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None) -> None:
        self.close()
