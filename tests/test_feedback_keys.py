"""Feedback keys: the model's rules per kind, how raw input becomes a score, the store's CRUD
with its defaults, the client's methods, and migration 0003 over a store that holds data."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from pydantic import ValidationError

import tracer
from tracer.feedback_keys import (
    DEFAULT_KEYS,
    FeedbackKey,
    delete_feedback_key,
    list_feedback_keys,
    problem,
    read_feedback_key,
    reorder_feedback_keys,
    score_for,
    set_feedback_key,
)
from tracer.store import NotFound, Store, current_revision, migrate, open_store, upgrade

TONE = FeedbackKey(key="tone", kind="categories", categories=[{"label": "friendly", "value": 1}, {"label": "rude", "value": 0}, {"label": "odd"}])
RANGE = FeedbackKey(key="relevance", kind="score", min=-1, max=1)
NOTE = FeedbackKey(key="note", kind="text")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'keys.db'}") as opened:
        yield opened


# -- the model --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, sentence",
    [
        ({"key": "", "kind": "text"}, "A feedback key must be 1 to 100 characters of text on one line."),
        ({"key": "a\nb", "kind": "text"}, "A feedback key must be 1 to 100 characters of text on one line."),
        ({"key": "k" * 101, "kind": "text"}, "A feedback key must be 1 to 100 characters of text on one line."),
        ({"key": "x", "kind": "emoji"}, "kind: Input should be 'thumbs', 'stars', 'score', 'categories' or 'text'."),
        ({"key": "x", "kind": "score"}, "A score key needs a minimum and a maximum."),
        ({"key": "x", "kind": "score", "min": 5, "max": 5}, "A score key's minimum must be less than its maximum."),
        ({"key": "x", "kind": "score", "min": 0, "max": math.inf}, "The maximum must be a finite number."),
        ({"key": "x", "kind": "stars", "min": 0, "max": 1}, "Only score keys have a minimum and a maximum, not stars keys."),
        ({"key": "x", "kind": "categories"}, "A categories key needs at least one category."),
        ({"key": "x", "kind": "categories", "categories": [{"label": "a"}, {"label": " a "}]}, "A categories key's labels must all be different."),
        ({"key": "x", "kind": "categories", "categories": [{"label": ""}]}, "A category's label must be 1 to 100 characters of text on one line."),
        ({"key": "x", "kind": "categories", "categories": [{"label": "a", "value": math.nan}]}, "A category's score must be a finite number."),
        ({"key": "x", "kind": "thumbs", "categories": [{"label": "a"}]}, "Only categories keys have categories, not thumbs keys."),
    ],
)
def test_bad_keys_are_refused_with_a_sentence(fields: dict[str, Any], sentence: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FeedbackKey.model_validate(fields)
    assert problem(caught.value) == sentence


def test_names_are_trimmed_and_choices_follow_the_kind() -> None:
    assert FeedbackKey(key="  tone ", kind="text", description="  ").key == "tone"
    assert FeedbackKey(key="k", kind="text", description="  ").description is None
    assert [raw for raw, _ in DEFAULT_KEYS[0].choices()] == ["up", "down"]
    assert DEFAULT_KEYS[1].choices() == [("1", "1 star"), ("2", "2 stars"), ("3", "3 stars"), ("4", "4 stars"), ("5", "5 stars")]
    assert [label for _, label in TONE.choices()] == ["friendly", "rude", "odd"]


@pytest.mark.parametrize(
    "config, raw, expected",
    [
        (DEFAULT_KEYS[0], "up", (1.0, "up")),
        (DEFAULT_KEYS[0], "down", (0.0, "down")),
        (DEFAULT_KEYS[0], "+", (1.0, "up")),
        (DEFAULT_KEYS[0], True, (1.0, "up")),
        (DEFAULT_KEYS[0], 0, (0.0, "down")),
        (DEFAULT_KEYS[1], "4", (4.0, None)),
        (DEFAULT_KEYS[1], 5, (5.0, None)),
        (TONE, "rude", (0.0, "rude")),
        (TONE, "odd", (None, "odd")),
        (RANGE, "-0.5", (-0.5, None)),
        (RANGE, 1, (1.0, None)),
        (NOTE, "  Too long.  ", (None, "Too long.")),
    ],
)
def test_score_for_turns_raw_input_into_score_and_value(config: FeedbackKey, raw: Any, expected: tuple[Any, Any]) -> None:
    assert score_for(config, raw) == expected


@pytest.mark.parametrize(
    "config, raw, sentence",
    [
        (DEFAULT_KEYS[0], "sideways", "'thumbs' is thumbs up or down, not 'sideways'."),
        (DEFAULT_KEYS[1], "6", "'correctness' is 1 to 5 stars, not '6'."),
        (DEFAULT_KEYS[1], "2.5", "'correctness' is 1 to 5 stars, not '2.5'."),
        (DEFAULT_KEYS[1], "lots", "'correctness' needs a number, not 'lots'."),
        (DEFAULT_KEYS[1], True, "'correctness' needs a number, not 'True'."),
        (TONE, "Rude", "'tone' is one of friendly, rude, odd; not 'Rude'."),
        (RANGE, "2", "'relevance' is a score from -1 to 1, not 2."),
        (RANGE, "nan", "'relevance' needs a number, not 'nan'."),
        (NOTE, "   ", "Give a value for 'note'."),
        (NOTE, None, "Give a value for 'note'."),
    ],
)
def test_score_for_refuses_input_the_control_cannot_send(config: FeedbackKey, raw: Any, sentence: str) -> None:
    with pytest.raises(ValueError) as caught:
        score_for(config, raw)
    assert str(caught.value) == sentence


# -- the store --------------------------------------------------------------------------------


def _keys(store: Store) -> list[str]:
    return [config.key for config in list_feedback_keys(store)]


def test_defaults_until_a_key_is_configured_then_they_are_kept(store: Store) -> None:
    assert list_feedback_keys(store) == list(DEFAULT_KEYS)
    assert read_feedback_key(store, "correctness").kind == "stars"
    saved = set_feedback_key(store, TONE)
    assert saved.key == "tone" and saved.position == 2 and saved.created_at is not None
    assert saved.categories == TONE.categories
    assert _keys(store) == ["thumbs", "correctness", "tone"]
    assert all(config.created_at is not None for config in list_feedback_keys(store))


def test_set_replaces_a_key_in_its_place(store: Store) -> None:
    set_feedback_key(store, TONE)
    changed = set_feedback_key(store, FeedbackKey(key="correctness", kind="score", min=0, max=10, description="Out of ten"))
    assert changed.position == 1 and changed.kind == "score" and (changed.min, changed.max) == (0, 10)
    assert _keys(store) == ["thumbs", "correctness", "tone"]
    assert read_feedback_key(store, "correctness").description == "Out of ten"
    first = set_feedback_key(store, FeedbackKey(key="note", kind="text", position=-1))
    assert first.position == -1 and _keys(store)[0] == "note"


def test_delete_and_reorder(store: Store) -> None:
    set_feedback_key(store, TONE)
    delete_feedback_key(store, "thumbs")
    assert _keys(store) == ["correctness", "tone"]
    with pytest.raises(NotFound, match=r"^No feedback key named 'thumbs' is configured\.$"):
        delete_feedback_key(store, "thumbs")
    with pytest.raises(NotFound):
        read_feedback_key(store, "thumbs")
    assert [c.key for c in reorder_feedback_keys(store, ["tone", "correctness"])] == ["tone", "correctness"]
    assert _keys(store) == ["tone", "correctness"]
    for wrong in (["tone"], ["tone", "correctness", "thumbs"], ["tone", "tone"]):
        with pytest.raises(ValueError, match="every configured feedback key"):
            reorder_feedback_keys(store, wrong)
    delete_feedback_key(store, "tone")
    delete_feedback_key(store, "correctness")
    assert list_feedback_keys(store) == list(DEFAULT_KEYS)  # none configured: the defaults again


def test_deleting_a_default_keeps_the_other(store: Store) -> None:
    delete_feedback_key(store, "correctness")
    assert _keys(store) == ["thumbs"]


def test_client_feedback_key_methods(tmp_path: Path) -> None:
    with tracer.Client(f"sqlite:///{tmp_path / 'client.db'}") as client:
        assert [c.key for c in client.list_feedback_keys()] == ["thumbs", "correctness"]
        tone = client.create_feedback_key("tone", "categories", categories=["kind", {"label": "rude", "value": 0}], description="Tone")
        assert [(c.label, c.value) for c in tone.categories] == [("kind", None), ("rude", 0.0)]
        with pytest.raises(ValueError, match="already exists"):
            client.create_feedback_key("tone", "text")
        with pytest.raises(ValueError, match="minimum and a maximum"):
            client.create_feedback_key("range", "score", min=1)
        assert client.create_feedback_key("range", "score", min=0, max=1).position == 3
        assert client.update_feedback_key("range", max=100).max == 100
        with pytest.raises(ValueError, match="minimum must be less"):
            client.update_feedback_key("range", min=200)
        client.delete_feedback_key("tone")
        assert [c.key for c in client.list_feedback_keys()] == ["thumbs", "correctness", "range"]


# -- migration 0003 ---------------------------------------------------------------------------


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrate.script_location()))
    config.set_main_option("sqlalchemy.url", url)
    return config


def test_upgrading_a_0002_store_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    command.upgrade(_alembic(url), "0002")
    run_id = "00000000-0000-7000-8000-000000000001"
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO projects VALUES ('p1', 'legacy', NULL, '2025-01-01 00:00:00.000000', NULL)")
        connection.execute(
            "INSERT INTO runs (id, project_id, trace_id, dotted_order, name, run_type, status, start_time, tags, doc) "
            "VALUES (?, 'p1', ?, '20250101T000000000000Z1', 'ChatOpenAI', 'llm', 'success', '2025-01-01 00:00:00.000000', '[]', ?)",
            (run_id, run_id, f'{{"id":"{run_id}","name":"ChatOpenAI","run_type":"llm","inputs":{{}}}}'),
        )
        connection.execute(
            "INSERT INTO feedback (id, run_id, trace_id, key, score, source, created_at, modified_at) VALUES "
            "('00000000-0000-7000-8000-0000000000f1', ?, ?, 'thumbs', 1.0, '{\"type\":\"ui\"}', '2025-01-02 00:00:00.000000', '2025-01-02 00:00:00.000000')",
            (run_id, run_id),
        )

    assert upgrade(url) == "0003" == current_revision(url)
    with open_store(url) as store:
        assert store.count_runs() == 1
        (kept,) = tracer.datasets.list_feedback(store, [run_id])
        assert (kept.key, kept.score, kept.source) == ("thumbs", 1.0, "ui")
        assert list_feedback_keys(store) == list(DEFAULT_KEYS)
        set_feedback_key(store, TONE)
        assert _keys(store) == ["thumbs", "correctness", "tone"]

    command.downgrade(_alembic(url), "0002")  # and back: the table goes, the feedback stays
    with sqlite3.connect(path) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "feedback_keys" not in tables
        assert connection.execute("SELECT key, score FROM feedback").fetchall() == [("thumbs", 1.0)]


def test_migration_renders_portable_postgresql_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    command.upgrade(_alembic("postgresql://"), "0002:0003", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE feedback_keys (" in sql
    assert "key TEXT NOT NULL" in sql and "min_score FLOAT" in sql and "position INTEGER NOT NULL" in sql
    assert "created_at TIMESTAMP WITH TIME ZONE NOT NULL" in sql
    assert "CONSTRAINT pk_feedback_keys PRIMARY KEY (key)" in sql
    assert "UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002'" in sql
