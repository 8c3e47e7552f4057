"""LangSmith ingestion: what the official client sends its runs to (protocol §0, §3, §4, §8, §9).

    GET   /info            the server's capabilities: batch sizes, multipart, zstd
    POST  /runs/multipart  parts post.<id>[.<field>], patch.<id>[.<field>], attachment.<id>.<name>,
                           feedback.<id>; zstd-compressed (Content-Encoding: zstd) or not
    POST  /runs/batch      JSON {"post": [...], "patch": [...]}
    POST  /runs            one run (legacy); PATCH /runs/<id>: one update (legacy)

Every request is checked whole before anything is stored: the body is read (and decompressed)
up to a cap, every part parsed and JSON-decoded, every run id checked and every op mapped with
`tracer.langsmith_wire.to_doc`. A fault anywhere is a 4xx `{"error": {"status", "message"}}`
naming the part, and nothing of the request is written. A good request is queued
(`viewer.langsmith.queue`) and answered 202 at once; a full queue is a 429 with Retry-After.
Within a request posts are applied before patches (a patch that came with its post is folded
into it); requests in the order they were accepted. A patch without `start_time` whose run is
neither in the request nor stored (once the queue has drained) is a 404: it could never be stored.
`drain(app)` waits until everything accepted is stored (tests use it instead of sleeping).

Attachments are files named by their SHA-256 under `TRACER_ATTACHMENTS_DIR` (default
`<tracer home>/attachments`); the run keeps only `extra.attachments`: `{name: {mime_type, size,
sha256}}`, never the bytes.

Configuration (`app.config`): `TRACER_LANGSMITH_MODE` is what /info advertises: "multipart_zstd"
(default), "multipart" or "batch" (JSON). `TRACER_INGEST_SIZE_LIMIT_BYTES` (20 MiB) is the
advertised `size_limit_bytes`; a body may be 4 times that (the client sends a batch once it has
passed the limit, and it can grow past it before the sender wakes), decompressed; more is a
413. `TRACER_INGEST_QUEUE_BYTES` (256 MiB) bounds the bytes waiting to be stored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic_core
import zstandard
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from tracer import langsmith_wire
from tracer.store import NotFound as StoreNotFound
from tracer.store import Store
from tracer.store import ingest as store_ingest

from .. import STORE_EXTENSION, on_close
from ..errors import BadRequest, ViewerError, error_response
from ..security import csrf_exempt
from . import PREFIX
from .multipart import MultipartError, Parser, Part, boundary_of
from .queue import Apply, Batch, IngestQueue

__all__ = ["init_app", "drain", "info_body", "attachment_file", "bp"]

bp = Blueprint("langsmith_ingest", __name__, url_prefix=PREFIX)

QUEUE_EXTENSION = "tracer_langsmith_ingest"
MODES = ("multipart_zstd", "multipart", "batch")
RUN_FIELDS = frozenset({"inputs", "outputs", "events", "extra", "error", "serialized"})
VERSION = "0.16.0"  # >= 0.8.10: feedback in multipart; >= 0.16.0: no warning on client.runs & co.
BODY_CAP_FACTOR = 4
CHUNK = 256 * 1024
CLOSE_TIMEOUT = 60.0
KNOWN_CHECK_TIMEOUT = 5.0  # well under the client's 10 s read timeout
RETRY_AFTER_SECONDS = 1


# --- /info -----------------------------------------------------------------------------------


def info_body(mode: str, size_limit_bytes: int) -> dict[str, Any]:
    """The /info answer for `mode`: every batch_ingest_config key the client requires."""
    if mode not in MODES:
        raise ValueError(f"TRACER_LANGSMITH_MODE must be one of {', '.join(MODES)}, not {mode!r}")
    return {
        "version": VERSION,
        "license_expiration_time": None,
        "batch_ingest_config": {
            "use_multipart_endpoint": mode != "batch",
            "size_limit": 100,
            "size_limit_bytes": size_limit_bytes,
            "scale_up_qsize_trigger": 1000,
            "scale_up_nthreads_limit": 16,
            "scale_down_nempty_trigger": 4,
        },
        "instance_flags": {"zstd_compression_enabled": mode == "multipart_zstd"},
    }


@bp.get("/info")
def info() -> Response:
    return jsonify(info_body(current_app.config["TRACER_LANGSMITH_MODE"], current_app.config["TRACER_INGEST_SIZE_LIMIT_BYTES"]))


# --- the endpoints ---------------------------------------------------------------------------


@bp.post("/runs/multipart")
@csrf_exempt
def runs_multipart() -> Response:
    try:
        parser = Parser(boundary_of(request.headers.get("Content-Type")))
        parts: list[Part] = []
        size = 0
        for chunk in _body_chunks():
            size += len(chunk)
            parts.extend(parser.feed(chunk))
        parser.finish()
    except MultipartError as exc:
        raise BadRequest(str(exc)) from None
    return _accept(_batch_from_parts(parts, size))


@bp.post("/runs/batch")
@csrf_exempt
def runs_batch() -> Response:
    body, size = _json_body()
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object {\"post\": [...], \"patch\": [...]}.")
    unknown = sorted(set(body) - {"post", "patch"})
    if unknown:
        raise BadRequest(f"Unknown key {unknown[0]!r} in the batch: only post and patch are accepted.")
    runs = []
    for kind in ("post", "patch"):  # posts first: a run's patch never precedes its post
        ops = body.get(kind) or []
        if not isinstance(ops, list):
            raise BadRequest(f"{kind} must be a list of runs.")
        runs.extend(_json_run(op, f"{kind}[{index}]") for index, op in enumerate(ops))
    return _accept(Batch(runs=runs, size=size))


@bp.post("/runs")
@csrf_exempt
def create_run() -> Response:
    body, size = _json_body()
    return _accept(Batch(runs=[_json_run(body, "the run")], size=size))


@bp.patch("/runs/<run_id>")
@csrf_exempt
def update_run(run_id: str) -> Response:
    body, size = _json_body()
    return _accept(Batch(runs=[_json_run(body, "the update", _run_id(run_id, "the URL"))], size=size))


@bp.errorhandler(ViewerError)
def _error(exc: ViewerError) -> Response:
    """A 429 says when to retry (the client's urllib3 honours Retry-After)."""
    return error_response(exc.status, exc.message, {"Retry-After": str(RETRY_AFTER_SECONDS)} if exc.status == 429 else None)


# --- reading the body ------------------------------------------------------------------------


def _body_cap() -> int:
    return int(current_app.config["TRACER_INGEST_SIZE_LIMIT_BYTES"]) * BODY_CAP_FACTOR


def _too_large(cap: int) -> ViewerError:
    return ViewerError(f"The body is larger than this server takes ({cap} bytes, decompressed); send smaller batches.", status=413)


def _body_chunks() -> Iterator[bytes]:
    """The body in chunks, decompressed as its Content-Encoding says, never more than the cap."""
    cap = _body_cap()
    if request.content_length is not None and request.content_length > cap:
        raise _too_large(cap)
    request.max_content_length = cap
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "zstd"):
        raise ViewerError(f"Content-Encoding {encoding!r} is not supported: send zstd or no encoding.", status=415)
    total = 0
    try:
        stream = request.stream
        if encoding == "zstd":
            # No content size in the client's frame header: decompress as a stream (§4.1).
            stream = zstandard.ZstdDecompressor().stream_reader(stream, read_size=CHUNK, read_across_frames=True)
        while chunk := stream.read(CHUNK):
            total += len(chunk)
            if total > cap:
                raise _too_large(cap)
            yield chunk
    except zstandard.ZstdError as exc:
        raise BadRequest(f"The body is not valid zstd: {exc}.") from None
    except RequestEntityTooLarge:
        raise _too_large(cap) from None
    except HTTPException as exc:  # werkzeug's ClientDisconnected: fewer bytes than Content-Length
        raise BadRequest(f"The body is truncated: {exc.description}") from None


def _json_body() -> tuple[Any, int]:
    data = b"".join(_body_chunks())
    return _decode(data, "the body"), len(data)


def _decode(data: bytes, where: str) -> Any:
    try:
        return pydantic_core.from_json(data)
    except ValueError as exc:
        raise BadRequest(f"{where} is not valid JSON: {exc}.") from None


# --- from parts to a batch -------------------------------------------------------------------


def _batch_from_parts(parts: Sequence[Part], size: int) -> Batch:
    """The ops of a multipart body: posts (each with its patch, if that came too), then the other
    patches, each in body order; feedback; attachments."""
    heads: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, run id) -> the op's main part
    fields: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, run id) -> its sub-parts
    attachments: dict[str, dict[str, Any]] = {}  # run id -> {name: description}
    batch = Batch(size=size)
    seen: set[str] = set()
    known: set[str] = set()  # run ids already checked, as they are written in part names
    for part in parts:
        if part.name in seen:
            raise BadRequest(f"The part {part.name!r} appears twice.")
        seen.add(part.name)
        kind, _, rest = part.name.partition(".")
        if kind in ("post", "patch"):
            run_id, _, field = rest.partition(".")
            key = (kind, run_id if run_id in known else _run_id(run_id, part.name))
            if field and field not in RUN_FIELDS:
                raise BadRequest(f"Unknown run field in the part {part.name!r}: expected one of {', '.join(sorted(RUN_FIELDS))}.")
            value = _decode(part.data, f"The part {part.name!r}")
            if field:
                fields.setdefault(key, {})[field] = value
                heads.setdefault(key, {})
            else:
                heads[key] = _object(value, part.name, key[1])
                fields.setdefault(key, {})
            known.add(key[1])
        elif kind == "attachment":
            run_id, _, name = rest.partition(".")
            if not name:
                raise BadRequest(f"The part {part.name!r} names no attachment (attachment.<run id>.<name>).")
            digest = hashlib.sha256(part.data).hexdigest()
            attachments.setdefault(_run_id(run_id, part.name), {})[name] = {
                "mime_type": part.content_type.split(";", 1)[0].strip(),
                "size": len(part.data),
                "sha256": digest,
            }
            batch.files.append((digest, part.data))
        elif kind == "feedback":
            batch.feedback.append(_feedback(_decode(part.data, f"The part {part.name!r}"), part.name, _run_id(rest, part.name)))
        else:
            raise BadRequest(f"Unknown part kind in {part.name!r}: expected post, patch, attachment or feedback.")
    for run_id in attachments:
        if ("post", run_id) not in heads and ("patch", run_id) not in heads:
            raise BadRequest(f"The attachments of run {run_id} come without its post or patch in the same request.")
    posts = {run_id: {**head, **fields[(kind, run_id)]} for (kind, run_id), head in heads.items() if kind == "post"}
    patches: dict[str, dict[str, Any]] = {}
    for (kind, run_id), head in heads.items():
        if kind == "patch":
            patch = {**head, **fields[(kind, run_id)]}
            if run_id in posts:
                _combine(posts[run_id], patch)
            else:
                patches[run_id] = patch
    for kind, ops in (("post", posts), ("patch", patches)):
        for run_id, run in ops.items():
            where = f"{kind}.{run_id}"
            if run_id in attachments:
                _attach(run, attachments[run_id], where)
            batch.runs.append(_checked_run(run, where))
    return batch


def _combine(post: dict[str, Any], patch: dict[str, Any]) -> None:
    """Fold a run's patch into its post from the same request, as the client itself does on its
    uncompressed path (`combine_serialized_queue_operations`): the patch's non-null fields win.
    The zstd path sends both; one op per run is mapped and merged once, not twice."""
    post.update((key, value) for key, value in patch.items() if value is not None)


def _attach(run: dict[str, Any], described: dict[str, Any], where: str) -> None:
    """Describe the attachments in the run's `extra.attachments`, beside any already there."""
    extra = run.get("extra") or {}
    listed = extra.get("attachments") or {} if isinstance(extra, dict) else None
    if not isinstance(listed, dict):
        raise BadRequest(f"{where}: extra must be an object, and extra.attachments too.")
    run["extra"] = {**extra, "attachments": {**listed, **described}}


def _json_run(value: Any, where: str, run_id: str | None = None) -> dict[str, Any]:
    """A run from a JSON endpoint, checked (its id is `run_id` when the URL names it). JSON
    cannot carry attachments (§8): they are dropped."""
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a JSON object.")
    if run_id is None:
        if value.get("id") is None:
            raise BadRequest(f"{where} has no id.")
        run_id = _run_id(value["id"], where)
    run = _object(value, where, run_id)
    run.pop("attachments", None)
    return _checked_run(run, where)


def _feedback(value: Any, where: str, feedback_id: str) -> dict[str, Any]:
    """A feedback object that the store can record: a key, and the run it is about."""
    feedback = _object(value, where, feedback_id)
    if not isinstance(feedback.get("key"), str) or not feedback["key"]:
        raise BadRequest(f"{where}: a feedback needs a key (a non-empty string).")
    run_id = feedback.get("run_id") or feedback.get("trace_id")
    if run_id is None:
        raise BadRequest(f"{where}: a feedback needs the run_id (or trace_id) of its run.")
    for field in ("run_id", "trace_id"):
        if feedback.get(field) is not None:
            feedback[field] = _run_id(feedback[field], f"{where}: {field}")
    return feedback


def _object(value: Any, where: str, ident: str) -> dict[str, Any]:
    """`value` as an object whose `id` is `ident` (set when missing, refused when different)."""
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a JSON object.")
    given = value.get("id")
    if given is not None and (not isinstance(given, str) or _run_id(given, where) != ident):
        raise BadRequest(f"{where} holds the id {given!r}, not {ident!r}.")
    value["id"] = ident
    return value


def _run_id(text: Any, where: str) -> str:
    """`text` as a canonical UUID string (the client's own form passes unchanged, fast)."""
    canonical = langsmith_wire.canonical_uuid(text)
    if canonical is None:
        raise BadRequest(f"{where}: {str(text)[:80]!r} is not a valid id (a UUID).")
    return canonical


def _checked_run(payload: dict[str, Any], where: str) -> dict[str, Any]:
    """The op mapped to our run schema (what the queue stores): a malformed op is a 400 before
    anything is queued, and no op is mapped twice."""
    try:
        return langsmith_wire.to_doc(payload)
    except ValueError as exc:
        raise BadRequest(f"{where}: {exc}") from None


# --- queueing and storing --------------------------------------------------------------------


def _accept(batch: Batch) -> Response:
    _check_known(batch)
    if not _queue(current_app).submit(batch):
        raise _busy()
    return Response("{}", status=202, mimetype="application/json")


def _check_known(batch: Batch) -> None:
    """A run the store cannot create (no start_time in this request) must exist already: it is
    looked up once what was accepted before is stored."""
    started = {run["id"] for run in batch.runs if run.get("start_time") is not None}
    unknown = [run["id"] for run in batch.runs if run["id"] not in started]
    if not unknown:
        return
    if not _queue(current_app).drain(KNOWN_CHECK_TIMEOUT):
        raise _busy()
    store = current_app.extensions[STORE_EXTENSION]
    for run_id in dict.fromkeys(unknown):
        try:
            store.read_run(run_id)
        except StoreNotFound:
            raise ViewerError(
                f"Run {run_id} is unknown here: its post has not arrived, and this update has no start_time to create it from.",
                status=404,
            ) from None


def _busy() -> ViewerError:
    return ViewerError("The server is busy storing earlier runs; retry shortly.", status=429)


def _queue(app: Flask) -> IngestQueue:
    return app.extensions[QUEUE_EXTENSION]  # type: ignore[no-any-return]


def drain(app: Flask, timeout: float | None = None) -> bool:
    """Wait until every request `app` accepted so far is stored; False on timeout. For tests
    and programs that read the store right after sending."""
    return _queue(app).drain(timeout)


def _apply(store: Store, folder: Path) -> Apply:
    """What the queue's worker does with the batches it takes: files first, then the runs in
    one transaction, then the feedback (on runs now stored)."""

    def apply(batches: Sequence[Batch]) -> None:
        for digest, content in {digest: content for batch in batches for digest, content in batch.files}.items():
            _save_file(folder, digest, content)
        runs = [run for batch in batches for run in batch.runs]
        if runs:
            store_ingest.upsert_docs(store, runs)
        feedback = [item for batch in batches for item in batch.feedback]
        if feedback:
            store_ingest.add_feedback_parts(store, feedback)

    return apply


def attachment_file(config: Mapping[str, Any], digest: str) -> Path:
    """Where the attachment whose content has the SHA-256 `digest` is stored."""
    return _file_in(_attachments_dir(config), digest)


def _file_in(folder: Path, digest: str) -> Path:
    return folder / digest[:2] / digest


def _save_file(folder: Path, digest: str, content: bytes) -> None:
    """Write an attachment once, atomically: the name is its content's hash."""
    path = _file_in(folder, digest)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{digest}.{os.getpid()}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def _attachments_dir(config: Mapping[str, Any]) -> Path:
    configured = config.get("TRACER_ATTACHMENTS_DIR")
    if configured:
        return Path(configured)
    from tracer import get_settings

    return get_settings().home / "attachments"


def init_app(app: Flask) -> None:
    """Register the endpoints and give `app` its ingestion queue."""
    app.config.setdefault("TRACER_LANGSMITH_MODE", "multipart_zstd")
    app.config.setdefault("TRACER_INGEST_SIZE_LIMIT_BYTES", 20 * 1024 * 1024)
    app.config.setdefault("TRACER_INGEST_QUEUE_BYTES", 256 * 1024 * 1024)
    info_body(app.config["TRACER_LANGSMITH_MODE"], app.config["TRACER_INGEST_SIZE_LIMIT_BYTES"])  # a bad mode fails now
    store = app.extensions[STORE_EXTENSION]
    queue = IngestQueue(_apply(store, _attachments_dir(app.config)), max_bytes=int(app.config["TRACER_INGEST_QUEUE_BYTES"]))
    app.extensions[QUEUE_EXTENSION] = queue
    on_close(app, lambda: queue.close(CLOSE_TIMEOUT))  # a 202 is a promise: store what was accepted
    app.register_blueprint(bp)
