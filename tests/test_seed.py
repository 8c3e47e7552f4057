"""The seed's quickstart, block by block, on our package: same code (imports changed), same output.

The seed is read from ../shared/seed/ when present (a checkout beside shared/, as in CI); the
demo's cells must be exactly its Python blocks with our imports, except the hidden setup block
that picks a provider, which picks the offline `FakeChatModel` answering with the seed's replies.
What differs by nature is masked: run ids (random) and token counts (ours are counted by the
fake's own tokenizer, and checked exactly against it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tracer
from tracer.chat_models.fake import tokenize
from tracer.demo import CELLS, SETUP_CELL, cell_output
from tracer.schemas import Run
from tracer.store import open_store

SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "chat-models-quickstart.es.md"
IMPORTS = {"from langchain_core.messages import": "from tracer.messages import"}

pytestmark = pytest.mark.skipif(not SEED.exists(), reason=f"the seed is not at {SEED}")


def _blocks() -> list[tuple[str, str | None]]:
    """The seed's Python blocks, each with the output block that follows it (if any)."""
    blocks = re.findall(r"```(\w+)\n(.*?)```", SEED.read_text(encoding="utf-8"), re.S)
    pairs: list[tuple[str, str | None]] = []
    for i, (lang, body) in enumerate(blocks):
        if lang == "python":
            following = blocks[i + 1] if i + 1 < len(blocks) else None
            pairs.append((body, following[1] if following and following[0] == "output" else None))
    return pairs


def _ours(code: str) -> str:
    if "langchain_openai" in code:
        return SETUP_CELL
    for theirs, ours in IMPORTS.items():
        code = code.replace(theirs, ours)
    return code


def _mask(text: str) -> str:
    text = re.sub(r"'id': '[0-9a-f-]{36}'", "'id': <run-id>", text)
    text = re.sub(r"UUID\('[0-9a-f-]{36}'\)", "UUID(<run-id>)", text)
    return re.sub(r"'(prompt|completion|total)_tokens': \d+", r"'\1_tokens': <n>", text)


def test_demo_cells_are_the_seed_blocks_with_our_imports() -> None:
    assert CELLS == [_ours(code) for code, _ in _blocks()]


def _tokens(*texts: str) -> int:
    return sum(len(tokenize(text)) for text in texts)


def test_every_seed_block_prints_what_the_seed_shows(tracing: tracer.Settings) -> None:
    namespace: dict[str, object] = {}
    checked = 0
    for code, expected in _blocks():
        printed = cell_output(_ours(code), namespace)
        if expected is None:
            assert printed == ""
            continue
        checked += 1
        if code.strip() == "result.llm_output":
            # The seed shows IPython's pretty-printer; compare the values instead of the layout.
            seed_value = ast.literal_eval(expected)
            ours = ast.literal_eval(printed)
            assert list(ours) == list(seed_value) == ["token_usage", "model_name"]
            assert ours["model_name"] == seed_value["model_name"]
            assert list(ours["token_usage"]) == list(seed_value["token_usage"])
            continue
        assert _mask(printed.strip()) == _mask(expected.strip()), code
    assert checked == 10

    # The token counts the seed masks are exact by the fake model's own count.
    system = "You are a helpful assistant that translates English to French."
    prompt = _tokens(system, "I love programming.") + _tokens(system, "I love artificial intelligence.")
    completion = _tokens("J'adore programmer.", "J'adore l'intelligence artificielle.")
    result = namespace["result"]
    assert result.llm_output["token_usage"] == {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}  # type: ignore[attr-defined]


def test_the_quickstart_is_traced_call_by_call(tracing: tracer.Settings) -> None:
    namespace: dict[str, object] = {}
    for code, _ in _blocks():
        cell_output(_ours(code), namespace)
    assert tracer.flush(timeout=30)

    with open_store(tracing.store_url) as store:
        runs = sorted(store.list_runs(project_name="tests", limit=100), key=lambda run: run.dotted_order)
        assert [run.run_type for run in runs] == ["llm"] * 10
        assert all(run.status == "success" and run.parent_run_id is None for run in runs)
        first, streamed, log_run = runs[0], runs[1], runs[5]
        # invoke: the conversation in, the reply out, usage and parameters recorded.
        assert [m["content"] for m in first.inputs["messages"][0]] == ["You're a helpful assistant", "What is the purpose of model regularization?"]
        reply = first.outputs["generations"][0][0]["message"]["content"]
        assert reply.startswith("The purpose of model regularization")
        assert first.prompt_tokens == _tokens("You're a helpful assistant", "What is the purpose of model regularization?")
        assert first.completion_tokens == _tokens(reply)
        assert first.invocation_params["model_name"] == "gpt-3.5-turbo" and first.model_name == "gpt-3.5-turbo"
        # Streams record each token and the time of the first one.
        for run in (streamed, log_run):
            tokens = [e for e in run.events if e["name"] == "new_token"]
            assert run.first_token_time is not None and run.start_time <= run.first_token_time <= run.end_time
            assert "".join(e.get("kwargs", {}).get("token", "") for e in tokens) == run.outputs["generations"][0][0]["text"]
        assert len([e for e in log_run.events if e["name"] == "new_token"]) == 110
        # generate: one run per conversation, the ids that LLMResult.run reports.
        assert {str(info.run_id) for info in namespace["result"].run} == {str(runs[8].id), str(runs[9].id)}  # type: ignore[attr-defined]
        # The run log is the source of truth: replaying it gives the stored run.
        for run in runs:
            assert Run.from_doc(store.replay_run(run.id)) == run
