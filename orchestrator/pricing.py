"""What a model call costs, from its usage and the model's list prices (USD per MTok)."""

from __future__ import annotations

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


def prices_for(model: str) -> Prices:
    """The prices of ``model`` (longest matching prefix, else the default)."""
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else DEFAULT_PRICES


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
