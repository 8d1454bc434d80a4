"""Waiting in tests without betting on the machine's speed.

A test waits for an event (an output, an exit, a state), never for a fixed sleep, and
asserts what happened, never how long it took. Where it must wait for something that
has no event to wait on (a killed process going away), it asks again until the thing
holds or a *budget* is spent. A budget is a bound on liveness, not a measurement:
generous, so that only a broken sandbox uses it up, even on a slow, loaded machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Seconds a session has to answer, or a killed process to go, on a loaded 2-core machine
# under runsc. Only a broken sandbox comes near it.
LIVENESS_S = 120.0
# Seconds a command may take to print its first line (bash's start-up, under load). A
# timeout test gives its command at least this before the timeout fires, so the timeout
# still fires (the command sleeps far longer) but never before the first line.
START_S = 10.0


async def eventually(
    probe: Callable[[], Awaitable[T]],
    holds: Callable[[T], bool],
    budget: float = LIVENESS_S,
    pause: float = 0.25,
) -> T:
    """Call ``probe`` until ``holds`` its result or ``budget`` seconds are spent.

    Returns the last result either way: the caller asserts on it, so a failure shows
    what was last seen.
    """
    deadline = time.monotonic() + budget
    while True:
        result = await probe()
        if holds(result) or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(pause)
