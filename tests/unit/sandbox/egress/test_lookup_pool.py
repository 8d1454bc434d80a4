"""Name lookups on their own bounded pool: hanging lookups (a blocking function that
holds its thread, as a getaddrinfo stuck in the system's resolver does) leave the event
loop's default executor free, hold at most their resolver's share of the pool, and
their callers still get the resolver's timeout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from sandbox.egress import EgressRefused, PooledLookup, Resolver
from sandbox.egress.lookup_pool import LOOKUP_WORKERS, LOOKUPS_PER_RESOLVER, Slots, lookup_pool

pytestmark = pytest.mark.timeout(120)
PUBLIC = "93.184.215.14"


class Hanging:
    """A blocking lookup that holds its thread until `release` (60 s at most)."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.started = 0
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()

    def __call__(self, name: str, port: int) -> list[str]:
        with self.lock:
            self.started += 1
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            self.released.wait(60)
        finally:
            with self.lock:
                self.running -= 1
        raise OSError("no such name")

    def release(self) -> None:
        """Let every call return, and wait until they have (the pool is shared)."""
        self.released.set()
        deadline = time.monotonic() + 10
        while self.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.running == 0


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    lookup = Hanging()
    yield lookup
    lookup.release()


def answering(name: str, port: int) -> list[str]:
    return [PUBLIC]


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def timed(awaitable: Awaitable[object]) -> float:
    started = time.monotonic()
    await awaitable
    return time.monotonic() - started


async def settle(tasks: list[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_hanging_lookups_leave_the_default_executor_free(hanging: Hanging) -> None:
    """Every worker of the pool stuck: ``asyncio.to_thread`` (container removal) still
    runs at once, as many at a time as the default executor has threads."""

    async def scenario() -> None:
        resolvers = [
            Resolver(lookup=PooledLookup(hanging), timeout=30)
            for _ in range(LOOKUP_WORKERS // LOOKUPS_PER_RESOLVER + 1)
        ]
        lookups: list[asyncio.Task[object]] = [
            asyncio.create_task(resolver.resolve(f"r{i}.example.test", 443))
            for resolver in resolvers
            for i in range(8)
        ]
        await until(lambda: hanging.running == LOOKUP_WORKERS)
        side_work = [asyncio.to_thread(time.sleep, 0.2) for _ in range(6)]
        assert await asyncio.wait_for(timed(asyncio.gather(*side_work)), 5) < 1.5
        assert hanging.started == LOOKUP_WORKERS
        assert all(name.startswith("airlock-lookup") for name in hanging.threads)
        await settle(lookups)

    asyncio.run(scenario())


def test_one_resolver_takes_its_share_of_the_pool_and_no_more(hanging: Hanging) -> None:
    """One session asks for 40 hanging names, gives up on them (its timeout) and asks
    for 40 more: it never holds more than its share of the workers, and another
    session's lookup answers meanwhile."""

    async def scenario() -> None:
        greedy = Resolver(lookup=PooledLookup(hanging), timeout=0.3)
        first = [asyncio.create_task(greedy.resolve(f"a{i}.example.test", 443)) for i in range(40)]
        results = await asyncio.wait_for(asyncio.gather(*first, return_exceptions=True), 10)
        assert {(r.status, r.reason) for r in results if isinstance(r, EgressRefused)} == {
            (502, "name lookup timed out")
        }
        assert len(results) == 40
        assert hanging.running == LOOKUPS_PER_RESOLVER  # abandoned, still held
        again = [asyncio.create_task(greedy.resolve(f"b{i}.example.test", 443)) for i in range(40)]
        other = Resolver(lookup=PooledLookup(answering), timeout=5)
        answer = await asyncio.wait_for(other.resolve("pypi.org", 443), 5)
        assert [str(address) for address in answer] == [PUBLIC]
        await asyncio.gather(*again, return_exceptions=True)
        assert hanging.started == hanging.most == LOOKUPS_PER_RESOLVER

    asyncio.run(scenario())


def test_with_every_worker_stuck_a_lookup_times_out_and_leaves_nothing_queued(
    hanging: Hanging,
) -> None:
    """A lookup that finds no idle worker answers the resolver's 502 at its timeout,
    and never runs later; once the stuck calls return, lookups run again."""

    async def scenario() -> None:
        stuck = [
            asyncio.create_task(
                Resolver(lookup=PooledLookup(hanging), timeout=30).resolve(f"s{i}.test", 443)
            )
            for i in range(LOOKUP_WORKERS)
        ]
        await until(lambda: hanging.running == LOOKUP_WORKERS)
        late = Hanging()
        resolver = Resolver(lookup=PooledLookup(late), timeout=0.3)
        for _ in range(5):
            with pytest.raises(EgressRefused) as caught:
                await asyncio.wait_for(resolver.resolve("late.test", 443), 5)
            assert (caught.value.status, caught.value.reason) == (502, "name lookup timed out")
        stuck_threads = [t for t in threading.enumerate() if t.name.startswith("airlock-lookup")]
        assert len(stuck_threads) == LOOKUP_WORKERS
        # white box: nothing sits in the executor's queue (not even cancelled calls)
        assert lookup_pool()._executor._work_queue.qsize() == 0

        await asyncio.to_thread(hanging.release)
        await asyncio.gather(*stuck, return_exceptions=True)
        answer = await Resolver(lookup=PooledLookup(answering)).resolve("pypi.org", 443)
        assert [str(address) for address in answer] == [PUBLIC]
        await asyncio.sleep(0.2)
        assert late.started == 0  # the timed-out lookups were not kept to run later

    asyncio.run(scenario())


def test_a_resolver_waiting_for_its_share_still_times_out(hanging: Hanging) -> None:
    async def scenario() -> None:
        lookup = PooledLookup(hanging, in_flight=1)
        holder = asyncio.create_task(Resolver(lookup=lookup, timeout=30).resolve("a.test", 1))
        await until(lambda: hanging.running == 1)
        waiting = Resolver(lookup=lookup, timeout=0.2)
        with pytest.raises(EgressRefused) as caught:
            await asyncio.wait_for(waiting.resolve("b.test", 1), 5)
        assert caught.value.reason == "name lookup timed out"
        assert hanging.started == 1
        await settle([holder])

    asyncio.run(scenario())


def test_a_place_given_up_while_waiting_is_not_lost() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        await slots.take()
        waiters = [asyncio.create_task(slots.take()) for _ in range(3)]
        await asyncio.sleep(0)
        waiters[0].cancel()
        waiters[1].cancel()
        await asyncio.gather(*waiters[:2], return_exceptions=True)
        slots.give_back()
        await asyncio.wait_for(waiters[2], 1)  # the live waiter, not a cancelled one
        slots.give_back()
        await asyncio.wait_for(slots.take(), 1)

    asyncio.run(scenario())


def test_a_place_is_given_back_from_another_thread_to_another_loop() -> None:
    slots = Slots(1)
    holder_loop = asyncio.new_event_loop()
    try:
        holder_loop.run_until_complete(slots.take())

        async def wait_for_it() -> float:
            threading.Timer(0.1, slots.give_back).start()
            return await timed(slots.take())

        assert asyncio.run(asyncio.wait_for(wait_for_it(), 5)) < 2
    finally:
        holder_loop.close()


def test_the_default_lookup_is_the_system_resolver_on_the_pool() -> None:
    """``localhost`` answers from /etc/hosts (no packet): loopback, so refused."""
    with pytest.raises(EgressRefused) as caught:
        asyncio.run(Resolver().resolve("localhost", 80))
    assert caught.value.status == 403
