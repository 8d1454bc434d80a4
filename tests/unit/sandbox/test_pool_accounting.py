"""WarmPool's count of what it holds: starts reserved before they begin, never past the
holder's room, handoffs and evictions that never wait. The backend here is a stand-in
that starts nothing real (the pool, not a sandbox, is under test); the pool against the
real engine is tests/integration/test_pool.py and test_service.py."""

from __future__ import annotations

import asyncio
from typing import Any

from sandbox.pool import WarmPool
from sandbox.spec import SessionSpec


class StandInSession:
    def __init__(self, number: int) -> None:
        self.id = f"s{number}"
        self.alive = True
        self.closed = False

    async def close(self) -> None:
        await asyncio.sleep(0)
        self.closed = True
        self.alive = False


class StandInBackend:
    """Starts take until ``release`` is set, so a test sees starts under way."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[StandInSession] = []

    async def start(self, spec: SessionSpec, parent: str | None = None) -> Any:
        await self.release.wait()
        session = StandInSession(len(self.started))
        self.started.append(session)
        return session


def test_the_pool_reserves_its_starts_and_keeps_within_the_room() -> None:
    async def scenario() -> None:
        backend = StandInBackend()
        capacity, live = 1, 0  # the holder's: its room counts what the pool holds

        def room() -> int:
            return capacity - live - pool.held

        pool = WarmPool(backend, SessionSpec(), size=3, room=room)  # type: ignore[arg-type]
        pool.refill()
        await asyncio.sleep(0)  # the refill task runs up to its starts
        assert (pool.held, pool.ready) == (1, 0)  # counted while it starts: the room was 1
        backend.release.set()
        await asyncio.sleep(0.01)
        assert (pool.held, pool.ready) == (1, 1)
        pool.refill()
        await asyncio.sleep(0.01)
        assert pool.held == 1  # no room, no start

        handed = pool.take()
        live += 1
        assert handed is backend.started[0] and pool.held == 0  # at once, no wait
        assert pool.take() is None  # none ready: it starts none for the caller

        capacity = 3
        pool.refill()
        await asyncio.sleep(0.01)
        assert pool.ready == 2
        evicting = asyncio.create_task(pool.evict())
        await asyncio.sleep(0)
        assert (pool.ready, pool.held) == (1, 2)  # the one being removed still counts
        assert await evicting is True
        assert pool.held == 1 and backend.started[1].closed

        dead = backend.started[2]
        dead.alive = False
        assert pool.take() is None  # a dead one is never handed over; it is removed
        await pool.close()
        assert dead.closed and pool.held == 0

    asyncio.run(scenario())


def test_close_waits_for_starts_under_way_and_removes_them() -> None:
    async def scenario() -> None:
        backend = StandInBackend()
        pool = WarmPool(backend, SessionSpec(), size=2)  # type: ignore[arg-type]
        pool.refill()
        await asyncio.sleep(0)
        closing = asyncio.create_task(pool.close())
        await asyncio.sleep(0.01)
        assert not closing.done()  # it waits for the two starts
        backend.release.set()
        await closing
        assert len(backend.started) == 2 and all(s.closed for s in backend.started)
        assert pool.held == 0 and pool.take() is None

    asyncio.run(scenario())
