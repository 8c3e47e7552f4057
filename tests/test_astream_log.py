"""astream_log: the JSON-patch op stream of a call, and RunLogPatch/RunLog arithmetic."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tracer.callbacks import BaseCallbackHandler
from tracer.chat_models import FakeChatModel
from tracer.chat_models.fake import tokenize
from tracer.log import RunLog, RunLogPatch
from tracer.messages import AIMessageChunk, HumanMessage, SystemMessage
from tracer.runnables import Runnable, RunnableLambda

MESSAGES = [SystemMessage(content="You're a helpful assistant"), HumanMessage(content="What is the purpose of model regularization?")]
REPLY = "The purpose of model regularization is to prevent overfitting."


async def collect(runnable: Runnable[Any, Any], value: Any, config: Any = None, **kwargs: Any) -> list[RunLogPatch]:
    return [patch async for patch in runnable.astream_log(value, config, **kwargs)]


def ops_of(patches: list[RunLogPatch]) -> list[dict[str, Any]]:
    return [op for patch in patches for op in patch.ops]


def total(patches: list[RunLogPatch]) -> RunLog:
    log = patches[0] + patches[1]
    for patch in patches[2:]:
        log = log + patch
    return log


# -- a chat model alone -------------------------------------------------------------------------


async def test_chat_model_op_sequence() -> None:
    model = FakeChatModel([REPLY])
    patches = await collect(model, MESSAGES)
    assert all(isinstance(p, RunLogPatch) and type(p) is RunLogPatch for p in patches)
    assert all(len(p.ops) == 1 for p in patches)
    ops = ops_of(patches)

    first = ops[0]
    assert first["op"] == "replace" and first["path"] == ""
    assert set(first["value"]) == {"id", "streamed_output", "final_output", "logs"}
    assert first["value"]["streamed_output"] == [] and first["value"]["final_output"] is None and first["value"]["logs"] == {}
    UUID(first["value"]["id"])

    pieces = tokenize(REPLY)
    adds = ops[1:-1]
    assert len(adds) == len(pieces) + 2  # the empty first and last chunks too
    assert all(op["op"] == "add" and op["path"] == "/streamed_output/-" for op in adds)
    assert all(type(op["value"]) is AIMessageChunk for op in adds)
    assert [op["value"].content for op in adds] == ["", *pieces, ""]
    assert adds[-1]["value"].response_metadata["finish_reason"] == "stop"

    last = ops[-1]
    assert last["op"] == "replace" and last["path"] == "/final_output"
    assert set(last["value"]) == {"generations", "llm_output", "run"}
    [[generation]] = last["value"]["generations"]
    assert generation["text"] == REPLY
    assert generation["generation_info"] == {"finish_reason": "stop"}
    assert generation["message"].content == REPLY
    assert type(generation["message"]) is AIMessageChunk
    assert last["value"]["llm_output"] is None and last["value"]["run"] is None


async def test_root_id_is_the_run_id_handlers_see() -> None:
    seen: list[UUID] = []

    class Ids(BaseCallbackHandler):
        def on_chat_model_start(self, *args: Any, run_id: UUID, **kwargs: Any) -> None:
            seen.append(run_id)

    patches = await collect(FakeChatModel(), "hi", {"callbacks": [Ids()]})
    assert patches[0].ops[0]["value"]["id"] == str(seen[0])


async def test_sum_of_patches_is_the_final_state() -> None:
    model = FakeChatModel(["a b."])
    patches = await collect(model, "hi")
    log = total(patches)
    assert isinstance(log, RunLog)
    assert log.ops == ops_of(patches)
    state = log.state
    chunks = [AIMessageChunk(content=c) for c in ["", "a", " b", "."]]
    assert state["id"] == patches[0].ops[0]["value"]["id"]
    assert [c.content for c in state["streamed_output"]] == ["", "a", " b", ".", ""]
    assert state["streamed_output"][:4] == chunks
    assert state["logs"] == {}
    assert state["final_output"]["generations"][0][0]["text"] == "a b."
    assert set(state) == {"id", "streamed_output", "final_output", "logs"}


def test_patch_arithmetic_and_repr() -> None:
    a = RunLogPatch({"op": "replace", "path": "", "value": {"streamed_output": [], "final_output": None, "logs": {}, "id": "x"}})
    b = RunLogPatch({"op": "add", "path": "/streamed_output/-", "value": 1})
    c = RunLogPatch({"op": "replace", "path": "/final_output", "value": 1})
    ab = a + b
    assert isinstance(ab, RunLog) and ab.state["streamed_output"] == [1]
    abc = ab + c
    assert abc.state == {"streamed_output": [1], "final_output": 1, "logs": {}, "id": "x"}
    assert ab.state["final_output"] is None  # adding did not change the earlier log
    assert abc.ops == a.ops + b.ops + c.ops
    assert abc == (a + b) + c
    assert a != b and a == RunLogPatch(*a.ops)
    assert repr(b) == "RunLogPatch({'op': 'add', 'path': '/streamed_output/-', 'value': 1})"
    assert repr(abc).startswith("RunLog({")
    with pytest.raises(TypeError):
        a + 1  # noqa: B018


async def test_repr_matches_the_seed() -> None:
    patches = await collect(FakeChatModel(["The"]), "x")
    # As the seed prints them.
    assert repr(patches[1]) == "RunLogPatch({'op': 'add',\n  'path': '/streamed_output/-',\n  'value': AIMessageChunk(content='')})"
    assert repr(patches[2]) == "RunLogPatch({'op': 'add',\n  'path': '/streamed_output/-',\n  'value': AIMessageChunk(content='The')})"
    assert repr(patches[0]).startswith("RunLogPatch({'op': 'replace',\n  'path': '',\n  'value': {'final_output': None,\n            'id': '")


# -- nested runs --------------------------------------------------------------------------------


def shout(q: str) -> str:
    return q.upper()


async def test_nested_runs_appear_under_logs() -> None:
    chain = RunnableLambda(shout) | FakeChatModel(["x y"])
    patches = await collect(chain, "hi")
    state = total(patches).state
    assert set(state["logs"]) == {"shout", "FakeChatModel"}

    lam = state["logs"]["shout"]
    assert lam["name"] == "shout" and lam["type"] == "chain"
    assert lam["final_output"] == "HI"
    assert lam["end_time"] is not None and lam["start_time"] <= lam["end_time"]

    llm = state["logs"]["FakeChatModel"]
    assert llm["type"] == "llm"
    assert llm["streamed_output_str"] == ["", "x", " y", ""]
    assert [c.content for c in llm["streamed_output"]] == ["", "x", " y", ""]
    assert llm["final_output"]["generations"][0][0]["text"] == "x y"
    assert llm["end_time"] is not None
    UUID(llm["id"])

    # The root run (the sequence) streams the model's chunks and ends with their sum.
    assert [c.content for c in state["streamed_output"]] == ["", "x", " y", ""]
    assert state["final_output"].content == "x y"

    # Things appear in the order they happened.
    paths = [op["path"] for op in ops_of(patches)]
    assert paths.index("/logs/shout") < paths.index("/logs/shout/end_time") < paths.index("/logs/FakeChatModel")
    assert paths.index("/logs/FakeChatModel") < paths.index("/streamed_output/-")
    assert paths[-1] == "/final_output"


async def test_duplicate_names_are_numbered() -> None:
    chain = RunnableLambda(shout) | RunnableLambda(shout) | RunnableLambda(shout) | FakeChatModel(["ok"])
    state = total(await collect(chain, "hi")).state
    assert set(state["logs"]) == {"shout", "shout:2", "shout:3", "FakeChatModel"}
    assert state["logs"]["shout:3"]["final_output"] == "HI"
    assert len({entry["id"] for entry in state["logs"].values()}) == 4


def _chain() -> Runnable[Any, Any]:
    tagged = RunnableLambda(lambda x: x, name="tagged").with_config(tags=["keep"])
    return RunnableLambda(shout) | tagged | FakeChatModel(["ok"], tags=["model-tag"])


@pytest.mark.parametrize(
    "filters,expected",
    [
        ({}, {"shout", "tagged", "FakeChatModel"}),
        ({"include_names": ["shout"]}, {"shout"}),
        ({"include_types": ["llm"]}, {"FakeChatModel"}),
        ({"include_tags": ["keep"]}, {"tagged"}),
        ({"include_tags": ["model-tag"], "include_names": ["shout"]}, {"shout", "FakeChatModel"}),
        ({"exclude_names": ["shout"]}, {"tagged", "FakeChatModel"}),
        ({"exclude_types": ["chain"]}, {"FakeChatModel"}),
        ({"exclude_tags": ["keep"]}, {"shout", "FakeChatModel"}),
        ({"include_types": ["chain"], "exclude_names": ["tagged"]}, {"shout"}),
    ],
    ids=lambda v: str(v),
)
async def test_filters(filters: dict[str, Any], expected: set[str]) -> None:
    patches = await collect(_chain(), "hi", **filters)
    state = total(patches).state
    assert set(state["logs"]) == expected
    # The root's own stream is never filtered out.
    assert [c.content for c in state["streamed_output"]] == ["", "ok", ""]
    assert state["final_output"].content == "ok"
    # No op ever touches a filtered-out run.
    assert all(op["path"].split("/")[2] in expected for op in ops_of(patches) if op["path"].startswith("/logs/"))


async def test_error_inside_propagates_out_of_iteration() -> None:
    chain = RunnableLambda(shout) | FakeChatModel(error=ValueError("model down"))
    seen: list[RunLogPatch] = []
    with pytest.raises(ValueError, match="model down"):
        async for patch in chain.astream_log("hi"):
            seen.append(patch)
    state = total(seen).state
    assert state["logs"]["shout"]["final_output"] == "HI"
    assert "model down" in state["logs"]["FakeChatModel"]["error"]
    assert state["logs"]["FakeChatModel"]["end_time"] is not None
    assert state["final_output"] is None


async def test_error_from_a_model_alone() -> None:
    with pytest.raises(KeyError):
        await collect(FakeChatModel(error=KeyError("k")), "x")


async def test_user_config_callbacks_still_called() -> None:
    ends: list[Any] = []

    class Ends(BaseCallbackHandler):
        def on_llm_end(self, response: Any, **kwargs: Any) -> None:
            ends.append(response)

    await collect(FakeChatModel(["a"]), "x", {"callbacks": [Ends()], "tags": ["t"]})
    assert len(ends) == 1


async def test_breaking_out_early_stops_cleanly() -> None:
    model = FakeChatModel(["a b c d e f"])
    stream = model.astream_log("x")
    count = 0
    async for _ in stream:
        count += 1
        if count == 3:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert count == 3


async def test_run_names_with_slash_are_escaped() -> None:
    chain = RunnableLambda(shout, name="retrieve/docs") | FakeChatModel(["ok"])
    state = total(await collect(chain, "hi")).state
    assert state["logs"]["retrieve/docs"]["final_output"] == "HI"
