"""Copying bytes between stream pairs, with bounded buffers and an idle timeout.

Large transfers between two sockets switch to the kernel's splice(2) (`zero_copy`).

Each direction reads at most one piece, writes it and waits for the writer to drain
below its high-water mark before reading again, so a slow side holds back the fast one
instead of filling memory. When one side ends its sending (EOF), the other is told so
(half-close) and the opposite direction carries on until it ends too. An exchange idle
in both directions for ``idle`` seconds is ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sandbox.egress.broker import StreamPair
from sandbox.egress.zero_copy import KernelBudget, eligible, pump_sockets

log = logging.getLogger(__name__)


class Activity:
    """When bytes last moved, in either direction of one exchange."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.last = self._loop.time()

    def touch(self) -> None:
        self.last = self._loop.time()

    async def watch(self, idle: float) -> None:
        """Return once nothing has moved for ``idle`` seconds."""
        while (wait := self.last + idle - self._loop.time()) > 0:
            await asyncio.sleep(wait)


async def pump(
    source: StreamPair,
    target: asyncio.StreamWriter,
    *,
    piece: int,
    moved: Callable[[int], None],
    splice_after: int | None = None,
    budget: KernelBudget | None = None,
) -> None:
    """Copy ``source``'s bytes to ``target`` until EOF, then half-close ``target``.
    With ``splice_after``, once that many bytes have passed and both ends are sockets,
    the rest moves in the kernel (`zero_copy`), if ``budget`` has room for it."""
    kernel = splice_after is not None and eligible(source[1]) and eligible(target)
    passed = 0
    while not kernel or passed < (splice_after or 0):
        data = await source[0].read(piece)
        if not data:
            if target.can_write_eof() and not target.is_closing():
                target.write_eof()
            return
        target.write(data)
        moved(len(data))
        passed += len(data)
        await target.drain()
        if kernel and passed >= (splice_after or 0) and budget is not None and not budget.take():
            kernel = False  # the proxy's kernel budget is spent: this one stays on streams
            budget = None
    try:
        await pump_sockets(source, target, moved=moved)
    finally:
        if budget is not None:
            budget.give_back()


async def carry(
    up: Coroutine[Any, Any, None],
    down: Coroutine[Any, Any, None],
    *,
    activity: Activity,
    idle: float,
    down_ends: bool,
) -> str | None:
    """Run both directions until both end (or, with ``down_ends``, until ``down`` ends:
    a relayed response ends its request). None when they ended cleanly, else what ended
    them: an error in either, or the idle timeout. Closes nothing."""
    up_task = asyncio.ensure_future(up)
    down_task = asyncio.ensure_future(down)
    watchdog = asyncio.ensure_future(activity.watch(idle))
    pending: set[asyncio.Future[None]] = {up_task, down_task}
    try:
        while pending:
            done, _ = await asyncio.wait({*pending, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            if watchdog in done:
                return "idle timeout"
            for task in done:
                pending.discard(task)
                error = task.exception()
                if error is not None:
                    return describe(error)
            if down_ends and down_task.done():
                return None
        return None
    finally:
        for task in (up_task, down_task, watchdog):
            task.cancel()
        await asyncio.gather(up_task, down_task, watchdog, return_exceptions=True)


async def splice(
    client: StreamPair,
    upstream: StreamPair,
    *,
    piece: int,
    idle: float,
    up: Callable[[int], None],
    down: Callable[[int], None],
    splice_after: int | None = None,
    budget: KernelBudget | None = None,
) -> str | None:
    """Carry bytes both ways until both directions end (see `carry`); each direction
    may switch to the kernel (see `pump`)."""
    activity = Activity()

    def moved_up(count: int) -> None:
        up(count)
        activity.touch()

    def moved_down(count: int) -> None:
        down(count)
        activity.touch()

    return await carry(
        pump(
            client,
            upstream[1],
            piece=piece,
            moved=moved_up,
            splice_after=splice_after,
            budget=budget,
        ),
        pump(
            upstream,
            client[1],
            piece=piece,
            moved=moved_down,
            splice_after=splice_after,
            budget=budget,
        ),
        activity=activity,
        idle=idle,
        down_ends=False,
    )


def describe(error: BaseException) -> str:
    """A few words for what ended an exchange."""
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    if isinstance(error, BrokenPipeError | ConnectionAbortedError):
        return "connection closed"
    if isinstance(error, asyncio.IncompleteReadError):
        return "connection closed mid-message"
    if isinstance(error, OSError):
        return (error.strerror or type(error).__name__)[:200]
    if not isinstance(error, ValueError):
        log.error("egress: an exchange ended by %r", error, exc_info=error)
    return (str(error) or type(error).__name__)[:200]
