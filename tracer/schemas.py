"""What readers get back from the store: pydantic models of a run and of a project.

A `Run` is built from the run's JSON document (LangSmith's run schema, see DESIGN.md), the one
thing the store keeps whole; the conveniences LangSmith users reach for (`metadata`,
`invocation_params`, `latency`) are lifted out of it. Every time is an aware UTC datetime,
whatever the database handed back (SQLite returns naive strings, PostgreSQL the session zone).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Run", "Project", "Feedback", "Dataset", "Example"]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class Run(BaseModel):
    """One traced call: a chat model, a chain, a tool..., as stored."""

    model_config = ConfigDict(protected_namespaces=())

    id: UUID
    trace_id: UUID
    parent_run_id: UUID | None = None
    dotted_order: str
    name: str
    run_type: str
    status: str
    project: str
    start_time: datetime
    end_time: datetime | None = None
    first_token_time: datetime | None = None
    #: Seconds from start to end; None while the run is in progress.
    latency: float | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    error: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    invocation_params: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    model_name: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    reference_example_id: UUID | None = None

    _utc_times = field_validator("start_time", "end_time", "first_token_time")(_utc)

    @classmethod
    def from_doc(cls, doc: dict[str, Any], project: str | None = None) -> Run:
        """The run of a stored document (`project` overrides the document's project name)."""
        extra = doc.get("extra") or {}
        fields = {key: value for key, value in doc.items() if key in cls.model_fields}
        fields["project"] = project if project is not None else doc.get("project") or "default"
        fields["trace_id"] = doc.get("trace_id") or doc["id"]
        fields["inputs"] = doc.get("inputs") or {}
        fields["tags"] = doc.get("tags") or []
        fields["events"] = doc.get("events") or []
        fields["extra"] = extra
        fields["metadata"] = extra.get("metadata") or {}
        fields["invocation_params"] = extra.get("invocation_params") or {}
        run = cls.model_validate(fields)
        if run.end_time is not None:
            run.latency = (run.end_time - run.start_time).total_seconds()
        return run


class Project(BaseModel):
    """A project (LangSmith's "tracing project", or session) and the figures of its runs."""

    id: UUID
    name: str
    description: str | None = None
    created_at: datetime
    run_count: int = 0
    last_run_time: datetime | None = None

    _utc_times = field_validator("created_at", "last_run_time")(_utc)


class Feedback(BaseModel):
    """A judgement of a run (LangSmith's feedback schema): a score (a number; a bool is stored as
    1 or 0) and/or any JSON `value`, a comment, a `correction` (e.g. the edited reply), where it
    came from (`source`: sdk, api, ui...) and who gave it (`author`)."""

    id: UUID
    run_id: UUID
    trace_id: UUID | None = None
    key: str
    score: float | None = None
    value: Any = None
    comment: str | None = None
    correction: Any = None
    source: str | None = None
    author: str | None = None
    created_at: datetime
    modified_at: datetime

    _utc_times = field_validator("created_at", "modified_at")(_utc)


class Dataset(BaseModel):
    """A named set of examples."""

    id: UUID
    name: str
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    example_count: int = 0
    created_at: datetime
    modified_at: datetime

    _utc_times = field_validator("created_at", "modified_at")(_utc)


class Example(BaseModel):
    """One example of a dataset: inputs, reference outputs, metadata (for an example made from a
    run: `source_run_id` and the run's feedback), and an optional split (train, test...)."""

    id: UUID
    dataset_id: UUID
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_run_id: UUID | None = None
    split: str | None = None
    created_at: datetime
    modified_at: datetime

    _utc_times = field_validator("created_at", "modified_at")(_utc)
