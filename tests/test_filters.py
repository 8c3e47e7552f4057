"""The run filter language (`tracer.filters`): parsing, errors with positions, and the SQL the
store runs agreeing with the plain Python evaluation, over runs made by the real tracer."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

import tracer
from tracer._json import loads
from tracer.chat_models import FakeChatModel
from tracer.datasets import create_feedback
from tracer.filters import (
    And,
    Compare,
    FilterError,
    Has,
    Not,
    Or,
    Search,
    matches,
    parse_filter,
    render_filter,
    to_sqlalchemy,
)
from tracer.store import browse, open_store
from tracer.store.tables import feedback, runs

# -- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["eq", "neq", "gt", "gte", "lt", "lte"])
def test_every_comparison_parses(op: str) -> None:
    assert parse_filter(f"{op}(latency, 2.5)") == Compare(op, "latency", 2.5)
    assert parse_filter(f"{op}(total_tokens,-3)") == Compare(op, "total_tokens", -3)
    assert parse_filter(f'{op}(start_time, "2025-03-01T12:00:00Z")') == Compare(op, "start_time", "2025-03-01T12:00:00Z")
    assert parse_filter(f"{op}(metadata.n, 1e3)") == Compare(op, "metadata.n", 1000.0)


def test_operators_nesting_and_whitespace() -> None:
    text = ' \n and( eq(run_type , "llm") ,or(has(tags,"prod"),\tnot(eq(error, true))), search( "hello world" ) ) '
    assert parse_filter(text) == And(
        (
            Compare("eq", "run_type", "llm"),
            Or((Has("tags", "prod"), Not(Compare("eq", "error", True)))),
            Search("hello world"),
        )
    )
    assert parse_filter("eq(parent_run_id, null)") == Compare("eq", "parent_run_id", None)
    assert parse_filter("neq(is_root, false)") == Compare("neq", "is_root", False)
    assert parse_filter("and(eq(feedback_key, 'c'), gte(feedback_score, 0))") == And(
        (Compare("eq", "feedback_key", "c"), Compare("gte", "feedback_score", 0))
    )
    assert parse_filter("eq(metadata.user-id_2, 'u')") == Compare("eq", "metadata.user-id_2", "u")
    assert parse_filter("or(eq(metadata_key, 'a'))") == Or((Compare("eq", "metadata_key", "a"),))


def test_quoting_and_escapes() -> None:
    assert parse_filter(r'eq(name, "a \"b\" \\ \n\t\u00e9 \/")').value == 'a "b" \\ \n\té /'  # type: ignore[union-attr]
    assert parse_filter(r"eq(name, 'it\'s \"x\"')").value == "it's \"x\""  # type: ignore[union-attr]
    assert parse_filter("eq(name, 'say \"hi\"')").value == 'say "hi"'  # type: ignore[union-attr]
    assert parse_filter('eq(name, "")').value == ""  # type: ignore[union-attr]
    odd = Compare("eq", "name", 'q"\'\\\n\x00\x1f é ✓')
    assert parse_filter(render_filter(odd)) == odd


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("eq(name, 'a'", 12, "')'"),
        ("and(eq(name, 'a'), eq(name, 'b')", 32, "',' or ')'"),
        ("eq(name, 'a'))", 13, "end of the filter"),
        ("eq(name, 'a') and", 14, "end of the filter"),
        ("foo(name, 'a')", 0, "operator"),
        ("", 0, "filter"),
        ("   ", 3, "filter"),
        ("eq(nmae, 'a')", 3, "field name"),
        ("eq(, 'a')", 3, "field name"),
        ("eq(metadata., 'a')", 3, "field name"),
        ("eq(name, 3)", 9, "quoted string"),
        ("eq(latency, 'slow')", 12, "number"),
        ("eq(is_root, 'yes')", 12, "true or false"),
        ("gt(name, 'a')", 3, "number or time field"),
        ("gt(latency, null)", 12, "not null"),
        ("eq(start_time, 'yesterday')", 15, "ISO 8601"),
        ("eq(start_time, 5)", 15, "ISO 8601"),
        ("eq(start_time, '0001-01-01T00:00:00+01:00')", 15, "ISO 8601"),
        ("eq(tags, 'x')", 3, "has(tags"),
        ("has(name, 'x')", 4, "tags"),
        ("neq(feedback_key, 'x')", 4, "eq()"),
        ("gt(metadata.n, 'x')", 15, "number"),
        ("search(3)", 7, "quoted string"),
        ("eq(name, 'abc", 13, "close the string"),
        ("eq(name, 'a\\q')", 12, "escape"),
        ("eq(name, '\\u12')", 12, "hex digits"),
        ("eq(latency, 1.)", 14, "digit"),
        ("eq(latency, -)", 13, "digit"),
        ("eq(latency, nan)", 12, "value"),
        ("eq(latency, 1e999)", 12, "finite"),
        ("gt(total_tokens, 9223372036854775808)", 17, "64-bit"),
        ("gt(total_tokens, -" + "9" * 400 + ")", 17, "64-bit"),
        ("eq name", 3, "'('"),
        ("not(eq(name, 'a'), eq(name, 'b'))", 17, "')'"),
        ("and()", 4, "operator"),
    ],
)
def test_errors_have_positions(text: str, position: int, expected: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert caught.value.position == position, caught.value
    assert expected in caught.value.message
    assert isinstance(caught.value, ValueError)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter("not(" * 500 + "eq(name, 'a')" + ")" * 500)
    assert caught.value.position == 4 * 64


def test_sql_injection_is_just_a_value() -> None:
    evil = "x'); DROP TABLE runs; --"
    f = parse_filter(f'eq(name, "{evil}")')
    assert f == Compare("eq", "name", evil)
    compiled = to_sqlalchemy(f).compile(dialect=sqlite.dialect())
    assert "DROP" not in str(compiled) and evil in compiled.params.values()
    for text in ("eq(name, 'a') ; DROP TABLE runs", "eq(name; DROP TABLE runs, 'a')", "eq(metadata.a'b, 1)"):
        with pytest.raises(FilterError):
            parse_filter(text)


def test_postgresql_compiles() -> None:
    f = parse_filter(
        "and(has(tags, 'p'), eq(metadata.u, 'x'), gt(metadata.n, 1), eq(metadata.b, true), eq(metadata.z, null),"
        " eq(metadata_key, 'k'), eq(metadata_value, 'v'), eq(feedback_key, 'c'), lt(feedback_score, 1), search('a b'))"
    )
    sql = str(to_sqlalchemy(f, dialect_name="postgresql").compile(dialect=postgresql.dialect()))
    assert "JSONB" in sql and "ILIKE" in sql and "jsonb_each" in sql and "MATCH" not in sql


# -- against a real store ------------------------------------------------------------------------

WORDS = ["apple", "banana", "cherry", "delta", "echo"]
TAGS = ["prod", "dev", "a b", 'q"t']
USERS = ["u1", "u2", "u3"]


@tracer.traceable(name="pipeline")
def _pipeline(model: FakeChatModel, question: str, config: dict[str, Any]) -> str:
    return model.invoke(question, config=config).content  # type: ignore[return-value]


@tracer.traceable(name="tool-step", run_type="tool")
def _tool(x: int) -> int:
    if x % 4 == 3:
        raise RuntimeError(f"tool broke on {x}")
    return x * 2


def _fill_store() -> None:
    with tracer.tracing_enabled(project_name="filters"):
        for i in range(14):
            metadata: dict[str, Any] = {"user": USERS[i % 3], "n": i % 5, "flag": i % 2 == 0}
            if i % 4 == 0:
                metadata["score"] = i / 4
            if i % 6 == 0:
                metadata["nothing"] = None
            if i % 5 == 0:
                metadata["nested"] = {"a": 1}
            tags = [TAGS[j] for j in range(len(TAGS)) if (i >> j) & 1]
            config = {"tags": tags, "metadata": metadata}
            question = f"tell me about {WORDS[i % 5]}"
            if i % 7 == 6:
                try:
                    FakeChatModel(error=ValueError(f"model refused {WORDS[(i + 1) % 5]}")).invoke(question, config=config)
                except ValueError:
                    pass
            elif i % 3 == 0:
                FakeChatModel([f"{WORDS[(i + 2) % 5]} Éclair pie"], model="fake-big").invoke(question, config=config)
            else:
                _pipeline(FakeChatModel([f"{WORDS[(i + 3) % 5]} and more"]), question, config)
            try:
                _tool(i)
            except RuntimeError:
                pass
    assert tracer.flush(timeout=30)


@pytest.fixture
def corpus() -> dict[str, Any]:
    """A store of varied runs (with feedback) and, for each, its document and feedback."""
    _fill_store()
    store = open_store(tracer.get_settings().store_url)
    with store.engines.reader.connect() as connection:
        ids = [row.id for row in connection.execute(select(runs.c.id).order_by(runs.c.id))]
    for n, run_id in enumerate(ids):
        if n % 3 == 0:
            create_feedback(store, run_id, "correctness", score=(n % 4) / 2)
        if n % 4 == 1:
            create_feedback(store, run_id, "helpfulness", score=None if n % 8 == 1 else 1)
        if n % 5 == 2:
            create_feedback(store, run_id, "correctness", score=0)
    with store.engines.reader.connect() as connection:
        docs = {row.id: loads(row.doc) for row in connection.execute(select(runs.c.id, runs.c.doc))}
        notes: dict[str, list[tuple[str, float | None]]] = {run_id: [] for run_id in docs}
        for row in connection.execute(select(feedback.c.run_id, feedback.c.key, feedback.c.score)):
            notes[row.run_id].append((row.key, row.score))
    yield {"store": store, "docs": docs, "feedback": notes}
    store.close()


def _sql_ids(corpus: dict[str, Any], f: Any, **options: Any) -> set[str]:
    with corpus["store"].engines.reader.connect() as connection:
        return set(connection.execute(select(runs.c.id).where(to_sqlalchemy(f, **options))).scalars())


def _python_ids(corpus: dict[str, Any], f: Any) -> set[str]:
    return {run_id for run_id, doc in corpus["docs"].items() if matches(f, doc, corpus["feedback"][run_id])}


def test_store_corpus_is_varied(corpus: dict[str, Any]) -> None:
    docs = corpus["docs"].values()
    assert len(corpus["docs"]) >= 30
    assert {doc["run_type"] for doc in docs} == {"llm", "chain", "tool"}
    assert {doc["status"] for doc in docs} == {"success", "error"}
    assert any(doc.get("parent_run_id") for doc in docs) and any(not doc.get("parent_run_id") for doc in docs)


@pytest.mark.parametrize(
    "text",
    [
        "eq(run_type, 'llm')",
        "eq(parent_run_id, null)",
        "eq(is_root, false)",
        "eq(error, true)",
        "neq(status, 'success')",
        "eq(model_name, 'fake-big')",
        "neq(model_name, 'fake-big')",
        "eq(model_name, null)",
        "has(tags, 'prod')",
        "has(tags, 'q\"t')",
        "and(has(tags, 'a b'), not(has(tags, 'dev')))",
        "eq(metadata.user, 'u1')",
        "neq(metadata.user, 'u1')",
        "gte(metadata.n, 3)",
        "eq(metadata.flag, true)",
        "eq(metadata.score, 2)",
        "eq(metadata.nothing, null)",
        "neq(metadata.nested, null)",
        "eq(metadata.n, '3')",
        "and(eq(metadata_key, 'user'), eq(metadata_value, 'u2'))",
        "eq(metadata_value, 'u3')",
        "eq(metadata_key, 'score')",
        "eq(feedback_key, 'correctness')",
        "and(eq(feedback_key, 'correctness'), gte(feedback_score, 0.5))",
        "and(eq(feedback_key, 'helpfulness'), eq(feedback_score, null))",
        "lt(feedback_score, 0.5)",
        "not(eq(feedback_key, 'helpfulness'))",
        "gt(total_tokens, 10)",
        "lte(prompt_tokens, 5)",
        "gte(latency, 0)",
        "eq(end_time, null)",
        "search('apple')",
        "search('ECLAIR')",
        "search('refused')",
        'search("more ban*")',
        "search('')",
        "or(search('tool broke'), eq(name, 'pipeline'))",
    ],
)
def test_sql_agrees_with_python(corpus: dict[str, Any], text: str) -> None:
    f = parse_filter(text)
    assert _sql_ids(corpus, f) == _python_ids(corpus, f)


def test_known_answers(corpus: dict[str, Any]) -> None:
    docs = corpus["docs"]
    roots = {run_id for run_id, doc in docs.items() if not doc.get("parent_run_id")}
    assert _sql_ids(corpus, parse_filter("eq(parent_run_id, null)")) == roots
    assert _sql_ids(corpus, parse_filter("eq(is_root, true)")) == roots
    some = sorted(docs)[3]
    assert _sql_ids(corpus, parse_filter(f"eq(id, '{some.upper()}')")) == {some}
    assert _sql_ids(corpus, parse_filter("has(tags, 'prod')")) == {
        run_id for run_id, doc in docs.items() if "prod" in (doc.get("tags") or [])
    }
    errors = _sql_ids(corpus, parse_filter("eq(error, true)"))
    assert errors and errors == {run_id for run_id, doc in docs.items() if doc.get("error")}
    apples = _sql_ids(corpus, parse_filter("search('apple')"))
    assert apples and apples != set(docs)
    # The same search without the FTS index (as on PostgreSQL): words matched in the document.
    assert apples <= _sql_ids(corpus, parse_filter("search('apple')"), fts=False)


def test_langsmith_pairs_apply_to_one_entry(corpus: dict[str, Any]) -> None:
    docs, notes = corpus["docs"], corpus["feedback"]
    paired = _sql_ids(corpus, parse_filter("and(eq(metadata_key, 'user'), eq(metadata_value, 'u2'))"))
    assert paired and paired == _sql_ids(corpus, parse_filter("eq(metadata.user, 'u2')"))
    scored = _sql_ids(corpus, parse_filter("and(eq(feedback_key, 'correctness'), gte(feedback_score, 0.5))"))
    assert scored and scored == {
        run_id for run_id, items in notes.items() if any(k == "correctness" and s is not None and s >= 0.5 for k, s in items)
    }
    # Two keys in one `and`: nothing is paired, each condition stands alone.
    both = _sql_ids(corpus, parse_filter("and(eq(feedback_key, 'correctness'), eq(feedback_key, 'helpfulness'), eq(feedback_score, 1))"))
    assert both == {
        run_id
        for run_id, items in notes.items()
        if {"correctness", "helpfulness"} <= {k for k, _ in items} and any(s == 1 for _, s in items)
    }
    assert not _sql_ids(corpus, parse_filter("eq(metadata.user, 'nobody')")) and len(docs) > 0


def test_matches_takes_runs_and_feedback_objects(corpus: dict[str, Any]) -> None:
    from tracer.schemas import Run
    from tracer.store.browse import run_feedback

    f = parse_filter("and(eq(feedback_key, 'correctness'), eq(is_root, true), gte(latency, 0))")
    for run_id, doc in corpus["docs"].items():
        run = Run.from_doc(doc)
        expected = matches(f, doc, corpus["feedback"][run_id])
        assert matches(f, run, run_feedback(corpus["store"], run_id)) == expected
        assert matches(f, run.model_dump(), [{"key": k, "score": s} for k, s in corpus["feedback"][run_id]]) == expected


# -- generated filters ---------------------------------------------------------------------------


def _atoms(corpus: dict[str, Any]) -> st.SearchStrategy[Any]:
    docs = list(corpus["docs"].values())
    ids = sorted(corpus["docs"])
    times = sorted(doc["start_time"] for doc in docs)
    names = sorted({doc["name"] for doc in docs}) + ["nope"]
    maybe = lambda values: st.sampled_from([*values, None])  # noqa: E731
    equality = st.sampled_from(["eq", "neq"])
    any_op = st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"])
    ordering = st.sampled_from(["gt", "gte", "lt", "lte"])
    numbers = st.one_of(st.integers(-2, 40), st.sampled_from([0.0, 0.5, 1.0, 1.5, 0.001, 0.0005, 2.25]))
    time_values = st.one_of(
        st.sampled_from(times),
        st.sampled_from(times).map(lambda t: t.replace("+00:00", "Z")),
        st.just("2000-01-01"),
        st.just("2999-12-31T00:00:00+02:00"),
    )

    def compare(fields: list[str], ops: Any, values: Any) -> Any:
        return st.builds(Compare, ops, st.sampled_from(fields), values)

    meta_fields = ["metadata.user", "metadata.n", "metadata.flag", "metadata.score", "metadata.nothing", "metadata.nested", "metadata.missing"]
    return st.one_of(
        compare(["name"], equality, maybe(names)),
        compare(["run_type"], equality, maybe(["llm", "chain", "tool", "prompt"])),
        compare(["status"], equality, st.sampled_from(["success", "error", "running"])),
        compare(["model_name"], equality, maybe(["fake-chat", "fake-big", "gpt"])),
        compare(["id", "trace_id", "parent_run_id"], equality, maybe(ids)),
        compare(["start_time", "end_time"], any_op, time_values),
        compare(["end_time"], equality, st.none()),
        compare(["latency", "prompt_tokens", "completion_tokens", "total_tokens", "cost"], any_op, numbers),
        compare(["latency", "total_tokens", "cost"], equality, st.none()),
        compare(["is_root", "error"], equality, st.booleans()),
        st.builds(Has, st.just("tags"), st.sampled_from([*TAGS, "prod "])),
        compare(meta_fields, equality, st.one_of(maybe(USERS), numbers, st.booleans(), st.just("3"))),
        compare(meta_fields, ordering, numbers),
        compare(["metadata_key"], st.just("eq"), st.sampled_from(["user", "score", "nothing", "nope"])),
        compare(["metadata_value"], st.just("eq"), st.sampled_from([*USERS, "1"])),
        compare(["feedback_key"], st.just("eq"), st.sampled_from(["correctness", "helpfulness", "nope"])),
        compare(["feedback_score"], any_op, st.sampled_from([0, 0.5, 1, 1.0, -1])),
        compare(["feedback_score"], equality, st.none()),
        st.builds(
            Search,
            st.lists(st.sampled_from([*WORDS, "ban*", "ECLAIR", '"and more"', "tell", "zzz", "broke"]), max_size=3).map(" ".join),
        ),
    )


def _filters(corpus: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        _atoms(corpus),
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=4).map(lambda items: And(tuple(items))),
            st.lists(children, min_size=1, max_size=4).map(lambda items: Or(tuple(items))),
            children.map(Not),
        ),
        max_leaves=12,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_generated_filters_round_trip_and_agree(corpus: dict[str, Any], data: st.DataObject) -> None:
    f = data.draw(_filters(corpus))
    text = render_filter(f)
    assert parse_filter(text) == f
    selected = _sql_ids(corpus, f)
    assert selected == _python_ids(corpus, f), text
    event("selects none" if not selected else "selects all" if len(selected) == len(corpus["docs"]) else "selects some")


_GRAMMAR = st.text(alphabet="()\"',\\ .-_0123456789eqnadortgslhumcfkpuxyzEA\u00e9\n", max_size=60)
_FIELDS_AND_OPS = st.sampled_from(
    ["eq(", "neq(", "gt(", "and(", "or(", "not(", "has(", "search(", "name", "tags", "metadata.x", "latency", ", ", ")", "'a'", "1.5", "null", "true", "\\u00", "1e"]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), _GRAMMAR, st.lists(_FIELDS_AND_OPS, max_size=12).map("".join)))
def test_arbitrary_text_parses_or_fails_with_a_position(text: str) -> None:
    try:
        f = parse_filter(text)
    except FilterError as error:
        assert 0 <= error.position <= len(text)
        assert error.message
    else:
        assert parse_filter(render_filter(f)) == f
        to_sqlalchemy(f).compile(dialect=sqlite.dialect())


def test_dates_compare_as_utc_times(corpus: dict[str, Any]) -> None:
    docs = corpus["docs"]
    first = min(doc["start_time"] for doc in docs.values())
    from tracer._filter_parse import parse_time

    shifted = (parse_time(first) + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    assert _sql_ids(corpus, Compare("eq", "start_time", shifted)) == _python_ids(corpus, Compare("eq", "start_time", first))
    assert len(_sql_ids(corpus, Compare("eq", "start_time", shifted))) >= 1


@pytest.mark.parametrize(
    "text",
    ["eq(run_type, 'llm')", "and(eq(feedback_key, 'correctness'), gte(feedback_score, 0.5))", "search('apple')", "or(has(tags, 'prod'), eq(error, true))"],
)
def test_runs_table_pages_through_a_filter_expression(corpus: dict[str, Any], text: str) -> None:
    """The viewer's and the API's list (`RunFilter.filter`) selects what `matches` selects, page
    after page, each run once."""
    f = browse.RunFilter(scope="all", filter=text, limit=4)
    seen: list[str] = []
    while True:
        page = browse.list_run_rows(corpus["store"], f)
        seen.extend(str(row.id) for row in page.rows)
        if page.next_cursor is None:
            break
        f = replace(f, cursor=page.next_cursor)
    assert len(seen) == len(set(seen))
    assert set(seen) == _python_ids(corpus, parse_filter(text))


def test_run_filter_rejects_a_bad_expression_with_its_position() -> None:
    with pytest.raises(FilterError) as caught:
        browse.RunFilter.from_query({"filter": "and(eq(name, 'x'), gt(latency))"})
    assert caught.value.position == len("and(eq(name, 'x'), gt(latency")
    with pytest.raises(ValueError, match="at most"):
        browse.RunFilter(filter="eq(name, 'x')" + " " * 5000)
