"""What the background writer hands the store: one `RunChange` per run touched in a flush.

The writer turns tracer events into run documents and the JSON-patch ops that built them; the
store persists both in one transaction per flush. A change carries the run's whole document
after this flush (to insert or update the `runs` row) and only the ops added in this flush (to
append to `run_log`). Replaying every logged op of a run, in `seq` order, gives `doc` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RunChange"]


@dataclass(slots=True)
class RunChange:
    run_id: str
    #: The run's document after this flush (LangSmith's run schema; see DESIGN.md). Top-level
    #: fields are plain values; `inputs`/`outputs` may still hold the caller's pydantic objects
    #: (messages, an `LLMResult`): serialize with `tracer._json.dumps`, which knows them.
    doc: dict[str, Any]
    #: The RFC 6902 ops added in this flush, in order; the first change of a run starts with
    #: `{"op": "replace", "path": "", "value": {...}}`.
    ops: list[dict[str, Any]]
    #: 0 for a run's first change, then 1, 2, ...: the `run_log` row's position for this run.
    seq: int
