"""Name lookups on a bounded thread pool of their own, shared by every session's proxy.

getaddrinfo blocks, and a call stuck in the system's resolver cannot be cancelled: its
thread stays busy until the resolver gives up (resolv.conf's timeout x attempts x
servers). So lookups never run on the event loop's default executor, which
``asyncio.to_thread`` shares with the rest of the orchestrator (container removal,
copy-out): they run on `LOOKUP_WORKERS` threads of their own, created on first use.

A call starts only on an idle worker, so nothing queues behind stuck calls: a caller
waits for a worker, and for a share of its own resolver (`PooledLookup`, at most
`LOOKUPS_PER_RESOLVER` calls at once), within its resolver's timeout, and leaves
nothing behind when that ends first. A worker and a share are given back when the call
returns, not when its caller stops waiting, so a session that gives up on its slow
lookups and asks again still holds no more than its share of the workers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

LOOKUP_WORKERS = 16
"""Threads of the shared pool."""
LOOKUPS_PER_RESOLVER = 4
"""Calls one resolver (one session's proxy) may have on the pool at once."""

BlockingLookup = Callable[[str, int], Sequence[str]]
"""``lookup(name, port)``, blocking: the addresses ``name`` has, as text."""


def getaddrinfo_addresses(name: str, port: int) -> list[str]:
    """The host's resolver (getaddrinfo), TCP addresses only. Blocks."""
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class Slots:
    """A number of places, taken in turn by coroutines of any event loop (waiting
    without blocking their loop) and given back from any thread."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._lock = threading.Lock()
        self._waiting: deque[Future[None]] = deque()

    async def take(self) -> None:
        """A place, once one is free; a caller cancelled while waiting holds none."""
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            grant: Future[None] = Future()
            self._waiting.append(grant)
        try:
            await asyncio.wrap_future(grant)
        except BaseException:
            if grant.cancel():
                with self._lock:
                    if grant in self._waiting:
                        self._waiting.remove(grant)
            else:
                self.give_back()  # granted as the caller stopped waiting: pass it on
            raise

    def give_back(self) -> None:
        """Free a place: to the longest waiting caller, if any."""
        with self._lock:
            while self._waiting:
                grant = self._waiting.popleft()
                if grant.set_running_or_notify_cancel():
                    break
            else:
                self._free += 1
                return
        grant.set_result(None)


class LookupPool:
    """``workers`` threads for blocking lookups; a call starts only on an idle one."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._idle = Slots(workers)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="airlock-lookup")

    async def run(self, blocking: BlockingLookup, name: str, port: int, share: Slots) -> list[str]:
        """``blocking(name, port)`` on an idle worker, holding a place of ``share``
        too; both are given back when the call returns, even after the caller is
        cancelled (an abandoned call keeps its worker until then)."""
        await share.take()
        try:
            await self._idle.take()
        except BaseException:
            share.give_back()
            raise

        def done(_: object) -> None:
            self._idle.give_back()
            share.give_back()

        try:
            call = self._executor.submit(blocking, name, port)
        except BaseException:
            done(None)
            raise
        call.add_done_callback(done)
        found: Sequence[str] = await asyncio.wrap_future(call)
        return list(found)


_pool: LookupPool | None = None
_pool_lock = threading.Lock()


def lookup_pool() -> LookupPool:
    """The process's pool, created on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = LookupPool(LOOKUP_WORKERS)
        return _pool


class PooledLookup:
    """A resolver's ``Lookup``: ``blocking`` (getaddrinfo by default) on the shared
    pool, at most ``in_flight`` calls at once for this lookup (one per resolver)."""

    def __init__(
        self,
        blocking: BlockingLookup = getaddrinfo_addresses,
        *,
        in_flight: int = LOOKUPS_PER_RESOLVER,
    ) -> None:
        self.blocking = blocking
        self._share = Slots(in_flight)

    async def __call__(self, name: str, port: int) -> list[str]:
        return await lookup_pool().run(self.blocking, name, port, self._share)
