"""Run documents and their JSON-patch logs, built on the writer thread from tracer events.

The tracer's hooks, on the caller's thread, only append small tuples (`Start`, `Tokens`, `End`,
`Fail`) to the writer's queue; a source that keeps its own run state (the LangChain handler)
sends `Document`s instead: "this run's document is now what `build` makes of it". Here, off
that thread, each run becomes a document in LangSmith's run schema (DESIGN.md, "The run and
its log") and the list of RFC 6902 ops that built it: creation is `replace ""` with the whole
document; a token is `add /events/-`; the end replaces `/end_time`, `/status`, `/outputs`, the
token counts...

Inputs and outputs stay the caller's objects (messages, an `LLMResult`) until the store
serializes the document and its ops with one Rust pass each (`_json.dumps`): no intermediate
dict trees, which cost more in allocation and garbage collection than the serialization itself.

The tracer's events only ever produce two kinds of op: a replace of a top-level key and an
append to `/events`. The builder therefore applies each op to its document with one dict
assignment or one list append instead of a general JSON-patch engine (15 µs for three ops);
the store's replay (with `jsonpatch`) and a property test check that the two always agree.
A `Document` is logged as the top-level keys that differ (`_diff`), appended events as appends.
"""

from __future__ import annotations

import platform
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple
from uuid import UUID

from .outputs import LLMResult
from .pricing import cost
from .store.changes import RunChange

__all__ = ["Start", "Tokens", "End", "Fail", "Document", "RunBuilder", "runtime_info", "redact"]


class Start(NamedTuple):
    run_id: UUID
    parent_run_id: UUID | None
    trace_id: UUID
    project: str
    name: str
    run_type: str
    time: float
    inputs: Any  # None when inputs are hidden
    tags: list[str]
    metadata: dict[str, Any]
    invocation_params: dict[str, Any] | None
    reference_example_id: UUID | None = None
    #: A trace root's OpenTelemetry capture (`tracer.otel.capture`): None when no SDK is set.
    otel: Any = None


class Tokens(NamedTuple):
    """Streamed pieces of one run, batched by the tracer: (time, text) each; the text is None
    when outputs are hidden."""

    run_id: UUID
    pieces: list[tuple[float, str | None]]


class End(NamedTuple):
    run_id: UUID
    time: float
    outputs: Any
    hide: bool  # outputs are hidden: record the end, not the outputs
    inputs: Any = None  # inputs known only at the end (a step that consumed a stream)


class Fail(NamedTuple):
    run_id: UUID
    time: float
    error: BaseException


class Document(NamedTuple):
    """A run's whole document after a change, from a source that keeps its own run state.

    `build(previous)` returns the new document (a new dict; `previous`, the document so far or
    None for a run not seen yet, stays untouched). It is called on the writer thread, so mapping
    a foreign run to ours costs the caller nothing; the builder logs the difference as ops.
    """

    run_id: UUID
    build: Callable[[dict[str, Any] | None], dict[str, Any]]


_SECRET_WORDS = ("api_key", "apikey", "password", "passwd", "secret", "authorization", "credential", "private_key", "access_key")
REDACTED = "**REDACTED**"


_secret_keys: dict[str, bool] = {}
# Values that hold nothing to redact, skipped before the slower checks (most of `extra` is these).
_PLAIN_VALUES = frozenset({str, int, float, bool, type(None)})


def _is_secret(key: str) -> bool:
    known = _secret_keys.get(key)
    if known is None:
        lowered = key.lower().replace("-", "_")
        # "token" names a secret ("token", "access_token", "auth_token"), but "max_tokens",
        # "token_budget" and other counts do not.
        known = any(word in lowered for word in _SECRET_WORDS) or lowered == "token" or lowered.endswith("_token")
        if len(_secret_keys) < 10_000:
            _secret_keys[key] = known
    return known


def redact(value: Any) -> Any:
    """`value` with every secret-named entry (at any depth) replaced by a marker. Values with
    nothing to redact come back as they are, uncopied (the common case, and the fast one)."""
    if isinstance(value, dict):
        changed = None
        for key, item in value.items():
            if item is not None and isinstance(key, str) and _is_secret(key):
                new = REDACTED
            elif type(item) in _PLAIN_VALUES:
                continue
            elif isinstance(item, (dict, list, tuple)) or type(item).__name__ == "SecretStr":
                new = redact(item)
            else:
                continue
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, (list, tuple)):
        items = [redact(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    if type(value).__name__ == "SecretStr":
        return REDACTED
    return value


def runtime_info() -> dict[str, Any]:
    """Where the runs come from: recorded in every run's `extra.runtime`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        sdk_version = version("chat-tracer")
    except PackageNotFoundError:
        sdk_version = "unknown"
    return {
        "sdk": "chat-tracer",
        "sdk_version": sdk_version,
        "library": "tracer",
        "platform": platform.platform(),
        "runtime": "python",
        "py_implementation": platform.python_implementation(),
        "runtime_version": platform.python_version(),
        "argv0": sys.argv[0] if sys.argv else None,
    }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds")


def dotted_segment(iso: str, run_id: str) -> str:
    """A `dotted_order` segment, `%Y%m%dT%H%M%S%fZ` + id, cut from an `_iso` string (strftime
    costs several times more)."""
    return f"{iso[0:4]}{iso[5:7]}{iso[8:10]}T{iso[11:13]}{iso[14:16]}{iso[17:19]}{iso[20:26]}Z{run_id}"


def _as_inputs(run_type: str, inputs: Any) -> Any:
    if inputs is None:
        return {}
    if run_type == "llm":
        return {"messages": inputs}
    return inputs if isinstance(inputs, dict) else {"input": inputs}


def _as_outputs(outputs: Any) -> Any:
    return outputs if isinstance(outputs, (dict, LLMResult)) else {"output": outputs}


def run_usage(outputs: Any) -> dict[str, int] | None:
    """Token counts of a model call: its messages' `usage_metadata`, summed, else the
    provider's `llm_output.token_usage`, else a `usage_metadata` that a traceable returned."""
    if isinstance(outputs, LLMResult):
        usage = outputs.usage()
        if usage is not None:
            return dict(usage)
        token_usage = (outputs.llm_output or {}).get("token_usage")
        if isinstance(token_usage, dict) and ("prompt_tokens" in token_usage or "completion_tokens" in token_usage):
            # A count the provider did not give stays unknown (None), never 0.
            prompt, completion = token_usage.get("prompt_tokens"), token_usage.get("completion_tokens")
            total = token_usage.get("total_tokens")
            if total is None and prompt is not None and completion is not None:
                total = prompt + completion
            return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": total}
        return None
    usage = outputs.get("usage_metadata") if isinstance(outputs, dict) else None
    if isinstance(usage, dict) and "input_tokens" in usage:
        return {key: usage.get(key) or 0 for key in ("input_tokens", "output_tokens", "total_tokens")}
    return None


def result_model_name(outputs: Any) -> str | None:
    if not isinstance(outputs, LLMResult):
        return None
    for generations in outputs.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            name = message.response_metadata.get("model_name") if message is not None else None
            if name:
                return str(name)
    name = (outputs.llm_output or {}).get("model_name")
    return str(name) if name else None


def params_model_name(params: dict[str, Any] | None) -> str | None:
    if not params:
        return None
    name = params.get("model_name") or params.get("model")
    return str(name) if name else None


_STOPPED = {
    "GeneratorExit": "GeneratorExit: the caller stopped reading the stream before it ended",
    "CancelledError": "CancelledError: the task was cancelled before the run ended",
}


def format_error(error: BaseException) -> str:
    """`repr` of the exception, then its traceback, as LangSmith records errors. A stream
    abandoned by its reader, or a cancelled task, is said in words: its traceback says nothing."""
    stopped = _STOPPED.get(type(error).__name__)
    if stopped is not None:
        return stopped
    return f"{error!r}\n\n" + "".join(traceback.format_exception(type(error), error, error.__traceback__))


@dataclass(slots=True)
class _Run:
    doc: dict[str, Any]
    ops: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    first_token: bool = False
    done: bool = False


class RunBuilder:
    """Turns events into documents and ops; `take_changes` hands over what changed."""

    def __init__(self) -> None:
        self._open: dict[UUID, _Run] = {}
        self._dotted: dict[UUID, str] = {}
        self._touched: dict[UUID, _Run] = {}
        self._done: list[UUID] = []
        self._runtime = runtime_info()
        #: The runs' OpenTelemetry spans, made once a root arrives with an SDK configured.
        self._spans: Any = None
        #: Events for runs this builder never saw start (their start was dropped).
        self.orphans = 0

    def apply(self, event: Start | Tokens | End | Fail | Document) -> None:
        if type(event) is Start:
            self._start(event)
            return
        run = self._open.get(event.run_id)
        if run is None:
            if type(event) is Document:
                self._document(None, event)
            else:
                self.orphans += 1
            return
        self._touched[event.run_id] = run
        if type(event) is Tokens:
            self._tokens(run, event)
        elif type(event) is End:
            self._end(run, event)
        elif type(event) is Fail:
            self._fail(run, event)
        else:
            self._document(run, event)  # type: ignore[arg-type]

    def take_changes(self) -> list[RunChange]:
        """The changes since the last call, and forget the runs that ended.

        A run that started and ended since the last call (most runs: a flush is a tenth of a
        second) is logged as one `replace ""` with its final document instead of its every op:
        the same document on replay, half the bytes to serialize and write. Runs that span
        flushes keep each flush's ops: creation, tokens, end.
        """
        changes = [
            RunChange(str(run_id), run.doc, [{"op": "replace", "path": "", "value": run.doc}] if run.seq == 0 and run.done else run.ops, run.seq)
            for run_id, run in self._touched.items()
        ]
        for run in self._touched.values():
            run.ops = []
            run.seq += 1
        self._touched = {}
        for run_id in self._done:
            self._open.pop(run_id, None)
            self._dotted.pop(run_id, None)
        self._done = []
        return changes

    @property
    def open_runs(self) -> int:
        return len(self._open)

    # -- events ---------------------------------------------------------------------------------

    def _start(self, e: Start) -> None:
        run_id = str(e.run_id)
        start_time = _iso(e.time)
        parent_dotted = self._dotted.get(e.parent_run_id) if e.parent_run_id else None
        segment = dotted_segment(start_time, run_id)
        dotted = f"{parent_dotted}.{segment}" if parent_dotted else segment
        self._dotted[e.run_id] = dotted
        params = redact(e.invocation_params) if e.invocation_params else {}
        doc: dict[str, Any] = {
            "id": run_id,
            "trace_id": run_id if e.trace_id == e.run_id else str(e.trace_id),
            "parent_run_id": str(e.parent_run_id) if e.parent_run_id else None,
            "dotted_order": dotted,
            "name": e.name,
            "run_type": e.run_type,
            "project": e.project,
            "start_time": start_time,
            "end_time": None,
            "status": "running",
            "inputs": _as_inputs(e.run_type, e.inputs),
            "outputs": None,
            "error": None,
            "extra": {"invocation_params": params, "metadata": redact(e.metadata) if e.metadata else {}, "runtime": self._runtime},
            "tags": list(e.tags),
            "events": [{"name": "start", "time": start_time}],
            "first_token_time": None,
            "model_name": params_model_name(params),
            "prompt_tokens": None,
            "completion_tokens": None,
            "total_tokens": None,
            "cost": None,
            "reference_example_id": str(e.reference_example_id) if e.reference_example_id else None,
        }
        if e.otel is not None or self._spans:
            if self._spans is None:
                from .otel import Spans

                self._spans = Spans()
            self._spans.start(e, doc)
        # The op holds its own copy of the one list that later ops append to.
        run = _Run(doc, [{"op": "replace", "path": "", "value": {**doc, "events": list(doc["events"])}}])
        self._open[e.run_id] = run
        self._touched[e.run_id] = run

    def _tokens(self, run: _Run, e: Tokens) -> None:
        for t, token in e.pieces:
            time = _iso(t)
            event: dict[str, Any] = {"name": "new_token", "time": time}
            if token:  # None when outputs are hidden; an empty piece has nothing to show
                event["kwargs"] = {"token": token}
            self._append_event(run, event)
            # The first piece with text marks the first token (OpenAI-style streams open with
            # an empty chunk that only carries the role).
            if token != "" and not run.first_token:
                run.first_token = True
                self._replace(run, "first_token_time", time)

    def _end(self, run: _Run, e: End) -> None:
        if e.inputs is not None:
            self._replace(run, "inputs", _as_inputs(run.doc["run_type"], e.inputs))
        outputs = {} if e.hide else _as_outputs(e.outputs)
        self._finish(run, e.time, "success", outputs)
        if not e.hide and run.doc["run_type"] == "llm":
            usage = run_usage(outputs)
            if usage is not None:
                self._replace(run, "prompt_tokens", usage["input_tokens"])
                self._replace(run, "completion_tokens", usage["output_tokens"])
                self._replace(run, "total_tokens", usage["total_tokens"])
            model = result_model_name(outputs)
            if model and model != run.doc["model_name"]:
                self._replace(run, "model_name", model)
            if usage is not None:
                price = cost(run.doc["extra"]["invocation_params"].get("provider"), run.doc["model_name"], usage)
                if price is not None:
                    self._replace(run, "cost", price)
        if self._spans:
            self._spans.end(e.run_id, run.doc, outputs, e.time)
        run.done = True
        self._done.append(e.run_id)

    def _fail(self, run: _Run, e: Fail) -> None:
        self._replace(run, "error", format_error(e.error))
        self._finish(run, e.time, "error", None)
        if self._spans:
            self._spans.fail(e.run_id, e.error, e.time)
        run.done = True
        self._done.append(e.run_id)

    def _finish(self, run: _Run, t: float, status: str, outputs: dict[str, Any] | None) -> None:
        time = _iso(t)
        if outputs is not None:
            self._replace(run, "outputs", outputs)
        self._replace(run, "end_time", time)
        self._replace(run, "status", status)
        self._append_event(run, {"name": "end" if status == "success" else "error", "time": time})

    def _document(self, run: _Run | None, e: Document) -> None:
        doc = e.build(None if run is None else run.doc)
        if run is None:
            run = self._open[e.run_id] = _Run(doc, [{"op": "replace", "path": "", "value": doc}])
            self._touched[e.run_id] = run
        else:
            run.ops.extend(_diff(run.doc, doc))
            run.doc = doc
        if doc.get("status") != "running" and not run.done:
            run.done = True
            self._done.append(e.run_id)

    # -- the two kinds of op --------------------------------------------------------------------

    @staticmethod
    def _replace(run: _Run, key: str, value: Any) -> None:
        run.doc[key] = value
        run.ops.append({"op": "replace", "path": f"/{key}", "value": value})

    @staticmethod
    def _append_event(run: _Run, event: dict[str, Any]) -> None:
        run.doc["events"].append(event)
        run.ops.append({"op": "add", "path": "/events/-", "value": event})


_MISSING: Any = object()


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The ops that turn `old` into `new`, top-level keys only; events that were appended stay
    appends, so the live view streams them as it streams the tracer's tokens."""
    ops: list[dict[str, Any]] = []
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before is value or before == value:
            continue
        if key == "events" and isinstance(before, list) and isinstance(value, list) and value[: len(before)] == before:
            ops.extend({"op": "add", "path": "/events/-", "value": event} for event in value[len(before) :])
        else:
            ops.append({"op": "add" if before is _MISSING else "replace", "path": f"/{key}", "value": value})
    ops.extend({"op": "remove", "path": f"/{key}"} for key in old.keys() - new.keys())
    return ops

