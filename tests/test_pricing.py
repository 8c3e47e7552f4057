"""Cost in USD from the shipped price table, and in the trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tracer
from tracer import pricing
from tracer.chat_models import FakeChatModel
from tracer.store import open_store


@pytest.fixture(autouse=True)
def fresh_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing, "_table", None)


def test_exact_and_dated_snapshot_names_find_their_price() -> None:
    assert pricing.price_of("openai", "gpt-4o-mini") == pricing.price_of("openai", "gpt-4o-mini-2024-07-18")
    # The longest prefix wins: gpt-4o-mini is not priced as gpt-4o.
    assert pricing.price_of("openai", "gpt-4o-mini-2024-07-18")["input"] == 0.15  # type: ignore[index]
    assert pricing.price_of("google", "models/gemini-2.0-flash")["output"] == 0.4  # type: ignore[index]


def test_cost_counts_cached_and_written_tokens_at_their_prices() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 500, "input_token_details": {"cache_read": 200, "cache_creation": 100}}
    # claude-3-5-sonnet: input 3.0, cached 0.3, cache write 3.75, output 15.0 per million.
    expected = (700 * 3.0 + 200 * 0.3 + 100 * 3.75 + 500 * 15.0) / 1_000_000
    assert pricing.cost("anthropic", "claude-3-5-sonnet-20241022", usage) == pytest.approx(expected)


@pytest.mark.parametrize(("provider", "model", "usage"), [("openai", "no-such-model", {"input_tokens": 5, "output_tokens": 1}), (None, "gpt-4o", {"input_tokens": 5, "output_tokens": 1}), ("openai", "gpt-4o", None), ("openai", "gpt-4o", {"input_tokens": 5, "output_tokens": None})])
def test_unknown_cost_is_none_not_zero(provider: str | None, model: str, usage: Any) -> None:
    assert pricing.cost(provider, model, usage) is None


def test_users_extend_the_table_in_code_and_by_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"local": {"my-llama": {"input": 1.0, "output": 2.0}}}))
    monkeypatch.setenv("TRACER_PRICES", str(prices))
    assert pricing.cost("local", "my-llama", {"input_tokens": 1_000_000, "output_tokens": 1_000_000}) == 3.0
    pricing.register_prices("openai", "gpt-4o", input=1.0, output=1.0)
    assert pricing.cost("openai", "gpt-4o", {"input_tokens": 500_000, "output_tokens": 500_000}) == 1.0


class _PricedFake(FakeChatModel):
    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"provider": "openai", "model_name": self.model_name}


def test_traced_calls_record_their_cost(tracing: tracer.Settings) -> None:
    priced = _PricedFake(["one two three"], model="gpt-4o-mini")
    unpriced = FakeChatModel(["one two three"])
    priced.invoke("hello there")
    unpriced.invoke("hello there")
    assert tracer.flush(timeout=30)
    with open_store(tracing.store_url) as store:
        runs = {run.model_name: run for run in store.list_runs(project_name="tests")}
    run = runs["gpt-4o-mini"]
    assert run.cost == pytest.approx((run.prompt_tokens * 0.15 + run.completion_tokens * 0.6) / 1_000_000)
    assert runs["fake-chat"].cost is None
