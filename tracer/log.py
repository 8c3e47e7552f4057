"""Run logs as JSON Patch: `RunLogPatch` is a list of RFC 6902 ops, `RunLog` the state they build.

`astream_log` streams `RunLogPatch`es, and the store keeps every run as the ops that built its
document; both replay with `jsonpatch`, so `RunLogPatch + RunLogPatch` is a `RunLog` whose
`state` is the document so far.
"""

from __future__ import annotations

import copy
from pprint import pformat
from typing import Any

import jsonpatch

__all__ = ["RunLogPatch", "RunLog", "apply_ops"]


def apply_ops(state: Any, ops: list[dict[str, Any]]) -> Any:
    """`state` with `ops` applied, without changing `state` itself."""
    return jsonpatch.apply_patch(state, ops, in_place=False)


class RunLogPatch:
    """Some ops of a run log."""

    ops: list[dict[str, Any]]

    def __init__(self, *ops: dict[str, Any]) -> None:
        self.ops = list(ops)

    def __add__(self, other: Any) -> RunLog:
        if not isinstance(other, RunLogPatch):
            return NotImplemented
        ops = self.ops + other.ops
        return RunLog(*ops, state=apply_ops(None, ops))

    def __repr__(self) -> str:
        # The list's brackets dropped, so one op prints as `RunLogPatch({...})`.
        return f"RunLogPatch({pformat(self.ops)[1:-1]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunLogPatch) and type(other) is type(self) and self.ops == other.ops

    __hash__ = None  # type: ignore[assignment]


class RunLog(RunLogPatch):
    """Ops and the state they add up to."""

    state: Any

    def __init__(self, *ops: dict[str, Any], state: Any) -> None:
        super().__init__(*ops)
        self.state = state

    def __add__(self, other: Any) -> RunLog:
        if not isinstance(other, RunLogPatch):
            return NotImplemented
        state = jsonpatch.apply_patch(copy.deepcopy(self.state), other.ops, in_place=True)
        return RunLog(*self.ops, *other.ops, state=state)

    def __repr__(self) -> str:
        return f"RunLog({pformat(self.state)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunLog) and self.ops == other.ops and self.state == other.state

    __hash__ = None  # type: ignore[assignment]
