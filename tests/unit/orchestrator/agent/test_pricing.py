"""The cost of a model call, and the price table behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.agent.pricing import (
    DEFAULT_PRICES,
    PRICES_ENV,
    PricingError,
    cost_usd,
    price_table,
    prices_for,
)


@pytest.mark.parametrize(
    ("model", "input_price"),
    [
        ("claude-sonnet-4-6", 3.0),
        ("claude-opus-4-5-20251101", 5.0),
        ("claude-opus-4-1-20250805", 15.0),
        ("claude-opus-4-20250514", 15.0),
        ("claude-haiku-4-5", 1.0),
        ("some-future-model", DEFAULT_PRICES.input),
    ],
)
def test_prices_by_longest_prefix(model: str, input_price: float) -> None:
    assert prices_for(model).input == input_price


def test_cost_counts_cache_reads_and_writes() -> None:
    # Sonnet: $3 in, $15 out, cache writes 1.25x, reads 0.1x (per million tokens)
    cost = cost_usd("claude-sonnet-4-6", 1_000_000, 1_000_000, 1_000_000, 1_000_000)
    assert cost == pytest.approx(3 + 15 + 0.3 + 3.75)


def test_a_price_file_overrides_and_extends_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "claude-sonnet-4: {input: 2.0, output: 10.0}\nmy-model: {input: 1, output: 1}\n"
    )
    monkeypatch.setenv(PRICES_ENV, str(prices))
    price_table.cache_clear()
    try:
        assert prices_for("claude-sonnet-4-6").input == 2.0
        assert prices_for("claude-sonnet-4-6").cache_read == pytest.approx(0.2)
        assert prices_for("my-model-x").output == 1.0
        assert prices_for("claude-haiku-4-5").input == 1.0  # untouched
        prices.write_text("- not a mapping\n")
        price_table.cache_clear()
        with pytest.raises(PricingError, match="not a price table"):
            prices_for("claude-sonnet-4-6")
    finally:
        monkeypatch.delenv(PRICES_ENV)
        price_table.cache_clear()
