"""Callbacks: events, inheritance of handlers/tags/metadata, the error policy, and the current
run across threads, tasks and generators."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from tracer import callbacks as cb
from tracer import traceable
from tracer.callbacks import RunContext, BaseCallbackHandler, current_run
from tracer.chat_models import BaseChatModel, FakeChatModel
from tracer.messages import AIMessage, BaseMessage
from tracer.outputs import ChatGeneration, ChatResult, LLMResult
from tracer.runnables import RunnableConfig, RunnableLambda, RunnableParallel


class Recorder(BaseCallbackHandler):
    """Records every hook with its run ids, thread-safely."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _add(self, hook: str, **fields: Any) -> None:
        with self._lock:
            self.events.append({"hook": hook, **fields})

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None, tags: Any = None, metadata: Any = None, name: Any = None, invocation_params: Any = None, **kwargs: Any) -> None:
        self._add("llm_start", run_id=run_id, parent_run_id=parent_run_id, tags=tags, metadata=metadata, name=name, messages=messages, serialized=serialized)

    def on_llm_new_token(self, token: str, *, chunk: Any = None, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._add("token", run_id=run_id, parent_run_id=parent_run_id, token=token, chunk=chunk)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._add("llm_end", run_id=run_id, parent_run_id=parent_run_id, response=response)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._add("llm_error", run_id=run_id, parent_run_id=parent_run_id, error=error)

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, tags: Any = None, metadata: Any = None, name: Any = None, run_type: Any = None, **kwargs: Any) -> None:
        self._add("chain_start", run_id=run_id, parent_run_id=parent_run_id, tags=tags, metadata=metadata, name=name, inputs=inputs, run_type=run_type)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._add("chain_end", run_id=run_id, parent_run_id=parent_run_id, outputs=outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self._add("chain_error", run_id=run_id, parent_run_id=parent_run_id, error=error)

    def hooks(self) -> list[str]:
        return [e["hook"] for e in self.events]

    def of(self, hook: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["hook"] == hook]

    def started(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["hook"].endswith("_start")]

    def by_name(self, name: str) -> dict[str, Any]:
        [event] = [e for e in self.started() if e["name"] == name]
        return event


@pytest.fixture(autouse=True)
def recorders_never_fault() -> Any:
    """A Recorder hook that raised would be swallowed and counted; make that a failure."""
    before = {k: v for k, v in cb.handler_errors.items() if k[0] == "Recorder"}
    yield
    after = {k: v for k, v in cb.handler_errors.items() if k[0] == "Recorder"}
    assert after == before


# -- events -------------------------------------------------------------------------------------


def test_chat_model_events_via_config() -> None:
    handler = Recorder()
    FakeChatModel(["hi there"]).invoke("x", {"callbacks": [handler]})
    assert handler.hooks() == ["llm_start", "llm_end"]
    start, end = handler.events
    assert start["parent_run_id"] is None and start["name"] == "FakeChatModel"
    [[message]] = start["messages"]  # one conversation of one message
    assert message.content == "x" and message.type == "human"
    assert end["run_id"] == start["run_id"]
    assert end["response"].generations[0][0].text == "hi there"
    assert current_run() is None


def test_stream_events_via_constructor() -> None:
    handler = Recorder()
    model = FakeChatModel(["a b"], callbacks=[handler])
    list(model.stream("x"))
    assert handler.hooks() == ["llm_start", "token", "token", "token", "token", "llm_end"]
    run_id = handler.events[0]["run_id"]
    assert all(e["run_id"] == run_id for e in handler.events)
    assert [e["token"] for e in handler.of("token")] == ["", "a", " b", ""]
    assert [e["chunk"].message.content for e in handler.of("token")] == ["", "a", " b", ""]


async def test_async_stream_events() -> None:
    handler = Recorder()
    async for _ in FakeChatModel(["a b"]).astream("x", {"callbacks": [handler]}):
        pass
    assert handler.hooks() == ["llm_start", "token", "token", "token", "token", "llm_end"]


def test_error_events() -> None:
    handler = Recorder()
    chain = RunnableLambda(lambda x: x) | FakeChatModel(error=ValueError("nope"))
    with pytest.raises(ValueError, match="nope"):
        chain.invoke("x", {"callbacks": [handler]})
    assert handler.hooks() == ["chain_start", "chain_start", "chain_end", "llm_start", "llm_error", "chain_error"]
    root = handler.events[0]["run_id"]
    llm_error = handler.of("llm_error")[0]
    assert llm_error["run_id"] == handler.of("llm_start")[0]["run_id"]
    assert llm_error["parent_run_id"] == root
    assert isinstance(llm_error["error"], ValueError)
    assert handler.of("chain_error")[0]["run_id"] == root


def test_chain_events_have_run_and_parent_ids() -> None:
    handler = Recorder()

    def prep(q: str) -> str:
        return q.upper()

    chain = RunnableLambda(prep) | FakeChatModel(["ok"])
    chain.invoke("q", {"callbacks": [handler]})
    root = handler.by_name("RunnableSequence")
    prep_run = handler.by_name("prep")
    llm = handler.by_name("FakeChatModel")
    assert root["parent_run_id"] is None
    assert prep_run["parent_run_id"] == root["run_id"] and llm["parent_run_id"] == root["run_id"]
    assert prep_run["inputs"] == "q" and prep_run["run_type"] == "chain"
    assert llm["messages"][0][0].content == "Q"
    ends = {e["run_id"]: e for e in handler.of("chain_end")}
    assert ends[prep_run["run_id"]]["outputs"] == "Q"
    assert ends[root["run_id"]]["outputs"].content == "ok"
    assert len({root["run_id"], prep_run["run_id"], llm["run_id"]}) == 3


def test_run_id_from_config_names_the_run() -> None:
    from tracer._ids import uuid7

    handler = Recorder()
    wanted = uuid7()
    FakeChatModel().invoke("x", {"callbacks": [handler], "run_id": wanted})
    assert handler.events[0]["run_id"] == wanted


# -- inheritance --------------------------------------------------------------------------------


class Outer(BaseChatModel):
    """A chat model whose call makes a child call (e.g. a router model)."""

    inner: Any = None

    @property
    def _llm_type(self) -> str:
        return "outer"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kwargs: Any) -> ChatResult:
        reply = self.inner.invoke(messages)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=f"outer: {reply.content}"))])


def test_config_tags_and_metadata_are_inherited_local_ones_are_not() -> None:
    config_handler, local_handler, inner_handler = Recorder(), Recorder(), Recorder()
    inner = FakeChatModel(["in"], name="inner", tags=["inner-tag"], metadata={"who": "inner"}, callbacks=[inner_handler])
    outer = Outer(inner=inner, name="outer", tags=["outer-tag"], metadata={"who": "outer", "o": 1}, callbacks=[local_handler])
    assert outer.invoke("x", {"callbacks": [config_handler], "tags": ["cfg"], "metadata": {"m": 1}}).content == "outer: in"

    # The config handler hears both runs; the outer model's own handler only its run.
    assert [e["name"] for e in config_handler.started()] == ["outer", "inner"]
    assert [e["name"] for e in local_handler.started()] == ["outer"]
    assert [e["name"] for e in inner_handler.started()] == ["inner"]
    outer_run, inner_run = config_handler.started()
    assert inner_run["parent_run_id"] == outer_run["run_id"]
    assert outer_run["tags"] == ["cfg", "outer-tag"]
    assert outer_run["metadata"] == {"m": 1, "who": "outer", "o": 1}
    # Config tags/metadata reach the child; the outer model's local ones do not.
    assert inner_run["tags"] == ["cfg", "inner-tag"]
    assert inner_run["metadata"] == {"m": 1, "who": "inner"}


def test_chain_config_is_inherited_by_every_step() -> None:
    handler = Recorder()
    chain = RunnableLambda(lambda x: x, name="step1") | RunnableLambda(lambda x: x, name="step2") | FakeChatModel()
    chain.invoke("x", {"callbacks": [handler], "tags": ["t1"], "metadata": {"k": "v"}})
    for event in handler.started():
        assert event["tags"] == ["t1"]
        assert event["metadata"] == {"k": "v"}
    assert len(handler.started()) == 4


def test_run_name_renames_only_that_run() -> None:
    handler = Recorder()
    chain = RunnableLambda(lambda x: x, name="step") | FakeChatModel()
    chain.invoke("x", {"callbacks": [handler], "run_name": "my chain"})
    assert [e["name"] for e in handler.started()] == ["my chain", "step", "FakeChatModel"]
    handler2 = Recorder()
    FakeChatModel().invoke("x", {"callbacks": [handler2], "run_name": "renamed"})
    assert handler2.started()[0]["name"] == "renamed"


def test_nested_config_in_lambda_adds_to_inherited() -> None:
    handler, extra = Recorder(), Recorder()

    def f(x: str) -> Any:
        return FakeChatModel().invoke(x, {"callbacks": [extra], "tags": ["inner"]})

    RunnableLambda(f).invoke("x", {"callbacks": [handler], "tags": ["outer"]})
    llm = handler.of("llm_start")[0]
    assert llm["tags"] == ["outer", "inner"]
    assert [e["hook"] for e in extra.events] == ["llm_start", "llm_end"]
    assert extra.events[0]["parent_run_id"] == handler.events[0]["run_id"]


def test_no_handler_means_no_run() -> None:
    seen: list[Any] = []
    RunnableLambda(lambda x: seen.append(current_run())).invoke(1)
    assert seen == [None]


# -- the error policy ---------------------------------------------------------------------------


class Faulty(BaseCallbackHandler):
    def __init__(self) -> None:
        self.calls = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        raise RuntimeError("handler bug")

    def on_llm_new_token(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("token bug")


def test_faulty_handler_does_not_break_the_call(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cb, "handler_errors", {})
    good = Recorder()
    faulty = Faulty()
    model = FakeChatModel(["a b"])
    with caplog.at_level(logging.WARNING, logger="tracer.callbacks"):
        for _ in range(3):
            assert model.invoke("x", {"callbacks": [faulty, good]}).content == "a b"
        chunks = list(model.stream("x", {"callbacks": [faulty, good]}))
    assert [c.content for c in chunks] == ["", "a", " b", ""]
    assert faulty.calls == 4
    assert cb.handler_errors[("Faulty", "on_chat_model_start")] == 4
    assert cb.handler_errors[("Faulty", "on_llm_new_token")] == 4
    # Logged once per (class, hook), not per fault.
    messages = [r.getMessage() for r in caplog.records if r.name == "tracer.callbacks"]
    assert len([m for m in messages if "on_chat_model_start" in m]) == 1
    assert len([m for m in messages if "on_llm_new_token" in m]) == 1
    # The other handler saw everything.
    assert good.hooks().count("llm_end") == 4


def test_handler_with_raise_error_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cb, "handler_errors", {})

    class Strict(Faulty):
        raise_error = True

    with pytest.raises(RuntimeError, match="handler bug"):
        FakeChatModel().invoke("x", {"callbacks": [Strict()]})
    assert cb.handler_errors == {}


def test_handler_raising_on_end_with_raise_error() -> None:
    class StrictEnd(BaseCallbackHandler):
        raise_error = True

        def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
            raise KeyError("end")

    with pytest.raises(KeyError):
        RunnableLambda(lambda x: x).invoke(1, {"callbacks": [StrictEnd()]})


# -- the current run across threads, tasks and generators --------------------------------------


def test_parent_run_propagates_into_batch_threads() -> None:
    handler = Recorder()
    threads: set[str] = set()

    def fan_out(xs: list[str]) -> list[Any]:
        def mark(x: str) -> str:
            threads.add(threading.current_thread().name)
            return x

        return (RunnableLambda(mark) | FakeChatModel()).batch(xs)

    RunnableLambda(fan_out).invoke(["a", "b", "c", "d"], {"callbacks": [handler]})
    root = handler.by_name("fan_out")
    sequences = [e for e in handler.started() if e["name"] == "RunnableSequence"]
    assert len(sequences) == 4
    assert all(e["parent_run_id"] == root["run_id"] for e in sequences)
    assert any(name.startswith("tracer-batch") for name in threads)
    llms = handler.of("llm_start")
    assert {e["parent_run_id"] for e in llms} == {e["run_id"] for e in sequences}


def test_parent_run_propagates_into_parallel_branches() -> None:
    handler = Recorder()
    RunnableParallel(a=FakeChatModel(name="A"), b=FakeChatModel(name="B")).invoke("x", {"callbacks": [handler]})
    root = handler.events[0]
    assert root["name"] == "RunnableParallel"
    assert {e["parent_run_id"] for e in handler.of("llm_start")} == {root["run_id"]}


async def test_parent_run_propagates_into_abatch_tasks() -> None:
    handler = Recorder()

    async def fan_out(xs: list[str]) -> list[Any]:
        return await FakeChatModel().abatch(xs)

    await RunnableLambda(fan_out).ainvoke(["a", "b", "c"], {"callbacks": [handler]})
    root = handler.by_name("fan_out")
    llms = handler.of("llm_start")
    assert len(llms) == 3
    assert all(e["parent_run_id"] == root["run_id"] for e in llms)
    assert current_run() is None


async def test_parent_run_propagates_into_gathered_tasks_of_a_traceable() -> None:
    handler = Recorder()
    model = FakeChatModel()

    @traceable(name="fan")
    async def fan(questions: list[str]) -> list[str]:
        tasks = [asyncio.create_task(model.ainvoke(q)) for q in questions]
        return [m.content for m in await asyncio.gather(*tasks)]

    async def outer(xs: list[str]) -> list[str]:
        return await fan(xs)

    await RunnableLambda(outer).ainvoke(["a", "b", "c"], {"callbacks": [handler]})
    fan_run = handler.by_name("fan")
    assert fan_run["parent_run_id"] == handler.by_name("outer")["run_id"]
    assert fan_run["inputs"] == {"questions": ["a", "b", "c"]}
    llms = handler.of("llm_start")
    assert len(llms) == 3 and all(e["parent_run_id"] == fan_run["run_id"] for e in llms)


def test_consumer_loop_body_does_not_see_the_stream_run() -> None:
    handler = Recorder()
    inside: list[Any] = []

    class Probe(FakeChatModel):
        def _stream(self, messages: Any, stop: Any = None, **kwargs: Any) -> Iterator[Any]:
            for chunk in super()._stream(messages, stop, **kwargs):
                inside.append(current_run())
                yield chunk

    in_loop: list[Any] = []
    for _ in Probe(["a b c"]).stream("x", {"callbacks": [handler]}):
        in_loop.append(current_run())
    run_id = handler.of("llm_start")[0]["run_id"]
    assert in_loop and all(r is None for r in in_loop)
    assert inside and all(r is not None and r.run_id == run_id for r in inside)


def test_consumer_inside_a_parent_sees_the_parent_not_the_stream() -> None:
    handler = Recorder()
    seen: dict[str, list[Any]] = {"loop": [], "gen": []}

    @traceable(name="gen")
    def gen(n: int) -> Iterator[int]:
        for i in range(n):
            seen["gen"].append(current_run().run_id)  # type: ignore[union-attr]
            FakeChatModel().invoke(f"q{i}")  # a call inside the generator is its child
            yield i

    def parent(n: int) -> list[int]:
        out = []
        for item in gen(n):
            seen["loop"].append(current_run().run_id)  # type: ignore[union-attr]
            FakeChatModel(name="loop-call").invoke("in loop")  # a call in the loop body is not
            out.append(item)
        return out

    assert RunnableLambda(parent).invoke(3, {"callbacks": [handler]}) == [0, 1, 2]
    parent_id = handler.by_name("parent")["run_id"]
    gen_id = handler.by_name("gen")["run_id"]
    assert handler.by_name("gen")["parent_run_id"] == parent_id
    assert seen["gen"] == [gen_id] * 3
    assert seen["loop"] == [parent_id] * 3
    llms = handler.of("llm_start")
    assert [e["parent_run_id"] for e in llms if e["name"] == "FakeChatModel"] == [gen_id] * 3
    assert [e["parent_run_id"] for e in llms if e["name"] == "loop-call"] == [parent_id] * 3
    gen_end = [e for e in handler.of("chain_end") if e["run_id"] == gen_id][0]
    assert gen_end["outputs"] == [0, 1, 2]


async def test_async_consumer_loop_body_does_not_see_the_stream_run() -> None:
    handler = Recorder()
    seen: dict[str, list[Any]] = {"loop": [], "gen": []}

    @traceable(name="agen")
    async def agen(n: int) -> Any:
        for i in range(n):
            seen["gen"].append(current_run().run_id)  # type: ignore[union-attr]
            await FakeChatModel().ainvoke("q")
            yield i

    async def parent(n: int) -> list[int]:
        out = []
        async for item in agen(n):
            seen["loop"].append(current_run().run_id)  # type: ignore[union-attr]
            out.append(item)
        return out

    assert await RunnableLambda(parent).ainvoke(2, {"callbacks": [handler]}) == [0, 1]
    parent_id, gen_id = handler.by_name("parent")["run_id"], handler.by_name("agen")["run_id"]
    assert seen == {"gen": [gen_id, gen_id], "loop": [parent_id, parent_id]}
    assert all(e["parent_run_id"] == gen_id for e in handler.of("llm_start"))

    top_level: list[Any] = []
    async for _ in FakeChatModel(["a b"]).astream("x", {"callbacks": [handler]}):
        top_level.append(current_run())
    assert top_level and all(r is None for r in top_level)


def test_stream_of_a_chain_hides_its_run_from_the_loop_body() -> None:
    handler = Recorder()
    chain = RunnableLambda(lambda x: x) | FakeChatModel(["a b"])
    seen = [current_run() for _ in chain.stream("x", {"callbacks": [handler]})]
    assert len(seen) == 4 and all(r is None for r in seen)
    root = handler.started()[0]
    assert root["name"] == "RunnableSequence"
    assert all(e["parent_run_id"] == root["run_id"] for e in handler.started()[1:])
    assert handler.hooks()[-1] == "chain_end"


def test_config_handed_to_a_plain_thread_keeps_the_trace() -> None:
    from concurrent.futures import ThreadPoolExecutor

    handler = Recorder()

    def f(x: str, config: RunnableConfig) -> Any:
        with ThreadPoolExecutor(1) as pool:  # a plain thread: the context is not copied
            return pool.submit(FakeChatModel().invoke, x, config).result()

    RunnableLambda(f).invoke("hi", {"callbacks": [handler]})
    [llm] = handler.of("llm_start")
    assert llm["parent_run_id"] == handler.by_name("f")["run_id"]


def test_config_passed_to_lambda_body_omits_inherited_keys() -> None:
    handler = Recorder()
    seen: list[RunnableConfig] = []

    def f(x: int, config: RunnableConfig) -> int:
        seen.append(config)
        return x

    RunnableLambda(f).invoke(1, {"callbacks": [handler], "tags": ["t"], "run_name": "n", "configurable": {"a": 1}})
    # Handlers and tags reach children through the parent run (current, and named by the
    # config's `callbacks` for code that hands the config to another thread), not a second time.
    [config] = seen
    assert config["configurable"] == {"a": 1}
    assert set(config) == {"configurable", "callbacks"}
    assert isinstance(config["callbacks"], RunContext)
    assert config["callbacks"].run_id == handler.started()[0]["run_id"]
    assert handler.started()[0]["name"] == "n"
