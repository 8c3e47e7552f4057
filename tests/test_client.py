"""`tracer.Client` in local mode: runs, feedback (create, list, update, delete), datasets and
examples, over a store filled by the real tracer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import tracer
from tracer.chat_models import FakeChatModel
from tracer.schemas import Dataset, Example, Feedback, Run
from tracer.store import NotFound


@pytest.fixture
def client() -> Iterator[tracer.Client]:
    with tracer.Client() as c:
        yield c


def _trace(project: str, questions: list[str], *, answers: list[str] | None = None) -> list[Run]:
    model = FakeChatModel(responses=answers or ["ok"])
    with tracer.tracing_enabled(project_name=project):
        for question in questions:
            model.invoke(question)
    assert tracer.flush(timeout=30)
    with tracer.Client() as c:
        return list(reversed(c.list_runs(project_name=project)))


def test_projects_and_runs(client: tracer.Client) -> None:
    runs = _trace("alpha", ["one", "two", "three"])
    _trace("beta", ["four"])
    projects = {p.name: p for p in client.list_projects()}
    assert projects["alpha"].run_count == 3 and projects["beta"].run_count == 1
    newest = client.list_runs(project_name="alpha", run_type="llm", limit=2)
    assert [r.id for r in newest] == [runs[2].id, runs[1].id]
    assert client.list_runs(project_name="alpha", run_type="chain") == []
    run = client.read_run(runs[0].id)
    assert isinstance(run, Run) and run.inputs["messages"][0][0]["content"] == "one" and run.total_tokens
    with pytest.raises(NotFound):
        client.read_run("00000000-0000-0000-0000-000000000000")


def test_list_runs_with_a_callable_filter(client: tracer.Client) -> None:
    _trace("filtered", [f"question {i}" for i in range(7)])
    odd = client.list_runs(project_name="filtered", filter=lambda run: int(run.inputs["messages"][0][0]["content"].split()[1]) % 2 == 1, limit=2)
    assert [r.inputs["messages"][0][0]["content"] for r in odd] == ["question 5", "question 3"]


def test_list_runs_with_a_filter_string(client: tracer.Client) -> None:
    runs = _trace("strings", ["first", "second", "third"])
    client.create_feedback(runs[1].id, "correctness", score=1)
    found = client.list_runs(project_name="strings", filter='and(eq(run_type, "llm"), eq(feedback_key, "correctness"), gte(feedback_score, 0.5))')
    assert [r.id for r in found] == [runs[1].id]
    assert len(client.list_runs(filter='eq(run_type, "llm")', limit=2)) == 2
    with pytest.raises(ValueError):
        client.list_runs(filter="eq(run_type")


def test_feedback_create_list_update_delete(client: tracer.Client) -> None:
    first, second = _trace("fb", ["a", "b"])
    thumbs = client.create_feedback(first.id, "thumbs", score=True, comment="nice", author="ana")
    assert isinstance(thumbs, Feedback)
    assert (thumbs.score, thumbs.source, thumbs.author, thumbs.comment) == (1.0, "sdk", "ana", "nice")
    label = client.create_feedback(second.id, "label", value={"tags": ["rude"], "n": 2}, correction="A kinder reply", source="api")
    assert label.value == {"tags": ["rude"], "n": 2} and label.correction == "A kinder reply" and label.source == "api"
    assert [f.id for f in client.list_feedback(run_ids=[first.id, second.id])] == [thumbs.id, label.id]
    assert [f.id for f in client.list_feedback(run_ids=[second.id])] == [label.id]

    changed = client.update_feedback(thumbs.id, score=0.5, comment=None)
    assert changed.score == 0.5 and changed.comment is None and changed.author == "ana"
    assert changed.modified_at >= thumbs.modified_at and changed.created_at == thumbs.created_at
    client.delete_feedback(label.id)
    assert client.list_feedback(run_ids=[second.id]) == []
    with pytest.raises(NotFound):
        client.delete_feedback(label.id)


@pytest.mark.parametrize("bad", [{"key": ""}, {"key": "k", "score": float("nan")}, {"key": "k", "score": "high"}])
def test_bad_feedback_is_refused(client: tracer.Client, bad: dict[str, Any]) -> None:
    (run,) = _trace("bad-fb", ["q"])
    with pytest.raises(ValueError):
        client.create_feedback(run.id, **bad)


def test_dataset_create_rename_delete(client: tracer.Client) -> None:
    made = client.create_dataset("qa", description="questions")
    assert isinstance(made, Dataset) and made.description == "questions" and made.example_count == 0
    with pytest.raises(ValueError, match="already exists"):
        client.create_dataset("qa")
    client.create_examples(dataset_name="qa", examples=[{"inputs": {"q": "1+1"}, "outputs": {"a": "2"}, "split": "test"}])
    renamed = client.rename_dataset("qa", "qa-v2")
    assert renamed.name == "qa-v2" and renamed.example_count == 1
    assert [d.name for d in client.list_datasets()] == ["qa-v2"]
    client.delete_dataset("qa-v2")
    assert client.list_datasets() == []
    with pytest.raises(NotFound):
        client.list_examples(dataset_name="qa-v2")


def test_examples_crud(client: tracer.Client) -> None:
    client.create_dataset("ex")
    assert client.create_examples(dataset_name="ex", examples=[{"inputs": {"q": str(i)}, "outputs": {"a": i}, "metadata": {"i": i}} for i in range(3)]) == 3
    listed = client.list_examples(dataset_name="ex")
    assert all(isinstance(e, Example) for e in listed) and [e.inputs["q"] for e in listed] == ["0", "1", "2"]
    updated = client.update_example(listed[0].id, outputs={"a": "zero"}, split="train")
    assert updated.outputs == {"a": "zero"} and updated.split == "train" and updated.inputs == {"q": "0"}
    assert [e.id for e in client.list_examples(dataset_name="ex", split="train")] == [listed[0].id]
    client.delete_example(listed[1].id)
    assert [e.inputs["q"] for e in client.list_examples(dataset_name="ex")] == ["0", "2"]
    with pytest.raises(ValueError):
        client.create_examples(dataset_name="ex", examples=[{"outputs": {}}])


def test_example_from_run_uses_the_correction(client: tracer.Client) -> None:
    plain, corrected = _trace("ex-runs", ["hi", "capital of France?"], answers=["hello", "Paris, I think"])
    client.create_feedback(corrected.id, "correctness", score=False, correction={"output": "Paris"})
    client.create_dataset("from-runs")
    first = client.create_example_from_run(plain.id, dataset_name="from-runs")
    second = client.create_example_from_run(corrected.id, dataset_name="from-runs", split="train")
    assert first.inputs == plain.inputs and first.outputs == {"output": plain.outputs["generations"][0][0]["message"]}
    assert first.outputs["output"]["content"] == "hello"  # the reply, not the whole LLMResult
    assert first.source_run_id == plain.id and first.metadata["source_run_id"] == str(plain.id) and "feedback" not in first.metadata
    assert second.outputs == {"output": "Paris"} and second.split == "train"
    assert second.metadata["feedback"] == [{"key": "correctness", "score": 0.0, "correction": {"output": "Paris"}}]


def test_examples_from_a_selection_and_from_a_filter(client: tracer.Client) -> None:
    runs = _trace("sel", ["a", "b", "c", "d"])
    client.create_dataset("sel")
    assert client.create_examples_from_runs("sel", [runs[0].id, runs[2].id]) == 2
    assert client.create_examples_from_filter("sel", "sel", filter=lambda run: run.inputs["messages"][0][0]["content"] in ("b", "d")) == 2
    assert [e.inputs["messages"][0][0]["content"] for e in client.list_examples(dataset_name="sel")] == ["a", "c", "b", "d"]
    assert client.read_dataset("sel").example_count == 4


def test_feedback_right_after_the_call_waits_for_the_run() -> None:
    from tracer.callbacks import BaseCallbackHandler

    class Ids(BaseCallbackHandler):
        def __init__(self) -> None:
            self.ids: list[Any] = []

        def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: Any, **kwargs: Any) -> None:
            self.ids.append(run_id)

    ids = Ids()
    with tracer.tracing_enabled(project_name="quick"):
        FakeChatModel(responses=["hi"]).invoke("hello", config={"callbacks": [ids]})
    with tracer.Client() as client:
        made = client.create_feedback(ids.ids[0], "thumbs", score=True)  # no flush() first
        assert client.list_feedback(run_ids=[ids.ids[0]]) == [made]
