"""WarmPool: started sessions kept ready, so acquiring one is a handoff, not a start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from sandbox.base import Backend, SandboxError, Session
from sandbox.spec import SessionSpec


class WarmPool:
    """Keeps ``size`` started sessions of one spec; each is handed out once, never reused.

    ``room``, when given, says how many more sessions the pool's holder lets it start
    now (its capacity left): the pool never starts more, so a holder that counts
    `held` among its containers never goes past its capacity because of the pool.
    """

    def __init__(
        self,
        backend: Backend,
        spec: SessionSpec,
        size: int = 2,
        room: Callable[[], int] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a warm pool holds at least one session")
        self.backend = backend
        self.spec = spec
        self.size = size
        self.room = room
        self._ready: asyncio.Queue[Session] = asyncio.Queue()
        self._refill: asyncio.Task[None] | None = None
        self._starting = 0
        self._closing = 0
        self._closers: set[asyncio.Task[None]] = set()
        self._closed = False
        self.last_error: str | None = None

    @property
    def ready(self) -> int:
        return self._ready.qsize()

    @property
    def held(self) -> int:
        """Containers the pool has: ready, being started, or being removed."""
        return self._ready.qsize() + self._starting + self._closing

    async def __aenter__(self) -> WarmPool:
        await self.fill()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        await self.close()

    def _missing(self) -> int:
        missing = self.size - self._ready.qsize() - self._starting
        if self.room is not None:
            missing = min(missing, self.room())
        return 0 if self._closed else max(0, missing)

    async def fill(self) -> int:
        """Start sessions until ``size`` are ready, or ``room`` allows no more (in
        parallel); how many started."""
        missing = self._missing()
        self._starting += missing  # reserved now: `held` counts them from here
        if not missing:
            return 0
        started = await asyncio.gather(*(self._start_one() for _ in range(missing)))
        return sum(started)

    async def acquire(self) -> Session:
        """A started session, now the caller's to close. Refills in the background."""
        if self._closed:
            raise SandboxError("the pool is closed")
        try:
            session = self._ready.get_nowait()
        except asyncio.QueueEmpty:
            session = await self.backend.start(self.spec)  # pool drained: start one now
        if not session.alive:
            await session.close()
            session = await self.backend.start(self.spec)
        self.refill()
        return session

    def take(self) -> Session | None:
        """A ready session, now the caller's to close, or None when none is ready (it
        starts none). Never waits, so a caller's count of what it holds stays exact."""
        while not self._closed:
            try:
                session = self._ready.get_nowait()
            except asyncio.QueueEmpty:
                break
            if session.alive:
                self.refill()
                return session
            self._close_later(session)
        self.refill()
        return None

    async def evict(self) -> bool:
        """Remove one ready session to make room for another kind; whether one was."""
        try:
            session = self._ready.get_nowait()
        except asyncio.QueueEmpty:
            return False
        self._closing += 1
        try:
            await session.close()
        finally:
            self._closing -= 1
        return True

    def refill(self) -> None:
        """Fill in the background (after a handoff, or when the holder has room again)."""
        if not self._closed and (self._refill is None or self._refill.done()):
            self._refill = asyncio.create_task(self._fill_while_it_helps(), name="warm-refill")

    async def close(self) -> None:
        """Stop refilling and remove every session still waiting in the pool. Starts
        under way finish first, and their sessions are removed too."""
        self._closed = True
        if self._refill is not None:
            await asyncio.gather(self._refill, return_exceptions=True)
        await asyncio.gather(*self._closers, return_exceptions=True)
        while not self._ready.empty():
            await self._ready.get_nowait().close()

    async def _fill_while_it_helps(self) -> None:
        while await self.fill():  # more room may have come while it started some
            pass

    def _close_later(self, session: Session) -> None:
        self._closing += 1

        async def close() -> None:
            try:
                await session.close()
            finally:
                self._closing -= 1

        task = asyncio.create_task(close(), name="warm-close")
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def _start_one(self) -> int:
        """One start; `fill` already counted it in ``_starting``."""
        try:
            session = await self.backend.start(self.spec)
        except Exception as exc:  # a background start: its error is kept in last_error
            self.last_error = str(exc) if isinstance(exc, SandboxError) else repr(exc)
            return 0
        finally:
            self._starting -= 1
        if self._closed:
            await session.close()
            return 0
        await self._ready.put(session)
        return 1
