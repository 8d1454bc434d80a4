"""The time budget that stops bashlex's infinite loops."""

from __future__ import annotations

import threading
import time

import pytest

from security import watchdog
from security.watchdog import BudgetExceeded, time_budget


def spin() -> None:
    while True:
        pass


def test_an_endless_loop_is_stopped_near_the_budget() -> None:
    start = time.perf_counter()
    with pytest.raises(BudgetExceeded), time_budget(0.05):
        spin()
    assert time.perf_counter() - start < 1.0


def test_works_outside_the_main_thread() -> None:
    outcome: list[str] = []

    def worker() -> None:
        try:
            with time_budget(0.05):
                spin()
        except BudgetExceeded:
            outcome.append("stopped")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=5)
    assert outcome == ["stopped"]


def test_finished_blocks_leave_no_exception_behind() -> None:
    done = 0
    for _ in range(2000):
        with time_budget(0.05):
            done += 1
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:  # a stray exception would be delivered here
        done += 0
    assert done == 2000


# The budget's exception may land in a garbage-collector callback first (reported by
# pytest as unraisable); the watchdog then fires again, as the test shows.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_bashlex_own_endless_loop_is_stopped() -> None:
    from security.shell import PARSE_BUDGET_S, _bashlex_parse

    start = time.perf_counter()
    with pytest.raises(BudgetExceeded):
        _bashlex_parse("x'${a'")  # bashlex 0.18 never returns on this
    assert time.perf_counter() - start < PARSE_BUDGET_S + 0.5


def test_the_bashlex_loop_becomes_a_refusal_not_a_hang() -> None:
    from security import analyze

    start = time.perf_counter()
    verdict = analyze("x'${a'")
    assert verdict.decision == "ask"
    assert any(f.check == "S04" for f in verdict.findings)
    assert time.perf_counter() - start < 0.5


def test_a_budget_armed_while_the_watchdog_sleeps_still_fires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watchdog, "LINGER_SECONDS", 0.05)
    with time_budget(1.0):
        pass  # the thread exists and has just been used
    deadline = time.monotonic() + 5
    while not watchdog._WATCHDOG._asleep and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watchdog._WATCHDOG._asleep, "the watchdog never went to sleep"
    with pytest.raises(BudgetExceeded), time_budget(0.05):
        spin()
