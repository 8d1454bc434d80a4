"""SIGTERM and SIGHUP cancel a command as Ctrl-C does.

CI systems cancel a job with SIGTERM (then SIGKILL after a grace period), and a closed
terminal sends SIGHUP. Python's default for both is to die at once, which skips every
``finally``: the session's container outlives the command and the run's summary is
never written. Under `run_cancellable` either signal cancels the running coroutine, its
cleanup runs, and `Terminated` says which signal it was (exit 128 + N).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CANCELLING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(Exception):
    """The command was cancelled by ``signal`` and has cleaned up."""

    def __init__(self, signal_number: int) -> None:
        self.signal = signal_number
        super().__init__(f"cancelled by {signal.Signals(signal_number).name}")


def run_cancellable(work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` of ``work``, where SIGTERM and SIGHUP cancel it (Ctrl-C already does).

    Raises `Terminated` once ``work`` has handled its cancellation.
    """

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        received: list[int] = []

        def cancel(number: int) -> None:
            if not received:
                received.append(number)
                task.cancel()

        for number in CANCELLING:
            loop.add_signal_handler(number, cancel, number)
        try:
            return await work
        except asyncio.CancelledError:
            if received:
                raise Terminated(received[0]) from None
            raise
        finally:
            for number in CANCELLING:
                loop.remove_signal_handler(number)

    return asyncio.run(main())
