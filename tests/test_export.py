"""Export and import of datasets and runs: round trips for every format, a 20,000-example export
in constant memory, and the OpenAI format checked against OpenAI's documented chat fine-tuning
schema. Stores are filled through the real tracer (FakeChatModel, tracing on, flush)."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import tracer
from tracer.chat_models import FakeChatModel
from tracer.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

FORMATS = ["jsonl", "csv", "openai", "langsmith"]
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "description": "The weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}},
}


def _traced(project: str = "exp") -> list[Any]:
    """Three chat-model calls, one with a tool call and its result in the history; newest last."""
    conversations = [
        [SystemMessage(content="You translate to French."), HumanMessage(content="Good morning")],
        [
            SystemMessage(content="You know the weather."),
            HumanMessage(content="Weather in Lyon?"),
            AIMessage(content="", tool_calls=[{"name": "get_weather", "args": {"city": "Lyon", "unit": "C"}, "id": "call_1", "type": "tool_call"}]),
            ToolMessage(content='{"temp": 21}', tool_call_id="call_1"),
        ],
        [HumanMessage(content="Say \"1\", a comma, and a newline\nplease")],
    ]
    model = FakeChatModel(responses=["Bonjour", "It is 21 degrees in Lyon.", "1,\n"])
    with tracer.tracing_enabled(project_name=project):
        for index, messages in enumerate(conversations):
            (model.bind_tools([WEATHER]) if index == 1 else model).invoke(messages)
    assert tracer.flush(timeout=30)
    client = tracer.Client()
    return list(reversed(client.list_runs(project_name=project)))


@pytest.fixture
def client() -> Any:
    with tracer.Client() as c:
        yield c


@pytest.fixture
def dataset(client: tracer.Client) -> str:
    runs = _traced()
    client.create_feedback(runs[0].id, "correctness", score=0, correction={"output": "Bonjour !"}, comment="missing the exclamation")
    client.create_feedback(runs[1].id, "thumbs", score=True)
    client.create_dataset("golden", description="reference answers")
    for index, run in enumerate(runs):
        client.create_example_from_run(run.id, dataset_name="golden", split="train" if index else "test")
    client.create_examples(dataset_name="golden", examples=[{"inputs": {"question": "2+2?", "n": 4, "empty": "", "looks_like_json": "[1]"}, "outputs": {"answer": "4"}, "metadata": {"origin": "hand"}, "split": None}])
    return "golden"


def _content(client: tracer.Client, name: str) -> list[tuple[Any, ...]]:
    return [(e.inputs, e.outputs, e.metadata, e.split) for e in client.list_examples(dataset_name=name)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "langsmith"])
def test_round_trip_gives_the_same_dataset(client: tracer.Client, dataset: str, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    assert client.export_dataset(dataset, format=fmt, path=path) == 4
    imported = client.import_dataset(path, name=f"copy-{fmt}")
    assert imported.example_count == 4
    assert _content(client, f"copy-{fmt}") == _content(client, dataset)
    # ... and exporting the copy writes the same records again (ids and times aside).
    again = tmp_path / f"again.{fmt}"
    client.export_dataset(f"copy-{fmt}", format=fmt, path=again)
    if fmt != "langsmith":
        assert again.read_text() == path.read_text()


def test_openai_round_trip_is_stable(client: tracer.Client, dataset: str, tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    client.export_dataset(dataset, format="openai", path=first)
    client.import_dataset(first, name="ft")
    client.export_dataset("ft", format="openai", path=second)
    assert second.read_text() == first.read_text()
    # The imported examples hold the prompt as inputs and the reply as the reference output.
    example = client.list_examples(dataset_name="ft")[0]
    assert example.inputs["messages"][0] == {"content": "You translate to French.", "type": "system"}
    assert example.outputs == {"output": {"content": "Bonjour !", "type": "ai"}}


def test_jsonl_lines_hold_inputs_outputs_metadata_feedback(client: tracer.Client, dataset: str, tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    client.export_dataset(dataset, format="jsonl", path=path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"inputs", "outputs", "metadata", "feedback"} <= set(lines[0])
    # The correction is the reference output; the feedback travels with the example.
    assert lines[0]["outputs"] == {"output": "Bonjour !"}
    assert lines[0]["feedback"][0]["key"] == "correctness"
    assert lines[0]["split"] == "test"
    assert lines[0]["metadata"]["source_run_id"]
    assert lines[3]["feedback"] == [] and "split" not in lines[3]


def test_csv_is_flattened_and_plain_text_stays_plain(client: tracer.Client, dataset: str, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    client.export_dataset(dataset, format="csv", path=path)
    with path.open(newline="") as source:
        rows = list(csv.DictReader(source))
    assert len(rows) == 4
    assert "inputs.messages" in rows[0] and "outputs.output" in rows[0] and "metadata.source_run_id" in rows[0]
    assert rows[0]["outputs.output"] == "Bonjour !"
    assert rows[3]["inputs.question"] == "2+2?"
    assert rows[3]["inputs.n"] == "4"
    assert rows[3]["inputs.looks_like_json"] == '"[1]"'
    assert rows[3]["inputs.empty"] == '""'


# -- OpenAI's chat fine-tuning format -------------------------------------------------------------
# From OpenAI's fine-tuning guide ("Preparing your dataset", chat format and tool calling): every
# line is a JSON object with "messages", a list of messages with role system, user, assistant or
# tool; an assistant message carries "content" and/or "tool_calls", each tool call
# {"id", "type": "function", "function": {"name", "arguments"}} with "arguments" a JSON-encoded
# string; a tool message carries "tool_call_id" and "content"; optional "name" on
# system/user/assistant; an optional top-level "tools" list of {"type": "function", "function":
# {"name", ...}}. The example ends with the assistant message to learn from.

_ALLOWED = {
    "system": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "weight"},
    "tool": {"role", "content", "tool_call_id"},
}


def _check_openai_line(line: dict[str, Any]) -> None:
    assert set(line) <= {"messages", "tools", "parallel_tool_calls"}, line.keys()
    messages = line["messages"]
    assert isinstance(messages, list) and messages
    assert messages[-1]["role"] == "assistant"
    issued: set[str] = set()
    for message in messages:
        role = message.get("role")
        assert role in _ALLOWED, role
        assert set(message) <= _ALLOWED[role], message
        if "content" in message:
            content = message["content"]
            assert isinstance(content, str) or (isinstance(content, list) and all(isinstance(p, dict) and "type" in p for p in content))
        if role in ("system", "user"):
            assert isinstance(message["content"], str)
        if role == "assistant":
            assert "content" in message or "tool_calls" in message
            for call in message.get("tool_calls", []):
                assert set(call) == {"id", "type", "function"} and call["type"] == "function"
                assert isinstance(call["id"], str) and call["id"]
                assert set(call["function"]) == {"name", "arguments"}
                assert isinstance(call["function"]["name"], str) and call["function"]["name"]
                assert isinstance(call["function"]["arguments"], str)
                json.loads(call["function"]["arguments"])
                issued.add(call["id"])
        if role == "tool":
            assert isinstance(message["tool_call_id"], str) and message["tool_call_id"] in issued
            assert isinstance(message["content"], str)
    for tool in line.get("tools", []):
        assert tool["type"] == "function" and isinstance(tool["function"]["name"], str)


def test_openai_export_follows_the_documented_chat_format(client: tracer.Client, dataset: str, tmp_path: Path) -> None:
    path = tmp_path / "ft.jsonl"
    client.export_dataset(dataset, format="openai", path=path)
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert len(lines) == 4
    for line in lines:
        _check_openai_line(line)
    # System prompt kept; the correction replaces the model's reply.
    assert lines[0]["messages"] == [
        {"role": "system", "content": "You translate to French."},
        {"role": "user", "content": "Good morning"},
        {"role": "assistant", "content": "Bonjour !"},
    ]
    # Tool calls and tool results kept, arguments as a JSON string.
    tool_turn = lines[1]["messages"]
    assert tool_turn[2]["tool_calls"] == [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": "Lyon", "unit": "C"})}}]
    assert tool_turn[3] == {"role": "tool", "content": '{"temp": 21}', "tool_call_id": "call_1"}
    assert tool_turn[4] == {"role": "assistant", "content": "It is 21 degrees in Lyon."}
    # The tools the model was bound to come along, as the fine-tuning format's "tools".
    assert lines[1]["tools"] == [WEATHER] and "tools" not in lines[0]
    # A non-chat example becomes one user turn and the reference answer.
    assert lines[3]["messages"][-1] == {"role": "assistant", "content": "4"}


def test_the_schema_check_rejects_what_openai_rejects() -> None:
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "c", "content": "1"}, {"role": "assistant", "content": "ok"}]}
    _check_openai_line(good)
    bad_lines = [
        {"messages": [{"role": "human", "content": "hi"}, {"role": "assistant", "content": "x"}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}]}]},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "1"}, {"role": "assistant", "content": "x"}]},
        {"prompt": "hi", "completion": "x"},
    ]
    for bad in bad_lines:
        with pytest.raises((AssertionError, KeyError)):
            _check_openai_line(bad)


# -- runs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_runs_export_carries_feedback_and_imports_as_a_dataset(client: tracer.Client, tmp_path: Path, fmt: str) -> None:
    runs = _traced("runs-exp")
    client.create_feedback(runs[2].id, "helpful", score=1, comment="fine")
    path = tmp_path / f"runs.{fmt}"
    assert client.export_runs("runs-exp", format=fmt, path=path) == 3
    imported = client.import_dataset(path, name=f"from-runs-{fmt}")
    examples = client.list_examples(dataset_name=imported.name)
    assert [e.metadata["source_run_id"] for e in examples] == [str(r.id) for r in runs]
    assert examples[2].metadata["feedback"] == [{"key": "helpful", "score": 1.0, "comment": "fine"}]
    assert examples[0].inputs == runs[0].inputs and examples[0].outputs == runs[0].outputs


def test_runs_export_with_a_callable_filter(client: tracer.Client, tmp_path: Path) -> None:
    _traced("runs-filter")
    path = tmp_path / "r.jsonl"
    count = client.export_runs("runs-filter", path=path, filter=lambda run: "Lyon" in json.dumps(run.inputs))
    assert count == 1 and "Lyon" in path.read_text()


def test_unknown_format_and_missing_dataset(client: tracer.Client, tmp_path: Path) -> None:
    from tracer.store import NotFound

    client.create_dataset("empty")
    with pytest.raises(ValueError, match="format"):
        client.export_dataset("empty", format="xml", path=tmp_path / "x")
    with pytest.raises(NotFound):
        client.export_dataset("nope", format="jsonl", path=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"inputs": {}}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        client.import_dataset(bad, name="bad")
    assert "bad" not in [d.name for d in client.list_datasets()]


# -- large exports stream --------------------------------------------------------------------------


def _examples(count: int) -> Any:
    padding = "x" * 200
    return ({"inputs": {"question": f"q{i} {padding}"}, "outputs": {"answer": f"a{i}"}, "metadata": {"i": i}, "split": "train"} for i in range(count))


def _export_peak(client: tracer.Client, name: str, path: Path) -> int:
    client.export_dataset(name, format="jsonl", path=path)  # warm: SQLAlchemy's statement caches
    tracemalloc.start()
    try:
        client.export_dataset(name, format="jsonl", path=path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_20000_example_export_runs_in_constant_memory(client: tracer.Client, tmp_path: Path) -> None:
    client.create_dataset("small")
    client.create_examples(dataset_name="small", examples=_examples(2_000))
    client.create_dataset("big")
    client.create_examples(dataset_name="big", examples=_examples(20_000))
    small_peak = _export_peak(client, "small", tmp_path / "small.jsonl")
    path = tmp_path / "big.jsonl"
    peak = _export_peak(client, "big", path)
    size = path.stat().st_size
    assert sum(1 for _ in path.open()) == 20_000 and size > 6_000_000
    # Ten times the data, about the same memory (one page of examples), well under the data size.
    assert peak < small_peak * 1.5 + 100_000, (peak, small_peak)
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte export"
    # And it reads back, streamed too.
    assert client.import_dataset(path, name="big-copy").example_count == 20_000


def test_exports_report_progress(client: tracer.Client, dataset: str, tmp_path: Path) -> None:
    from tracer.export import export_dataset

    for fmt in FORMATS:
        steps: list[int] = []
        assert export_dataset(client.store, dataset, fmt, tmp_path / f"p.{fmt}", progress=steps.append) == 4
        assert steps == [1, 1, 1, 1]
