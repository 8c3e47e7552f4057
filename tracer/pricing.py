"""Cost in USD of a model call, from a price table that ships as data (`prices.json`).

Prices are per million tokens, by provider and model: `input`, `output`, and where the
provider charges differently for them `cached_input` (tokens read from a prompt cache) and
`cache_write` (tokens written to one). A model matches by exact name or else by its longest
listed prefix, so dated snapshots (`gpt-4o-mini-2024-07-18`) find their family. A model with no
price gets no cost (None), never 0: an unknown cost must not read as free.

Users extend or override the table with `register_prices(...)` or with a JSON file of the same
shape named by `TRACER_PRICES`.
"""

from __future__ import annotations

import json
import os
import threading
from importlib import resources
from typing import Any

__all__ = ["cost", "price_of", "register_prices", "prices"]

_table: dict[str, dict[str, dict[str, float]]] | None = None
_lock = threading.Lock()


def _load() -> dict[str, dict[str, dict[str, float]]]:
    table: dict[str, dict[str, dict[str, float]]] = {}
    shipped = json.loads(resources.files("tracer").joinpath("prices.json").read_text(encoding="utf-8"))
    sources = [shipped]
    extra = os.environ.get("TRACER_PRICES")
    if extra:
        with open(extra, encoding="utf-8") as file:
            sources.append(json.load(file))
    for source in sources:
        for provider, models in source.items():
            if not provider.startswith("_") and isinstance(models, dict):
                table.setdefault(provider, {}).update(models)
    return table


def prices() -> dict[str, dict[str, dict[str, float]]]:
    """The price table in force (loaded on first use)."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = _load()
    return _table


def register_prices(provider: str, model: str, *, input: float, output: float, cached_input: float | None = None, cache_write: float | None = None) -> None:
    """Set the price of a model, in USD per million tokens."""
    entry = {"input": input, "output": output}
    if cached_input is not None:
        entry["cached_input"] = cached_input
    if cache_write is not None:
        entry["cache_write"] = cache_write
    prices().setdefault(provider, {})[model] = entry


def price_of(provider: str | None, model: str | None) -> dict[str, float] | None:
    """The price entry for a model: exact name, else the longest listed prefix."""
    if not provider or not model:
        return None
    models = prices().get(provider)
    if not models:
        return None
    name = model.removeprefix("models/")
    if name in models:
        return models[name]
    matches = [listed for listed in models if name.startswith(listed)]
    return models[max(matches, key=len)] if matches else None


def cost(provider: str | None, model: str | None, usage: dict[str, Any] | None) -> float | None:
    """USD for one call's token usage (`input_tokens`, `output_tokens`, and
    `input_token_details.cache_read` / `cache_creation`), or None when unknown."""
    price = price_of(provider, model)
    if price is None or not usage or usage.get("input_tokens") is None or usage.get("output_tokens") is None:
        return None
    details = usage.get("input_token_details") or {}
    cached = details.get("cache_read") or 0
    written = details.get("cache_creation") or 0
    plain = max(0, (usage.get("input_tokens") or 0) - cached - written)
    total = plain * price["input"] + (usage.get("output_tokens") or 0) * price["output"]
    total += cached * price.get("cached_input", price["input"])
    total += written * price.get("cache_write", price["input"])
    return round(total / 1_000_000, 10)
