"""The event loop the socket transport's proxies run on: a thread of their own.

Every byte of a session's egress over its Unix socket goes through the proxy, a few
event-loop turns per request and per piece. On the caller's loop that work would
compete with the agent loop, the exec channels and every other session; on its own
thread it does not, and it can use uvloop (libuv), which runs the same proxy code about
three times faster per request than asyncio's own loop (`airlock bench egress`). Without
uvloop installed the thread runs asyncio's loop.

Coroutines get there with `run_on_proxy_loop` from any other loop; a caller cancelled
while waiting cancels the coroutine there too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
THREAD_NAME = "airlock-egress"

_loop: asyncio.AbstractEventLoop | None = None
_thread: int | None = None  # the loop's thread's ident
_lock = threading.Lock()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover (a dependency; a platform without it)
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def proxy_loop() -> asyncio.AbstractEventLoop:
    """The process's proxy loop, running on its daemon thread from the first call."""
    global _loop
    with _lock:
        if _loop is None:
            loop = _new_loop()
            ready = threading.Event()

            def serve() -> None:
                global _thread
                _thread = threading.get_ident()
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=serve, name=THREAD_NAME, daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


def on_proxy_loop() -> bool:
    """Whether the caller runs on the proxy loop's thread."""
    return _thread is not None and threading.get_ident() == _thread


async def run_on_proxy_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the proxy loop and wait for its result from this loop."""
    future = asyncio.run_coroutine_threadsafe(coroutine, proxy_loop())
    return await asyncio.wrap_future(future)
