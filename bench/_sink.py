"""A stand-in LangSmith server on 127.0.0.1 that accepts runs, counts them and keeps nothing.

    python bench/_sink.py            # prints "PORT <n>" once listening; stops when stdin closes

`bench/peers.py` starts it as a child process, so its request handling never takes the
measured process's GIL (it still takes a core, as a real local collector would). It answers:

- `GET  [/plain]/info`: the complete `batch_ingest_config` of shared/langsmith-protocol.md §0
  (a partial one makes the client's thread die); under `/plain` zstd is off, so a client
  pointed there sends uncompressed multipart.
- `POST .../runs/multipart`, `/runs/batch`, `/runs`, `/feedback`, `PATCH .../runs/<id>`: 202 `{}`.
- `GET /stats`: requests, bytes, and distinct run ids seen in posts and patches (for checking
  that what the client says it flushed did arrive).
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import zstandard
except ImportError:  # the client then does not compress either
    zstandard = None

_PART = re.compile(rb'name="(?:post|patch)\.([0-9a-f-]{36})"')
_INFO = {
    "version": "0.10.0",
    "license_expiration_time": None,
    "batch_ingest_config": {
        "use_multipart_endpoint": True,
        "size_limit": 100,
        "size_limit_bytes": 20_971_520,
        "scale_up_qsize_trigger": 1000,
        "scale_up_nthreads_limit": 16,
        "scale_down_nempty_trigger": 4,
    },
    "instance_flags": {"zstd_compression_enabled": True},
}
_PLAIN_INFO = {**_INFO, "instance_flags": {"zstd_compression_enabled": False}}

_lock = threading.Lock()
_run_ids: set[bytes] = set()
_stats = {"requests": 0, "bytes": 0, "zstd_requests": 0}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/info"):
            self._reply(200, _PLAIN_INFO if path.startswith("/plain") else _INFO)
        elif path == "/stats":
            with _lock:
                self._reply(200, {**_stats, "runs": len(_run_ids)})
        else:
            self._reply(404, {"detail": "not found"})

    def _ingest(self) -> None:
        body = self._body()
        path = self.path.split("?")[0]
        ids: list[bytes] = []
        zstd = self.headers.get("Content-Encoding", "").lower() == "zstd"
        if zstd and zstandard is not None:
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        if path.endswith("/runs/multipart"):
            ids = _PART.findall(body)
        elif path.endswith("/runs/batch"):
            data = json.loads(body or b"{}")
            ids = [str(run.get("id", "")).encode() for key in ("post", "patch") for run in data.get(key) or []]
        elif "/runs" in path:
            if self.command == "PATCH":
                ids = [path.rstrip("/").rsplit("/", 1)[-1].encode()]
            else:
                ids = [str(json.loads(body or b"{}").get("id", "")).encode()]
        with _lock:
            _stats["requests"] += 1
            _stats["bytes"] += len(body)
            _stats["zstd_requests"] += zstd
            _run_ids.update(ids)
        self._reply(202, {})

    do_POST = _ingest
    do_PATCH = _ingest


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdin.read()  # the parent closes our stdin (or exits) to stop us
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
