"""The time budget that stops bashlex's infinite loops."""

from __future__ import annotations

import threading
import time

import pytest

from security import watchdog
from security.watchdog import BudgetExceeded, time_budget

# A budget that fires is proven by the exception; how soon after is the machine's speed.
# The bound below only catches a watchdog that fires far too late (or not at all): it is
# slack for a loaded machine, not a measurement.
LATE_S = 30.0
WAIT_S = 60.0  # for a thread to finish or the watchdog to go to sleep


def spin() -> None:
    while True:
        pass


def test_an_endless_loop_is_stopped_near_the_budget() -> None:
    start = time.perf_counter()
    with pytest.raises(BudgetExceeded), time_budget(0.05):
        spin()
    assert time.perf_counter() - start < LATE_S


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
    thread.join(timeout=WAIT_S)
    assert outcome == ["stopped"]


def test_finished_blocks_leave_no_exception_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchdog, "LINGER_SECONDS", 0.05)
    done = 0
    for _ in range(2000):
        with time_budget(0.05):
            done += 1
    # Run bytecode until the watchdog has looked at every deadline and gone to sleep: a
    # stray exception, fired for a finished block, would be delivered in this loop.
    deadline = time.monotonic() + WAIT_S
    while not watchdog._WATCHDOG._asleep and time.monotonic() < deadline:
        done += 0
    assert watchdog._WATCHDOG._asleep, "the watchdog never went to sleep"
    assert done == 2000


# The budget's exception may land in a garbage-collector callback first (reported by
# pytest as unraisable); the watchdog then fires again, as the test shows.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_bashlex_own_endless_loop_is_stopped() -> None:
    from security.shell import PARSE_BUDGET_S, _bashlex_parse

    start = time.perf_counter()
    with pytest.raises(BudgetExceeded):
        _bashlex_parse("x'${a'")  # bashlex 0.18 never returns on this
    assert time.perf_counter() - start < PARSE_BUDGET_S + LATE_S


def test_the_bashlex_loop_becomes_a_refusal_not_a_hang() -> None:
    from security import analyze

    start = time.perf_counter()
    verdict = analyze("x'${a'")
    assert verdict.decision == "ask"
    assert any(f.check == "S04" for f in verdict.findings)
    assert time.perf_counter() - start < LATE_S  # a refusal, not a hang


def test_a_budget_armed_while_the_watchdog_sleeps_still_fires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watchdog, "LINGER_SECONDS", 0.05)
    with time_budget(1.0):
        pass  # the thread exists and has just been used
    deadline = time.monotonic() + WAIT_S
    while not watchdog._WATCHDOG._asleep and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watchdog._WATCHDOG._asleep, "the watchdog never went to sleep"
    with pytest.raises(BudgetExceeded), time_budget(0.05):
        spin()
