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

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


REFIRE_SECONDS = 0.01
TICK_SECONDS = 0.05
LINGER_SECONDS = 2.0


class BudgetExceeded(Exception):
    """The guarded code ran past its time budget."""


class _Watchdog:
    """One daemon thread for every armed deadline in the process.

    Arming must be cheap (the analyzer arms once per parse): it wakes the thread
    only when the thread sleeps with nothing to watch. While in use, the thread
    looks at least every ``TICK_SECONDS``, so a deadline armed meanwhile is seen in
    time; ``LINGER_SECONDS`` after the last arm it sleeps until the next arm.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # taken directly where speed counts (arm, disarm)
        self._cond = threading.Condition(self._lock)
        self._deadlines: dict[int, tuple[int, float]] = {}  # token -> (thread id, deadline)
        self._fired: set[int] = set()
        self._next_token = 0
        self._thread: threading.Thread | None = None
        self._asleep = False
        self._last_armed = 0.0

    def arm(self, seconds: float) -> int:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="budget-watchdog", daemon=True
                )
                self._thread.start()
            self._next_token += 1
            token = self._next_token
            self._last_armed = now = time.monotonic()
            self._deadlines[token] = (threading.get_ident(), now + seconds)
            if self._asleep:
                self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._lock:
            self._deadlines.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                _set_async_exc(threading.get_ident(), ctypes.py_object())  # clear if pending

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                if not self._deadlines:
                    if now - self._last_armed < LINGER_SECONDS:
                        self._cond.wait(TICK_SECONDS)
                        continue
                    self._asleep = True
                    self._cond.wait()
                    self._asleep = False
                    continue
                earliest = min(deadline for _, deadline in self._deadlines.values())
                if earliest > now:
                    self._cond.wait(min(earliest - now, TICK_SECONDS))
                    continue
                for token, (thread_id, deadline) in list(self._deadlines.items()):
                    if deadline <= now:
                        # Re-fire until disarmed: an exception delivered inside a
                        # finalizer is swallowed and would otherwise be lost.
                        self._deadlines[token] = (thread_id, now + REFIRE_SECONDS)
                        self._fired.add(token)
                        _set_async_exc(thread_id, ctypes.py_object(BudgetExceeded))


_WATCHDOG = _Watchdog()


class time_budget:
    """Raise `BudgetExceeded` in this thread if the block runs longer than ``seconds``."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._token = 0

    def __enter__(self) -> None:
        self._token = _WATCHDOG.arm(self._seconds)

    def __exit__(self, *exc: object) -> None:
        _WATCHDOG.disarm(self._token)
