"""A time budget for pure-Python code that may loop forever (bashlex has such bugs).

`time_budget(seconds)` arms a deadline for the calling thread; one shared watchdog
thread raises `BudgetExceeded` inside that thread when the deadline passes, via
CPython's asynchronous-exception API. Leaving the block disarms it, and clears an
exception that was scheduled but not yet delivered, so it can never escape later.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


REFIRE_SECONDS = 0.01


class BudgetExceeded(Exception):
    """The guarded code ran past its time budget."""


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadlines: dict[int, tuple[int, float]] = {}  # token -> (thread id, deadline)
        self._fired: set[int] = set()
        self._next_token = 0
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> int:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="budget-watchdog", daemon=True
                )
                self._thread.start()
            self._next_token += 1
            token = self._next_token
            was_idle = not self._deadlines
            self._deadlines[token] = (threading.get_ident(), time.monotonic() + seconds)
            if was_idle:
                self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._deadlines.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                _set_async_exc(threading.get_ident(), ctypes.py_object())  # clear if pending

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._deadlines:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                earliest = min(deadline for _, deadline in self._deadlines.values())
                if earliest > now:
                    self._cond.wait(earliest - now)
                    continue
                for token, (thread_id, deadline) in list(self._deadlines.items()):
                    if deadline <= now:
                        # Re-fire until disarmed: an exception delivered inside a
                        # finalizer is swallowed and would otherwise be lost.
                        self._deadlines[token] = (thread_id, now + REFIRE_SECONDS)
                        self._fired.add(token)
                        _set_async_exc(thread_id, ctypes.py_object(BudgetExceeded))


_WATCHDOG = _Watchdog()


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise `BudgetExceeded` in this thread if the block runs longer than ``seconds``."""
    token = _WATCHDOG.arm(seconds)
    try:
        yield
    finally:
        _WATCHDOG.disarm(token)
