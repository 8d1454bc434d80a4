"""What a model call costs, from its usage and the model's list prices (USD per MTok).

The built-in table holds list prices; ``AIRLOCK_PRICES`` may name a YAML file of
``model prefix: {input: ..., output: ...}`` entries (negotiated prices, new models)
that override and extend it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict


class Prices(BaseModel):
    """List prices of one model family, in USD per million tokens."""

    model_config = ConfigDict(frozen=True)

    input: float
    output: float
    cache_write: float  # 5-minute cache writes: 1.25x input
    cache_read: float  # cache hits: 0.1x input


def _family(input_price: float, output_price: float) -> Prices:
    return Prices(
        input=input_price,
        output=output_price,
        cache_write=input_price * 1.25,
        cache_read=input_price * 0.1,
    )


# Longest prefix wins; a model not listed is priced as the default (Sonnet), so a
# budget still stops a run rather than counting nothing.
PRICES: dict[str, Prices] = {
    "claude-opus-4-1": _family(15.0, 75.0),
    "claude-opus-4-0": _family(15.0, 75.0),
    "claude-opus-4-2025": _family(15.0, 75.0),  # Opus 4 by its dated name
    "claude-opus-4": _family(5.0, 25.0),
    "claude-sonnet-4": _family(3.0, 15.0),
    "claude-haiku-4": _family(1.0, 5.0),
    "claude-3-5-haiku": _family(0.8, 4.0),
}
DEFAULT_PRICES = PRICES["claude-sonnet-4"]


PRICES_ENV = "AIRLOCK_PRICES"  # a YAML file: model prefix -> {input, output[, cache_*]}


class PricingError(ValueError):
    """A price file that cannot be used; the message says why."""


@functools.cache
def price_table(path: str | None = None) -> dict[str, Prices]:
    """The built-in prices, with those of ``path`` (default: $AIRLOCK_PRICES) over them."""
    path = path or os.environ.get(PRICES_ENV) or None
    if path is None:
        return PRICES
    try:
        data = yaml.safe_load(Path(path).read_text())
        extra = {
            prefix: Prices.model_validate(
                {"cache_write": p["input"] * 1.25, "cache_read": p["input"] * 0.1, **p}
            )
            for prefix, p in (data or {}).items()
        }
    except (OSError, yaml.YAMLError, TypeError, KeyError, AttributeError, ValueError) as exc:
        raise PricingError(f"{path}: not a price table ({type(exc).__name__}: {exc})") from exc
    return {**PRICES, **extra}


def prices_for(model: str) -> Prices:
    """The prices of ``model`` (longest matching prefix, else the default)."""
    table = price_table()
    matches = [prefix for prefix in table if model.startswith(prefix)]
    return table[max(matches, key=len)] if matches else DEFAULT_PRICES


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
) -> float:
    """The cost of one call in USD."""
    p = prices_for(model)
    total = (
        input_tokens * p.input
        + output_tokens * p.output
        + cache_read_input_tokens * p.cache_read
        + cache_creation_input_tokens * p.cache_write
    )
    return total / 1_000_000
