"""WarmPool: started sessions kept ready, so acquiring one is a handoff, not a start."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from sandbox.base import Backend, SandboxError, Session
from sandbox.spec import SessionSpec


class WarmPool:
    """Keeps ``size`` started sessions of one spec; each is handed out once, never reused."""

    def __init__(self, backend: Backend, spec: SessionSpec, size: int = 2) -> None:
        if size < 1:
            raise ValueError("a warm pool holds at least one session")
        self.backend = backend
        self.spec = spec
        self.size = size
        self._ready: asyncio.Queue[Session] = asyncio.Queue()
        self._refill: asyncio.Task[None] | None = None
        self._starting = 0
        self._closed = False
        self.last_error: str | None = None

    @property
    def ready(self) -> int:
        return self._ready.qsize()

    async def __aenter__(self) -> WarmPool:
        await self.fill()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:  # fmt: skip
        await self.close()

    async def fill(self) -> None:
        """Start sessions until ``size`` are ready (in parallel)."""
        missing = self.size - self._ready.qsize() - self._starting
        if missing > 0 and not self._closed:
            await asyncio.gather(*(self._start_one() for _ in range(missing)))

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
        self._schedule_refill()
        return session

    async def close(self) -> None:
        """Stop refilling and remove every session still waiting in the pool."""
        self._closed = True
        if self._refill is not None:
            self._refill.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refill
        while not self._ready.empty():
            await self._ready.get_nowait().close()

    def _schedule_refill(self) -> None:
        if self._refill is None or self._refill.done():
            self._refill = asyncio.create_task(self.fill(), name="warm-pool-refill")

    async def _start_one(self) -> None:
        self._starting += 1
        try:
            session = await self.backend.start(self.spec)
        except SandboxError as exc:
            self.last_error = str(exc)
            return
        finally:
            self._starting -= 1
        if self._closed:
            await session.close()
        else:
            await self._ready.put(session)
