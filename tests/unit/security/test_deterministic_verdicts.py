"""A verdict depends on the line and the policy only: not on load, threads or timing.

The analyzer once stopped bashlex with a wall-clock watchdog: `ls` with 800 file names
was `allow` on an idle machine and `ask` on a loaded one, and the watchdog's
asynchronous exception could land in unrelated code (a thread's bootstrap, a garbage
collector callback). Its budget is now counted in steps, in the parsing thread.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from orchestrator.devtools.bench import corpus_commands
from security import PRESETS, Decision, Policy, Rule, Verdict, analyze
from security.checks.text import MAX_LINE_CHARS

LONG_LINES = [
    "ls " + " ".join(f"src/module_{i:04d}.py" for i in range(800)),  # the reported line
    "ls " + " ".join(f"f{i:04d}.c" for i in range(2000)),
    "cat <<'EOF'\n" + "some text with $HOME and `date` in it\n" * 420 + "EOF",
    "echo " + "$(echo " * 20 + "x" + ")" * 20,
    "grep -rn TODO " + " ".join(f"docs/page{i}.md" for i in range(900)),
    "x'${a'",  # bashlex never finishes this one: the budget ends it
    "echo " + "a" * 4000 + "'${b'",
]
LINES = corpus_commands() + LONG_LINES
SAME_LINES_UNDER = "dev"  # a second policy, on the long lines


def verdicts() -> list[dict[str, Any]]:
    out = [analyze(line, "read-only").model_dump() for line in LINES]
    out += [analyze(line, SAME_LINES_UNDER).model_dump() for line in LONG_LINES]
    return out


@pytest.fixture(scope="module")
def idle() -> list[dict[str, Any]]:
    return verdicts()


def assert_same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs, mine["command"][:100]


@contextmanager
def busy_cpus() -> Iterator[None]:
    """Every CPU busy with other processes (two per CPU) for the duration of the block."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(2 * (os.cpu_count() or 2))
    ]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
        for spinner in spinners:
            spinner.wait()


@contextmanager
def tiny_switch_interval() -> Iterator[None]:
    """Threads of this process take turns every microsecond; one spins all along."""
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            count += 1

    spinner = threading.Thread(target=spin)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(old)


def test_the_reported_line_is_allowed(idle: list[dict[str, Any]]) -> None:
    first_long = len(corpus_commands())
    assert idle[first_long]["command"] == LONG_LINES[0]
    assert idle[first_long]["decision"] == Decision.ALLOW
    assert all(len(line) <= MAX_LINE_CHARS for line in LONG_LINES)


def test_verdicts_are_the_same_while_other_processes_load_every_cpu(
    idle: list[dict[str, Any]],
) -> None:
    with busy_cpus():
        loaded = verdicts()
    assert_same(loaded, idle)


def test_verdicts_are_the_same_with_a_microsecond_switch_interval(
    idle: list[dict[str, Any]],
) -> None:
    with tiny_switch_interval():
        switched = verdicts()
    assert_same(switched, idle)


def test_no_exception_escapes_into_unrelated_code(idle: list[dict[str, Any]]) -> None:
    """Analyses in many threads at once, among threads starting and ending and garbage
    collections, with a microsecond switch interval: every analysis gives its verdict,
    and no exception shows up anywhere else (a thread's bootstrap, a gc callback)."""
    strays: list[str] = []
    old_excepthook, old_unraisable = threading.excepthook, sys.unraisablehook
    threading.excepthook = lambda args: strays.append(f"thread: {args.exc_type!r}")
    sys.unraisablehook = lambda args: strays.append(f"unraisable: {args.exc_type!r}")

    def collected(phase: str, info: dict[str, Any]) -> None:
        sum(range(100))  # unrelated work inside a gc callback

    gc.callbacks.append(collected)
    lines = LONG_LINES + corpus_commands()[::20]
    expected = {line: analyze(line, "read-only").model_dump() for line in lines}
    wrong: list[str] = []
    small_jobs: list[int] = []
    after: list[int] = []

    def analyst() -> None:
        # One pass each (three before: 30 s of the suite): the four passes still run at
        # once, interleaved every microsecond, among helper threads and collections.
        for line in lines:
            if analyze(line, "read-only").model_dump() != expected[line]:
                wrong.append(line)
        after.append(sum(range(100_000)))  # unrelated work once the analyses are done

    def small_job() -> None:
        gc.collect(0)
        small_jobs.append(sum(range(1000)))

    try:
        with tiny_switch_interval():
            analysts = [threading.Thread(target=analyst) for _ in range(4)]
            for thread in analysts:
                thread.start()
            started = 0
            while any(thread.is_alive() for thread in analysts):
                helper = threading.Thread(target=small_job)
                helper.start()
                helper.join()
                started += 1
            for thread in analysts:
                thread.join()
    finally:
        gc.callbacks.remove(collected)
        threading.excepthook, sys.unraisablehook = old_excepthook, old_unraisable
    assert (strays, wrong) == ([], [])
    assert after == [sum(range(100_000))] * len(analysts)
    assert started > 0 and small_jobs == [sum(range(1000))] * started


# -- a process pool can run the analyzer later: inputs and outputs pickle ---------------

POLICIES = [
    *PRESETS.values(),
    Policy(
        name="custom",
        headless=True,
        overrides={"S37": "allow"},
        rules=[Rule(prefix=["make"], decision=Decision.ALLOW)],
    ),
]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda policy: policy.name)
def test_policies_and_verdicts_pickle(policy: Policy) -> None:
    assert pickle.loads(pickle.dumps(policy)) == policy  # noqa: S301 (our own bytes)
    for line in ["ls -la | grep x > out", "rm -rf ~", "x'${a'", "make test"]:
        verdict = analyze(line, policy)
        again = pickle.loads(pickle.dumps(verdict))  # noqa: S301
        assert isinstance(again, Verdict) and again == verdict


def test_a_process_pool_gives_the_same_verdicts() -> None:
    """analyze is a pure function of (line, policy): a worker process, as a future
    backstop for the service, gives exactly what the calling process does."""
    lines = [*LONG_LINES, *corpus_commands()[::50]]
    jobs = [(line, policy) for line in lines for policy in POLICIES]
    here = [analyze(line, policy) for line, policy in jobs]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        there = list(pool.map(analyze, *zip(*jobs, strict=True)))
    assert there == here
