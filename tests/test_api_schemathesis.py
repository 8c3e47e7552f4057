"""Schemathesis against /api/v1/openapi.json: every operation, with generated parameters and
bodies (valid ones and broken ones), answers no 500, only status codes and content types its
document states, and bodies that match the documented schemas.

A real server on 127.0.0.1 serves a store seeded by the real tracer (runs, feedback, a dataset
with examples). Generated ids and names mostly name nothing, so each case is also sent once
with the path pointing at a seeded run, feedback, dataset or example: the success responses,
full of real data, are checked against their schemas too. Generation is derandomized and
bounded, so a run is reproducible and takes well under a minute. Each operation is driven
through its Hypothesis strategy (`as_strategy`, positive and negative cases) rather than
`schemathesis.pytest.from_fixture`, whose lazy loader fails on pytest 9 (`request.node._nodeid`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

import tracer
from tracer.chat_models import FakeChatModel
from viewer import create_app
from viewer.openapi import OPERATIONS, PREFIX
from viewer.serving import BackgroundServer

#: Cases per operation, valid and broken ones mixed.
EXAMPLES = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@tracer.traceable(name="pipeline", tags=["seed"], metadata={"user": "u1"})
def _pipeline(question: str) -> str:
    return str(FakeChatModel([f"About {question}."]).invoke(question).content)


def _seed() -> dict[str, str]:
    """Traces, feedback, a dataset with examples; the seeded value of each path parameter (a
    feedback key: one of the defaults)."""
    for question in ("Lyon", "Paris", "Nice"):
        _pipeline(question)
    assert tracer.flush(30)
    with tracer.Client() as client:
        run = client.list_runs(project_name="tests", run_type="chain")[0]
        feedback = client.create_feedback(run.id, "correct", score=1, correction={"output": "Fixed."})
        client.create_dataset("seeded")
        example = client.create_example_from_run(run.id, dataset_name="seeded", split="train")
    return {"run_id": str(run.id), "feedback_id": str(feedback.id), "name": "seeded", "example_id": str(example.id), "key": "correctness"}


@pytest.fixture
def seeded_server(tracing: tracer.Settings) -> Iterator[tuple[str, dict[str, str]]]:
    seeded = _seed()
    with BackgroundServer(create_app()) as served:
        yield served.url, seeded


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation, from the app's own registry."""
    create_app(test_config={"TRACER_STORE": object()})  # imports every area, which registers its routes
    return [(operation.method, operation.path) for operation in OPERATIONS]


@pytest.mark.parametrize(("method", "path"), _operations())
def test_api_conforms_to_its_document(seeded_server: tuple[str, dict[str, str]], method: str, path: str) -> None:
    base, seeded = seeded_server
    operation = schemathesis.openapi.from_url(f"{base}{PREFIX}/openapi.json")[path][method]

    @hypothesis.settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(st.data())
    def check(data: st.DataObject) -> None:
        mode = data.draw(st.sampled_from(GenerationMode))
        case = data.draw(operation.as_strategy(mode))
        case.call_and_validate(base_url=base, checks=CHECKS)
        if case.path_parameters:
            case.path_parameters = {name: seeded[name] for name in case.path_parameters}
            case.call_and_validate(base_url=base, checks=CHECKS)

    check()
