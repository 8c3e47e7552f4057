"""Tracing into the real SQLite store, read back through `tracer.store`."""

from __future__ import annotations

import asyncio
import platform
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tracer
from tracer import config, trace, traceable, tracing_enabled
from tracer._writer import all_writers
from tracer.callbacks import BaseCallbackHandler
from tracer.chat_models import FakeChatModel
from tracer.chat_models.fake import tokenize
from tracer.messages import HumanMessage, SystemMessage
from tracer.runnables import RunnableLambda
from tracer.schemas import Run

MESSAGES = [SystemMessage(content="You're a helpful assistant"), HumanMessage(content="What is the purpose of model regularization?")]
REPLY = "Regularization prevents overfitting."




def _runs(get: Any, **filters: Any) -> list[Run]:
    return get().list_runs(limit=10_000, **filters)


def _prompt_tokens(messages: list[Any]) -> int:
    return sum(len(tokenize(m.content)) for m in messages)


def _check_llm_run(run: Run, *, streamed: bool, reply: str = REPLY, messages: list[Any] = MESSAGES) -> None:
    assert run.run_type == "llm"
    assert run.name == "FakeChatModel"
    assert run.status == "success"
    assert run.error is None
    assert run.project == "tests"
    assert run.parent_run_id is None and run.trace_id == run.id
    assert run.inputs == {"messages": [[m.model_dump() for m in messages]]}
    [[generation]] = run.outputs["generations"]  # type: ignore[index]
    assert generation["text"] == reply
    assert generation["message"]["content"] == reply
    assert run.end_time is not None and run.start_time <= run.end_time
    assert run.latency is not None and run.latency == (run.end_time - run.start_time).total_seconds() >= 0
    prompt, completion = _prompt_tokens(messages), len(tokenize(reply))
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (prompt, completion, prompt + completion)
    assert run.invocation_params["_type"] == "fake-chat"
    assert run.invocation_params["model_name"] == "fake-chat"
    assert run.model_name == "fake-chat"
    runtime = run.extra["runtime"]
    assert runtime["sdk"] == "chat-tracer"
    assert runtime["runtime_version"] == platform.python_version()
    assert runtime["platform"] == platform.platform()
    assert run.dotted_order.endswith(str(run.id))
    if streamed:
        assert run.first_token_time is not None
        assert run.start_time <= run.first_token_time <= run.end_time
        tokens = [e for e in run.events if e["name"] == "new_token"]
        assert [e.get("kwargs", {}).get("token", "") for e in tokens] == ["", *tokenize(reply), ""]
        assert "kwargs" not in tokens[0] and "kwargs" not in tokens[-1]
        # The first token is the first piece with text, not the empty role chunk.
        assert run.first_token_time == datetime.fromisoformat(tokens[1]["time"])
    else:
        assert run.first_token_time is None


# -- chat-model calls ---------------------------------------------------------------------------


def test_invoke_is_recorded(tracing: Any, store: Any) -> None:
    FakeChatModel([REPLY]).invoke(MESSAGES)
    [run] = _runs(store, project_name="tests")
    _check_llm_run(run, streamed=False)
    assert run.outputs["llm_output"]["token_usage"]["total_tokens"] == run.total_tokens  # type: ignore[index]
    # The op log replays to exactly the stored document.
    replayed = Run.from_doc(store().replay_run(run.id), project="tests")
    assert replayed == run
    assert store().read_run(run.id) == run


def test_stream_is_recorded(tracing: Any, store: Any) -> None:
    chunks = list(FakeChatModel([REPLY]).stream(MESSAGES))
    assert "".join(c.content for c in chunks) == REPLY
    [run] = _runs(store, project_name="tests", run_type="llm")
    _check_llm_run(run, streamed=True)
    assert Run.from_doc(store().replay_run(run.id), project="tests") == run


def test_batch_is_recorded(tracing: Any, store: Any) -> None:
    FakeChatModel([REPLY]).batch([MESSAGES, MESSAGES, MESSAGES])
    runs = _runs(store, project_name="tests")
    assert len(runs) == 3
    assert len({r.trace_id for r in runs}) == 3
    for run in runs:
        _check_llm_run(run, streamed=False)


async def test_abatch_ainvoke_and_astream_are_recorded(tracing: Any, store: Any) -> None:
    model = FakeChatModel([REPLY])
    await model.abatch([MESSAGES, MESSAGES])
    await model.ainvoke(MESSAGES)
    async for _ in model.astream(MESSAGES):
        pass
    runs = _runs(store, project_name="tests")
    assert len(runs) == 4
    streamed = [r for r in runs if r.first_token_time is not None]
    assert len(streamed) == 1
    for run in runs:
        _check_llm_run(run, streamed=run in streamed)


def test_generate_records_one_run_per_conversation(tracing: Any, store: Any) -> None:
    result = FakeChatModel([REPLY]).generate([MESSAGES, MESSAGES])
    runs = _runs(store, project_name="tests")
    assert {r.id for r in runs} == {info.run_id for info in result.run}  # type: ignore[union-attr]


def test_chain_with_model_records_a_tree(tracing: Any, store: Any) -> None:
    def prepare(q: str) -> list[Any]:
        return [("system", "s"), ("human", q)]

    (RunnableLambda(prepare) | FakeChatModel([REPLY])).invoke("q")
    runs = {r.name: r for r in _runs(store)}
    assert set(runs) == {"RunnableSequence", "prepare", "FakeChatModel"}
    root = runs["RunnableSequence"]
    for child in (runs["prepare"], runs["FakeChatModel"]):
        assert child.parent_run_id == root.id and child.trace_id == root.id
        assert child.dotted_order.startswith(root.dotted_order + ".")
    assert runs["prepare"].inputs == {"input": "q"}
    assert root.outputs is not None and root.outputs["output"]["content"] == REPLY  # type: ignore[index]


def prepare(q: str) -> str:
    return q.upper()


def _check_streamed_chain(runs: list[Run]) -> None:
    by_name = {r.name: r for r in runs}
    assert set(by_name) == {"RunnableSequence", "prepare", "FakeChatModel"}
    root, step, llm = by_name["RunnableSequence"], by_name["prepare"], by_name["FakeChatModel"]
    assert all(r.status == "success" for r in runs)
    assert step.parent_run_id == root.id and llm.parent_run_id == root.id
    assert {r.trace_id for r in runs} == {root.id}
    assert root.inputs == {"input": "hi"}
    assert step.inputs == {"input": "hi"} and step.outputs == {"output": "HI"}
    assert llm.inputs["messages"][0][0]["content"] == "HI"
    assert llm.first_token_time is not None and llm.completion_tokens == 2
    assert root.outputs is not None and root.outputs["output"]["content"] == "a b"


def test_streamed_chain_records_a_tree(tracing: Any, store: Any) -> None:
    chain = RunnableLambda(prepare) | FakeChatModel(["a b"])
    assert [c.content for c in chain.stream("hi")] == ["", "a", " b", ""]
    _check_streamed_chain(_runs(store))


async def test_astreamed_chain_records_a_tree(tracing: Any, store: Any) -> None:
    chain = RunnableLambda(prepare) | FakeChatModel(["a b"])
    assert [c.content async for c in chain.astream("hi")] == ["", "a", " b", ""]
    _check_streamed_chain(_runs(store))


def test_abandoned_stream_is_ended(tracing: Any, store: Any) -> None:
    stream = FakeChatModel(["a b c d"]).stream("x")
    next(stream)
    next(stream)
    stream.close()
    [run] = _runs(store)
    assert run.end_time is not None and run.status != "running"
    assert run.error is not None and "GeneratorExit" in run.error


def test_model_error_is_recorded(tracing: Any, store: Any) -> None:
    with pytest.raises(ValueError, match="model down"):
        FakeChatModel(error=ValueError("model down")).invoke("x")
    with pytest.raises(ValueError):
        list(FakeChatModel(error=ValueError("stream down")).stream("x"))
    runs = _runs(store)
    assert len(runs) == 2
    for run in runs:
        assert run.status == "error"
        assert run.end_time is not None
        assert run.error is not None and "ValueError(" in run.error and "Traceback" in run.error
        assert run.outputs is None
        assert any(e["name"] == "error" for e in run.events)


# -- switching tracing on and off ---------------------------------------------------------------


def test_tracing_off_records_nothing_and_creates_no_file(isolated_tracer: Path) -> None:
    model = FakeChatModel()
    model.invoke("x")
    list(model.stream("x"))
    model.batch(["a", "b"])

    @traceable
    def f(x: int) -> int:
        return x

    f(1)
    with trace("block"):
        pass
    assert tracer.flush(timeout=5)
    assert all_writers() == []
    assert not (isolated_tracer / "traces.db").exists()
    assert not isolated_tracer.exists()


def test_tracing_enabled_in_code(isolated_tracer: Path, store: Any) -> None:
    model = FakeChatModel()
    model.invoke("before")
    with tracing_enabled(project_name="p"):
        model.invoke("inside")
        model.batch(["in batch"])  # threads inherit the switch
    model.invoke("after")
    runs = _runs(store)
    assert sorted(r.inputs["messages"][0][0]["content"] for r in runs) == ["in batch", "inside"]
    assert {r.project for r in runs} == {"p"}
    assert [p.name for p in store().list_projects()] == ["p"]


async def test_tracing_enabled_reaches_async_tasks(isolated_tracer: Path, store: Any) -> None:
    with tracing_enabled(project_name="async-p"):
        await FakeChatModel().abatch(["a", "b"])
        await asyncio.gather(FakeChatModel().ainvoke("c"))
    assert len(_runs(store, project_name="async-p")) == 3


def test_tracing_enabled_false_switches_off(tracing: Any, store: Any) -> None:
    with tracing_enabled(enabled=False):
        FakeChatModel().invoke("hidden")
    FakeChatModel().invoke("seen")
    assert [r.inputs["messages"][0][0]["content"] for r in _runs(store)] == ["seen"]


def test_explicit_tracer_handler_traces_one_call(isolated_tracer: Path, store: Any) -> None:
    FakeChatModel().invoke("x", {"callbacks": [tracer.Tracer(project_name="explicit")]})
    FakeChatModel().invoke("not traced")
    [run] = _runs(store)
    assert run.project == "explicit"


def test_explicit_tracer_while_env_tracing_records_once(tracing: Any, store: Any) -> None:
    list(FakeChatModel(["a b"]).stream("x", {"callbacks": [tracer.Tracer(project_name="explicit")]}))
    [run] = _runs(store)
    assert [e["name"] for e in run.events] == ["start", "new_token", "new_token", "new_token", "new_token", "end"]
    assert run.project == "explicit"


def test_run_with_untraced_parent_is_a_consistent_root(isolated_tracer: Path, store: Any) -> None:
    def f(x: str) -> Any:
        with tracing_enabled(project_name="p"):
            return FakeChatModel().invoke(x)

    RunnableLambda(f).invoke("x", {"callbacks": [BaseCallbackHandler()]})
    [run] = _runs(store)
    assert run.trace_id == run.id and "." not in run.dotted_order  # recorded as a root...
    assert run.parent_run_id is None  # ...so it must not name a parent the store lacks


def test_langsmith_names_win(isolated_tracer: Path, monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_PROJECT", "from-langsmith")
    monkeypatch.setenv("LANGCHAIN_PROJECT", "from-langchain")
    monkeypatch.setenv("LANGSMITH_HIDE_INPUTS", "false")
    monkeypatch.setenv("LANGCHAIN_HIDE_INPUTS", "true")
    config.configure()
    FakeChatModel().invoke("visible input")
    [run] = _runs(store)
    assert run.project == "from-langsmith"
    assert run.inputs["messages"][0][0]["content"] == "visible input"


def test_settings_from_env() -> None:
    settings = config.Settings.from_env(
        {"LANGCHAIN_TRACING_V2": "true", "LANGCHAIN_PROJECT": "a", "LANGSMITH_PROJECT": "b", "LANGCHAIN_HIDE_OUTPUTS": "1", "LANGCHAIN_TRACING_SAMPLING_RATE": "0.25", "TRACER_HOME": "/tmp/x"}
    )
    assert settings.tracing and settings.project == "b" and settings.hide_outputs and not settings.hide_inputs
    assert settings.sampling_rate == 0.25
    assert settings.store_url == "sqlite:////tmp/x/traces.db"
    assert config.Settings.from_env({}).tracing is False
    assert config.Settings.from_env({"LANGCHAIN_TRACING_V2": "false"}).tracing is False
    assert config.Settings.from_env({"TRACER_DATABASE_URL": "sqlite:///other.db"}).store_url == "sqlite:///other.db"


# -- traceable ----------------------------------------------------------------------------------


def test_traceable_sync_with_child_model(tracing: Any, store: Any) -> None:
    model = FakeChatModel([REPLY])

    @traceable(run_type="tool", name="lookup", tags=["t1"], metadata={"team": "search"})
    def lookup(question: str, k: int = 3, *, verbose: bool = False) -> dict[str, Any]:
        return {"answer": model.invoke(question).content, "k": k}

    assert lookup("why?", verbose=True) == {"answer": REPLY, "k": 3}
    runs = {r.run_type: r for r in _runs(store)}
    parent, child = runs["tool"], runs["llm"]
    assert parent.name == "lookup"
    assert parent.inputs == {"question": "why?", "k": 3, "verbose": True}
    assert parent.outputs == {"answer": REPLY, "k": 3}
    assert parent.tags == ["t1"] and parent.metadata == {"team": "search"}
    assert parent.status == "success" and parent.parent_run_id is None
    assert child.parent_run_id == parent.id and child.trace_id == parent.trace_id == parent.id
    assert child.dotted_order.startswith(parent.dotted_order + ".")
    assert child.start_time >= parent.start_time and child.end_time <= parent.end_time  # type: ignore[operator]


def test_traceable_defaults_and_methods(tracing: Any, store: Any) -> None:
    class Agent:
        @traceable
        def ask(self, question: str, temperature: float = 0.5) -> str:
            return question[::-1]

    @traceable
    def varargs(*args: Any, **kwargs: Any) -> int:
        return len(args) + len(kwargs)

    assert Agent().ask("abc") == "cba"
    assert varargs(1, 2, x=3) == 3
    runs = {r.name: r for r in _runs(store)}
    ask = runs["ask"]
    assert ask.run_type == "chain"
    assert ask.inputs == {"question": "abc", "temperature": 0.5}  # defaults in, self out
    assert ask.outputs == {"output": "cba"}
    assert runs["varargs"].inputs == {"args": [1, 2], "x": 3}


async def test_traceable_async_with_gathered_children(tracing: Any, store: Any) -> None:
    model = FakeChatModel()

    @traceable(name="fan")
    async def fan(questions: list[str]) -> list[str]:
        replies = await asyncio.gather(*(model.ainvoke(q) for q in questions))
        return [r.content for r in replies]

    await fan(["a", "b", "c"])
    runs = _runs(store)
    [root] = [r for r in runs if r.name == "fan"]
    children = [r for r in runs if r.run_type == "llm"]
    assert root.inputs == {"questions": ["a", "b", "c"]}
    assert len(children) == 3
    assert all(c.parent_run_id == root.id and c.trace_id == root.id for c in children)


def test_traceable_generator(tracing: Any, store: Any) -> None:
    model = FakeChatModel(["x"])

    @traceable(run_type="tool")
    def docs(n: int) -> Iterator[str]:
        for i in range(n):
            yield f"{model.invoke(str(i)).content}{i}"

    assert list(docs(3)) == ["x0", "x1", "x2"]
    runs = _runs(store)
    [gen] = [r for r in runs if r.name == "docs"]
    assert gen.run_type == "tool"
    assert gen.inputs == {"n": 3}
    assert gen.outputs == {"output": ["x0", "x1", "x2"]}
    llms = [r for r in runs if r.run_type == "llm"]
    assert len(llms) == 3 and all(r.parent_run_id == gen.id for r in llms)


async def test_traceable_async_generator(tracing: Any, store: Any) -> None:
    model = FakeChatModel(["y"])

    @traceable(name="agen", tags=["stream"])
    async def agen(prefix: str, n: int = 2) -> AsyncIterator[str]:
        for i in range(n):
            reply = await model.ainvoke(prefix)
            yield f"{prefix}{reply.content}{i}"

    assert [x async for x in agen("p")] == ["py0", "py1"]
    runs = _runs(store)
    [gen] = [r for r in runs if r.name == "agen"]
    assert gen.inputs == {"prefix": "p", "n": 2}
    assert gen.outputs == {"output": ["py0", "py1"]}
    assert gen.tags == ["stream"]
    assert [r.parent_run_id for r in runs if r.run_type == "llm"] == [gen.id, gen.id]


def test_traceable_retriever_records_args_and_output_like_any_traceable(tracing: Any, store: Any) -> None:
    @traceable(run_type="retriever")
    def retrieve(query: str, k: int = 2) -> list[str]:
        return ["doc1", "doc2"][:k]

    retrieve("cats")
    [run] = _runs(store)
    assert run.run_type == "retriever"
    assert run.inputs == {"query": "cats", "k": 2}
    assert run.outputs == {"output": ["doc1", "doc2"]}


def test_traceable_error_is_recorded_and_reraised(tracing: Any, store: Any) -> None:
    @traceable
    def broken(x: int) -> int:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        broken(1)
    [run] = _runs(store)
    assert run.status == "error" and "KeyError" in run.error  # type: ignore[operator]


# -- trace ----------------------------------------------------------------------------------------


def test_trace_blocks_nest(tracing: Any, store: Any) -> None:
    with trace("outer", inputs={"q": "x"}, tags=["a"], metadata={"m": 1}) as outer:
        with trace("inner", run_type="tool") as inner:
            FakeChatModel().invoke("x")
            inner.end({"docs": [1, 2]})
        outer.end({"answer": 42})
    runs = {r.name: r for r in _runs(store)}
    assert runs["outer"].id == outer.id and runs["outer"].trace_id == outer.id
    assert runs["outer"].inputs == {"q": "x"} and runs["outer"].outputs == {"answer": 42}
    assert runs["outer"].tags == ["a"] and runs["outer"].metadata == {"m": 1}
    assert runs["inner"].parent_run_id == outer.id and runs["inner"].run_type == "tool"
    assert runs["inner"].outputs == {"docs": [1, 2]}
    assert runs["FakeChatModel"].parent_run_id == inner.id and runs["FakeChatModel"].trace_id == outer.id
    assert runs["FakeChatModel"].dotted_order.startswith(runs["inner"].dotted_order + ".")


def test_trace_records_error_with_traceback_and_reraises(tracing: Any, store: Any) -> None:
    with pytest.raises(ZeroDivisionError):
        with trace("outer"):
            with trace("inner"):
                1 / 0  # noqa: B018
    runs = {r.name: r for r in _runs(store)}
    for name in ("outer", "inner"):
        run = runs[name]
        assert run.status == "error"
        assert run.error is not None
        assert run.error.startswith("ZeroDivisionError(")
        assert "Traceback (most recent call last)" in run.error and "1 / 0" in run.error


def test_trace_without_tracing_is_inert(isolated_tracer: Path) -> None:
    with trace("nothing") as handle:
        assert handle.id is None
    assert all_writers() == []


# -- secrets and hidden inputs/outputs ------------------------------------------------------------


def _raw_bytes(home: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal"):
        path = home / f"traces.db{suffix}"
        if path.exists():
            data += path.read_bytes()
    assert data, "the store file should exist"
    return data


def test_secrets_in_invocation_params_are_redacted(tracing: Any, store: Any, isolated_tracer: Path) -> None:
    FakeChatModel().invoke(
        "x",
        {"metadata": {"api_key": "sk-META-SECRET", "user": "bob"}},
        api_key="sk-SECRET-1",
        access_token="tok-SECRET-2",
        password="pw-SECRET-3",
        headers={"Authorization": "Bearer SECRET-4", "Accept": "json"},
        max_tokens=77,
    )
    [run] = _runs(store)
    params = run.invocation_params
    assert params["api_key"] == params["access_token"] == params["password"] == "**REDACTED**"
    assert params["headers"] == {"Authorization": "**REDACTED**", "Accept": "json"}
    assert params["max_tokens"] == 77
    assert run.metadata == {"api_key": "**REDACTED**", "user": "bob"}
    raw = _raw_bytes(isolated_tracer)
    for secret in (b"sk-SECRET-1", b"tok-SECRET-2", b"pw-SECRET-3", b"SECRET-4", b"sk-META-SECRET"):
        assert secret not in raw


def test_hide_inputs(tracing: Any, monkeypatch: pytest.MonkeyPatch, store: Any, isolated_tracer: Path) -> None:
    monkeypatch.setenv("LANGCHAIN_HIDE_INPUTS", "true")
    config.configure()
    model = FakeChatModel(["public reply"])
    model.invoke("TOPSECRET-INPUT-1")
    list(model.stream("TOPSECRET-INPUT-2"))

    @traceable
    def f(secret: str) -> str:
        return "done"

    f("TOPSECRET-INPUT-3")
    runs = _runs(store)
    assert len(runs) == 3
    assert all(r.inputs == {} for r in runs)
    assert all(r.outputs for r in runs)  # outputs still recorded
    assert b"TOPSECRET-INPUT" not in _raw_bytes(isolated_tracer)
    assert b"public reply" in _raw_bytes(isolated_tracer)


def test_hide_outputs(tracing: Any, monkeypatch: pytest.MonkeyPatch, store: Any, isolated_tracer: Path) -> None:
    monkeypatch.setenv("LANGCHAIN_HIDE_OUTPUTS", "true")
    config.configure()
    model = FakeChatModel(["TOPSECRETOUTPUT reply"])
    model.invoke("public question")
    list(model.stream("public question"))

    @traceable
    def f() -> str:
        return "TOPSECRETOUTPUT from traceable"

    f()
    runs = _runs(store)
    assert len(runs) == 3
    assert all(r.outputs in ({}, None) for r in runs)
    assert all(r.status == "success" and r.end_time is not None for r in runs)
    streamed = [r for r in runs if any(e["name"] == "new_token" for e in r.events)]
    assert len(streamed) == 1 and all("kwargs" not in e for e in streamed[0].events)
    raw = _raw_bytes(isolated_tracer)
    assert b"TOPSECRETOUTPUT" not in raw
    assert b"public question" in raw


def test_hide_outputs_keeps_first_token_time_right(tracing: Any, monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
    monkeypatch.setenv("LANGCHAIN_HIDE_OUTPUTS", "true")
    config.configure()
    list(FakeChatModel(["a b"], latency=0.005).stream("x"))
    [run] = _runs(store)
    tokens = [e for e in run.events if e["name"] == "new_token"]
    assert run.first_token_time == datetime.fromisoformat(tokens[1]["time"])


# -- sampling -------------------------------------------------------------------------------------


def test_sampling_rate_zero_records_nothing(tracing: Any, monkeypatch: pytest.MonkeyPatch, isolated_tracer: Path) -> None:
    monkeypatch.setenv("LANGCHAIN_TRACING_SAMPLING_RATE", "0")
    config.configure()

    @traceable
    def root(i: int) -> str:
        return FakeChatModel().invoke(str(i)).content

    for i in range(20):
        root(i)
    list(FakeChatModel().stream("x"))
    assert tracer.flush(timeout=5)
    assert not (isolated_tracer / "traces.db").exists()


def test_sampling_keeps_whole_traces(tracing: Any, monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
    monkeypatch.setenv("LANGCHAIN_TRACING_SAMPLING_RATE", "0.5")
    config.configure()
    model = FakeChatModel(["ok"])

    @traceable
    def step(i: int) -> str:
        return model.invoke(str(i)).content

    @traceable
    def root(i: int) -> str:
        return step(i)

    for i in range(200):
        root(i)
    runs = _runs(store)
    roots = {r.id for r in runs if r.name == "root"}
    steps = [r for r in runs if r.name == "step"]
    llms = [r for r in runs if r.run_type == "llm"]
    assert 60 <= len(roots) <= 140  # binomial(200, 0.5): mean 100, sd ~7
    assert all(r.parent_run_id is None for r in runs if r.name == "root")
    # Never half a tree: every kept child has its parent and its root kept.
    assert len(steps) == len(llms) == len(roots)
    assert {s.parent_run_id for s in steps} == roots
    assert {s.trace_id for s in steps} == roots
    step_ids = {s.id for s in steps}
    assert {r.parent_run_id for r in llms} == step_ids
    assert {r.trace_id for r in llms} == roots


# -- faults stay inside the tracer ----------------------------------------------------------------


def test_unopenable_store_never_reaches_user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracing: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TRACER_HOME", str(blocker / "home"))
    config.configure()
    model = FakeChatModel([REPLY])
    assert model.invoke("x").content == REPLY
    assert "".join(c.content for c in model.stream("x")) == REPLY

    @traceable
    def f() -> int:
        return 1

    assert f() == 1
    assert tracer.flush(timeout=10)
    [writer] = all_writers()
    assert writer.failed_runs > 0
    losses = writer.losses()
    assert losses is not None and "could not be written" in losses


def test_unserializable_inputs_are_recorded_as_repr(tracing: Any, store: Any) -> None:
    class Weird:
        def __repr__(self) -> str:
            return "<Weird thing>"

    @traceable
    def f(obj: Any) -> Any:
        return obj

    f(Weird())
    [run] = _runs(store)
    assert run.inputs == {"obj": "<Weird thing>"}
    assert run.outputs == {"output": "<Weird thing>"}


def test_runs_in_batch_threads_share_the_trace(tracing: Any, store: Any) -> None:
    model = FakeChatModel()

    @traceable
    def fan(xs: list[str]) -> int:
        return len(model.batch(xs, {"max_concurrency": 2}))

    fan(["a", "b", "c", "d"])
    runs = _runs(store)
    [root] = [r for r in runs if r.name == "fan"]
    llms = [r for r in runs if r.run_type == "llm"]
    assert len(llms) == 4 and all(r.parent_run_id == root.id and r.trace_id == root.id for r in llms)
    assert len({r.dotted_order for r in llms}) == 4
    assert all(r.start_time - root.start_time < timedelta(seconds=10) for r in llms)
