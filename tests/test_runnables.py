"""Runnables: the calling convention, composition, batching and streaming."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tracer.callbacks import BaseCallbackHandler
from tracer.chat_models import FakeChatModel
from tracer.messages import AIMessage, AIMessageChunk
from tracer.runnables import (
    RunnableBinding,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnableSequence,
    coerce_to_runnable,
    merge_configs,
)


def double(x: int) -> int:
    return x * 2


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


# -- RunnableLambda -----------------------------------------------------------------------------


def test_lambda_invoke_and_name() -> None:
    r = RunnableLambda(double)
    assert r.invoke(3) == 6
    assert r.get_name() == "double"
    assert RunnableLambda(lambda x: x).get_name() == "RunnableLambda"
    assert RunnableLambda(double, name="twice").get_name() == "twice"


async def test_lambda_ainvoke_sync_func() -> None:
    assert await RunnableLambda(double).ainvoke(4) == 8


async def test_lambda_async_func() -> None:
    r = RunnableLambda(adouble)
    assert await r.ainvoke(5) == 10
    assert [c async for c in r.astream(5)] == [10]
    assert await r.abatch([1, 2, 3]) == [2, 4, 6]
    with pytest.raises(TypeError, match="async"):
        r.invoke(5)


def test_lambda_with_sync_and_async_pair() -> None:
    r = RunnableLambda(double, afunc=adouble)
    assert r.invoke(2) == 4
    assert asyncio.run(r.ainvoke(3)) == 6


def test_lambda_receives_config() -> None:
    seen: list[RunnableConfig] = []

    def f(x: int, config: RunnableConfig) -> int:
        seen.append(config)
        return x

    RunnableLambda(f).invoke(1, {"tags": ["a"], "metadata": {"k": 1}})
    assert seen[0].get("tags") == ["a"] and seen[0].get("metadata") == {"k": 1}


async def test_async_lambda_receives_config() -> None:
    async def f(x: int, config: RunnableConfig) -> Any:
        return config.get("metadata")

    assert await RunnableLambda(f).ainvoke(1, {"metadata": {"k": 2}}) == {"k": 2}


def test_lambda_returning_a_runnable_invokes_it() -> None:
    assert RunnableLambda(lambda x: RunnableLambda(double)).invoke(5) == 10


def test_stream_and_astream_of_a_lambda_yield_its_result() -> None:
    r = RunnableLambda(double)
    assert list(r.stream(3)) == [6]

    async def collect() -> list[int]:
        return [c async for c in r.astream(3)]

    assert asyncio.run(collect()) == [6]


def test_batch_and_abatch() -> None:
    r = RunnableLambda(double)
    assert r.batch([1, 2, 3]) == [2, 4, 6]
    assert r.batch([]) == []
    assert r.batch([7]) == [14]
    assert asyncio.run(r.abatch([1, 2, 3])) == [2, 4, 6]
    assert asyncio.run(r.abatch([])) == []


def test_batch_with_one_config_per_input() -> None:
    r = RunnableLambda(lambda x, config: (x, config.get("tags")))
    assert r.batch([1, 2], [{"tags": ["a"]}, {"tags": ["b"]}]) == [(1, ["a"]), (2, ["b"])]
    with pytest.raises(ValueError, match="configs"):
        r.batch([1, 2], [{"tags": ["a"]}])


# -- composition --------------------------------------------------------------------------------


def test_pipe_operator_builds_a_flat_sequence() -> None:
    a, b, c = RunnableLambda(lambda x: x + 1), RunnableLambda(double), RunnableLambda(lambda x: x - 3)
    seq = a | b | c
    assert isinstance(seq, RunnableSequence)
    assert seq.steps == [a, b, c]
    assert seq.invoke(1) == 1  # ((1 + 1) * 2) - 3
    assert asyncio.run(seq.ainvoke(1)) == 1
    assert seq.batch([1, 2]) == [1, 3]
    assert asyncio.run(seq.abatch([1, 2])) == [1, 3]


def test_pipe_with_plain_functions_on_either_side() -> None:
    assert (RunnableLambda(double) | (lambda x: x + 1)).invoke(3) == 7
    assert ((lambda x: x + 1) | RunnableLambda(double)).invoke(3) == 8


def test_pipe_with_dict_is_parallel() -> None:
    seq = RunnableLambda(lambda x: x + 1) | {"double": double, "same": RunnablePassthrough()}
    assert isinstance(seq.steps[-1], RunnableParallel)
    assert seq.invoke(2) == {"double": 6, "same": 3}
    assert asyncio.run(seq.ainvoke(2)) == {"double": 6, "same": 3}
    back = {"a": double, "b": lambda x: x + 1} | RunnableLambda(lambda d: d["a"] + d["b"])
    assert back.invoke(3) == 10


def test_parallel_runs_branches_concurrently() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def branch(x: int) -> int:
        barrier.wait()  # deadlocks (then BrokenBarrierError) unless both branches run at once
        return x

    assert RunnableParallel(a=branch, b=branch).invoke(1) == {"a": 1, "b": 1}


def test_pipe_method() -> None:
    seq = RunnableLambda(lambda x: x + 1).pipe(double, lambda x: x - 1, name="chain")
    assert seq.invoke(3) == 7
    assert seq.get_name() == "chain"


def test_sequence_needs_two_steps() -> None:
    with pytest.raises(ValueError):
        RunnableSequence(RunnableLambda(double))


def test_coerce_rejects_non_callables() -> None:
    with pytest.raises(TypeError):
        coerce_to_runnable(42)
    with pytest.raises(TypeError):
        RunnableLambda(double) | 42  # noqa: B018


def test_bind_adds_kwargs_to_every_call() -> None:
    seen: list[dict[str, Any]] = []

    class Recorder(FakeChatModel):
        def _generate(self, messages: Any, stop: Any = None, **kwargs: Any) -> Any:
            seen.append({"stop": stop, **kwargs})
            return super()._generate(messages, stop, **kwargs)

    bound = Recorder(["ok"]).bind(stop=["\n"], temperature=0.1)
    assert isinstance(bound, RunnableBinding)
    assert bound.invoke("hi").content == "ok"
    assert bound.invoke("hi", temperature=0.9).content == "ok"  # call kwargs win
    assert seen == [{"stop": ["\n"], "temperature": 0.1}, {"stop": ["\n"], "temperature": 0.9}]


def test_with_config_applies_config_to_every_call() -> None:
    seen: list[RunnableConfig] = []

    def f(x: int, config: RunnableConfig) -> int:
        seen.append(config)
        return x

    bound = RunnableLambda(f).with_config(tags=["a"], metadata={"k": 1})
    bound.invoke(1, {"tags": ["b"], "metadata": {"j": 2}})
    assert seen[0]["tags"] == ["a", "b"]
    assert seen[0]["metadata"] == {"k": 1, "j": 2}
    assert bound.get_name() == "f"


def test_merge_configs() -> None:
    merged = merge_configs({"tags": ["a"], "metadata": {"x": 1}, "run_name": "n"}, {"tags": ["a", "b"], "metadata": {"y": 2}, "run_name": "m"}, None)
    assert merged == {"tags": ["a", "b"], "metadata": {"x": 1, "y": 2}, "run_name": "m"}


def test_with_config_on_runnables_without_name() -> None:
    assert RunnablePassthrough().with_config(tags=["x"]).invoke(1) == 1
    assert RunnableParallel(a=double).bind().invoke(2) == {"a": 4}


# -- batch concurrency --------------------------------------------------------------------------


class _InFlight:
    """Counts concurrent calls; each call waits at a barrier of `limit` parties, which can
    only be passed when `limit` calls are running at once."""

    def __init__(self, limit: int) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.barrier = threading.Barrier(limit, timeout=5)
        self.order: list[int] = []

    def __call__(self, x: int) -> int:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            self.barrier.wait()
        finally:
            with self.lock:
                self.now -= 1
        return x * 10


def test_batch_respects_max_concurrency_and_keeps_order() -> None:
    counter = _InFlight(limit=2)
    out = RunnableLambda(counter).batch(list(range(8)), {"max_concurrency": 2})
    assert out == [x * 10 for x in range(8)]
    assert counter.peak == 2  # the barrier proves 2 at once; the peak proves never 3


def test_batch_without_limit_runs_all_at_once() -> None:
    counter = _InFlight(limit=6)
    assert RunnableLambda(counter).batch(list(range(6))) == [x * 10 for x in range(6)]
    assert counter.peak == 6


def test_batch_order_is_input_order_not_completion_order() -> None:
    release = [threading.Event() for _ in range(4)]

    def f(x: int) -> int:
        # Later inputs finish first: each call waits for the next one to be done.
        if x < 3:
            assert release[x + 1].wait(5)
        release[x].set()
        return x

    assert RunnableLambda(f).batch([0, 1, 2, 3]) == [0, 1, 2, 3]


def test_batch_return_exceptions() -> None:
    r = RunnableLambda(lambda x: 10 // x)
    out = r.batch([1, 0, 5], return_exceptions=True)
    assert out[0] == 10 and out[2] == 2
    assert isinstance(out[1], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        r.batch([1, 0, 5])


class _AInFlight:
    def __init__(self, limit: int) -> None:
        self.now = 0
        self.peak = 0
        self.barrier = asyncio.Barrier(limit)

    async def __call__(self, x: int) -> int:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.wait_for(self.barrier.wait(), 5)
        finally:
            self.now -= 1
        return x * 10


async def test_abatch_respects_max_concurrency_and_keeps_order() -> None:
    counter = _AInFlight(limit=3)

    async def f(x: int) -> int:
        return await counter(x)

    r = RunnableLambda(f)
    assert await r.abatch(list(range(9)), {"max_concurrency": 3}) == [x * 10 for x in range(9)]
    assert counter.peak == 3


async def test_lambda_with_async_callable_object() -> None:
    class Doubler:
        async def __call__(self, x: int) -> int:
            return x * 2

    result = await RunnableLambda(Doubler()).ainvoke(3)
    if asyncio.iscoroutine(result):
        result.close()  # an unawaited coroutine handed back; closed so it does not warn later
    assert result == 6


async def test_abatch_return_exceptions() -> None:
    async def f(x: int) -> int:
        if x == 0:
            raise ValueError("zero")
        return x

    r = RunnableLambda(f)
    out = await r.abatch([1, 0, 2], return_exceptions=True)
    assert out[0] == 1 and out[2] == 2 and isinstance(out[1], ValueError)
    with pytest.raises(ValueError, match="zero"):
        await r.abatch([1, 0, 2])


# -- streaming through a sequence ---------------------------------------------------------------


class _TokenCounter(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def test_stream_through_lambda_and_model_yields_word_chunks_one_by_one() -> None:
    model = FakeChatModel(["The purpose of model regularization"])
    chain = RunnableLambda(lambda q: f"Q: {q}") | model
    counter = _TokenCounter()
    received: list[AIMessageChunk] = []
    for chunk in chain.stream("why?", {"callbacks": [counter]}):
        # Streaming, not buffering: when chunk n arrives, the model has produced n tokens.
        assert len(counter.tokens) == len(received) + 1
        received.append(chunk)  # type: ignore[arg-type]
    assert [c.content for c in received] == ["", "The", " purpose", " of", " model", " regularization", ""]
    assert all(isinstance(c, AIMessageChunk) for c in received)


async def test_astream_through_lambda_and_model_yields_word_chunks_one_by_one() -> None:
    model = FakeChatModel(["hello big world"])
    chain = RunnableLambda(lambda q: q.upper()) | model
    counter = _TokenCounter()
    received: list[Any] = []
    async for chunk in chain.astream("hi", {"callbacks": [counter]}):
        assert len(counter.tokens) == len(received) + 1
        received.append(chunk)
    assert [c.content for c in received] == ["", "hello", " big", " world", ""]


def test_sequence_invoke_passes_output_of_lambda_to_model() -> None:
    chain = RunnableLambda(lambda q: [("system", "s"), ("human", q)]) | FakeChatModel()
    reply = chain.invoke("ping")
    assert isinstance(reply, AIMessage)
    assert reply.content == "This is a fake reply from fake-chat to: ping"


def test_stream_of_model_then_lambda_gets_the_whole_message() -> None:
    chain = FakeChatModel(["a b c"]) | RunnableLambda(lambda m: m.content.upper())
    assert list(chain.stream("x")) == ["A B C"]
