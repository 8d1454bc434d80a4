"""The CLI's consoles: never hard-wrapped, and laid out wide in a log."""

from __future__ import annotations

import pytest

from orchestrator.cli import consoles


def test_a_log_gets_wide_tables_and_no_hard_wrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    made = consoles.console()
    assert not made.is_terminal  # pytest captures the output: a log, as in CI
    assert made.width == consoles.LOG_WIDTH
    assert made.soft_wrap


def test_columns_still_decides_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "97")
    assert consoles.console(stderr=True).width == 97
