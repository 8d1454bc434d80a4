"""The run's patch (a diff of two folders) and the cost of a model call."""

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
from orchestrator.runs.patch import diff_trees


def test_diff_trees_reports_changed_added_removed_and_binary_files(tmp_path: Path) -> None:
    before, after = tmp_path / "a", tmp_path / "b"
    for root in (before, after):
        (root / "src").mkdir(parents=True)
        (root / ".git").mkdir()
    (before / "src" / "same.py").write_text("x = 1\n")
    (after / "src" / "same.py").write_text("x = 1\n")
    (before / "src" / "m.py").write_text("a\nb\n")
    (after / "src" / "m.py").write_text("a\nc")  # changed, no final newline
    (before / "gone.txt").write_text("bye\n")
    (after / "new.txt").write_text("hi\n")
    (before / "blob.bin").write_bytes(b"\0\1")
    (after / "blob.bin").write_bytes(b"\0\2")
    (after / ".git" / "index").write_text("ignored\n")
    (after / "empty").write_text("")
    diff = diff_trees(before, after)
    assert diff.changed == ["blob.bin", "empty", "gone.txt", "new.txt", "src/m.py"]
    assert "--- /dev/null\n+++ b/empty\n" in diff.text
    assert "Binary files a/blob.bin and b/blob.bin differ" in diff.text
    assert "--- a/gone.txt\n+++ /dev/null\n" in diff.text
    assert "--- /dev/null\n+++ b/new.txt\n" in diff.text
    assert "-b\n+c\n\\ No newline at end of file\n" in diff.text


def test_no_change_is_an_empty_patch(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("same\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("same\n")
    diff = diff_trees(tmp_path / "a", tmp_path / "b")
    assert diff.text == "" and diff.changed == []


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
