"""The host's end of the exec channel against a fake agent, over a socketpair.

The fake writes what a container's attach stream carries (Docker's multiplexed frames
around the agent's frames), so it can do what a real agent would not: ignore its
credit, flood tiny frames, repeat exits. The agent lives in a container that runs the
attacker's code, so the channel must hold against it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from sandbox.channel import OUTPUT_WINDOW, AgentChannel
from sandbox.exec_agent import FRAME_CREDIT, FrameDecoder, encode_frame
from sandbox.results import ExecExit, OutputChunk

WAIT_S = 60.0  # for a frame or an event: only a stuck channel uses it up
pytestmark = pytest.mark.timeout(300)
T = TypeVar("T")
Event = OutputChunk | ExecExit


class FakeAgent:
    """The container's end of the socket: reads the host's frames, writes its own."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbox: list[tuple[dict[str, Any], bytes]] = []
        self.decoder = FrameDecoder()

    async def open(self) -> None:
        self.sock.setblocking(False)
        self.reader, self.writer = await asyncio.open_connection(sock=self.sock)
        self.send({"type": "hello", "version": 1})

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        frame = encode_frame(header, payload)
        self.writer.write(struct.pack(">BxxxI", 1, len(frame)) + frame)

    def output(self, xid: int, data: bytes, stream: str = "stdout") -> None:
        self.send({"type": "output", "id": xid, "stream": stream}, data)

    def exit(self, xid: int, code: int = 0) -> None:
        self.send({"type": "exit", "id": xid, "exit_code": code, "signal": None})

    async def expect(self, kind: str, xid: Any = None) -> dict[str, Any]:
        """The next frame from the host of this type (and id); others are kept."""

        async def arrival() -> dict[str, Any]:
            while True:
                for i, (header, _) in enumerate(self.inbox):
                    if header["type"] == kind and (xid is None or header.get("id") == xid):
                        return self.inbox.pop(i)[0]
                data = await self.reader.read(1 << 16)
                assert data, "the host closed the channel"
                self.inbox += self.decoder.feed(data)

        return await asyncio.wait_for(arrival(), WAIT_S)

    def received(self, kind: str) -> list[dict[str, Any]]:
        return [header for header, _ in self.inbox if header["type"] == kind]


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, WAIT_S)


async def next_of(events: AsyncIterator[Event]) -> Event:
    return await anext(events)


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    return [event async for event in events]


def run_with_channel(body: Callable[[AgentChannel, FakeAgent], Awaitable[None]]) -> None:
    async def scenario() -> None:
        host, container = socket.socketpair()
        channel, agent = AgentChannel(host), FakeAgent(container)
        await agent.open()
        await within(channel.start())
        try:
            await body(channel, agent)
        finally:
            agent.writer.close()  # as the agent does when the host closes
            await channel.close()

    asyncio.run(scenario())


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_the_request_grants_a_window_of_at_least_one_chunk() -> None:
    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        small = asyncio.create_task(collect(channel.stream(["a"])))
        big = asyncio.create_task(collect(channel.stream(["b"], chunk=4 * OUTPUT_WINDOW)))
        assert (await agent.expect("exec", 1))["window"] == OUTPUT_WINDOW
        assert (await agent.expect("exec", 2))["window"] == 4 * OUTPUT_WINDOW + FRAME_CREDIT
        agent.exit(1)
        agent.exit(2)
        await within(asyncio.gather(small, big))

    run_with_channel(body)


def test_an_unread_exec_stalls_neither_other_execs_nor_ping() -> None:
    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        held = channel.stream(["flood"])
        first = asyncio.create_task(next_of(held))
        window = (await agent.expect("exec", 1))["window"]
        # Its whole window in the smallest frames: the most events one exec may queue.
        frames = window // (1 + FRAME_CREDIT)
        for _ in range(frames):
            agent.output(1, b"x")
        other = asyncio.create_task(collect(channel.stream(["other"])))
        await agent.expect("exec", 2)
        agent.output(2, b"done\n")
        agent.exit(2, 3)
        pinged = asyncio.create_task(channel.ping(timeout=WAIT_S))
        agent.send({"type": "pong", "id": (await agent.expect("ping"))["id"]})
        await within(pinged)
        events = await within(other)
        assert events[0] == OutputChunk(stream="stdout", data=b"done\n")
        assert isinstance(events[1], ExecExit) and events[1].exit_code == 3
        # Its reader gives credit back as it takes chunks, a quarter window at a time.
        rest = [await within(first)]
        batch = -(-window // 4 // (1 + FRAME_CREDIT))  # chunks in a quarter window
        rest += [await within(next_of(held)) for _ in range(batch - 1)]
        assert not agent.received("credit")
        assert (await agent.expect("credit", 1))["bytes"] == batch * (1 + FRAME_CREDIT)
        # It lost nothing.
        agent.exit(1)
        rest += await within(collect(held))
        assert [e for e in rest if isinstance(e, OutputChunk)] == [
            OutputChunk(stream="stdout", data=b"x")
        ] * frames
        assert isinstance(rest[-1], ExecExit) and rest[-1].exit_code == 0

    run_with_channel(body)


def test_an_agent_overrunning_its_credit_ends_that_exec_only() -> None:
    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        held = channel.stream(["flood"])
        first = asyncio.create_task(next_of(held))
        window = (await agent.expect("exec", 1))["window"]
        chunk = 64 << 10
        allowed = (window // (chunk + FRAME_CREDIT)) * chunk  # whole chunks within credit
        for piece in split(b"a" * (allowed + 20 * window), chunk):  # 20 windows too many
            agent.output(1, piece)
        for _ in range(1000):  # and more frames after: errors, exits, a bad stream
            agent.send({"type": "truncated", "id": 1, "stream": "x" * 100})
            agent.exit(1)
        cancel = await agent.expect("cancel", 1)  # the agent is told to kill it
        assert cancel == {"type": "cancel", "id": 1}
        # The channel goes on: another exec, a ping.
        other = asyncio.create_task(collect(channel.stream(["other"])))
        await agent.expect("exec", 2)
        agent.output(2, b"fine")
        agent.exit(2)
        events = await within(other)
        assert events == [OutputChunk(stream="stdout", data=b"fine"), ExecExit(exit_code=0)]
        pinged = asyncio.create_task(channel.ping(timeout=WAIT_S))
        agent.send({"type": "pong", "id": (await agent.expect("ping"))["id"]})
        await within(pinged)
        assert channel.alive
        # The overrun exec: what came within its credit, then one exit saying why.
        rest = [await within(first)] + await within(collect(held))
        data = b"".join(e.data for e in rest if isinstance(e, OutputChunk))
        assert data == b"a" * allowed
        final = rest[-1]
        assert isinstance(final, ExecExit) and final.exit_code is None
        assert final.error is not None and "credit" in final.error and final.status == "error"
        assert not final.truncated  # the bogus stream names were not taken
        assert sum(isinstance(e, ExecExit) for e in rest) == 1

    run_with_channel(body)


def test_tiny_frames_are_bounded_in_number_too() -> None:
    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        held = channel.stream(["flood"])
        first = asyncio.create_task(next_of(held))
        window = (await agent.expect("exec", 1))["window"]
        allowed = window // (1 + FRAME_CREDIT)  # 1-byte frames within the credit
        for i in range(8 * allowed):  # 1-byte frames, streams alternating (none merge)
            agent.output(1, b"y", "stderr" if i % 2 else "stdout")
        await agent.expect("cancel", 1)
        rest = [await within(first)] + await within(collect(held))
        chunks = [e for e in rest if isinstance(e, OutputChunk)]
        assert len(chunks) == allowed
        assert isinstance(rest[-1], ExecExit) and "credit" in (rest[-1].error or "")

    run_with_channel(body)


def test_an_abandoned_exec_is_cancelled_and_its_buffer_released() -> None:
    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        held = channel.stream(["flood"])
        first = asyncio.create_task(next_of(held))
        await agent.expect("exec", 1)
        for _ in range(10):
            agent.output(1, b"z" * 1000)
        assert isinstance(await within(first), OutputChunk)
        await within(held.aclose())  # type: ignore[attr-defined]
        assert await agent.expect("cancel", 1) == {"type": "cancel", "id": 1}
        assert channel._pending == {}
        agent.output(1, b"late" * 1000)  # output and exit after the abandon are dropped
        agent.exit(1)
        again = asyncio.create_task(collect(channel.stream(["next"])))
        await agent.expect("exec", 2)
        agent.exit(2)
        assert await within(again) == [ExecExit(exit_code=0)]
        assert channel._pending == {}

    run_with_channel(body)


def test_a_lost_channel_reaches_a_reader_with_a_full_buffer() -> None:
    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        held = channel.stream(["flood"])
        first = asyncio.create_task(next_of(held))
        window = (await agent.expect("exec", 1))["window"]
        frames = window // (100 + FRAME_CREDIT)
        for _ in range(frames):
            agent.output(1, b"w" * 100)
        agent.writer.close()  # the container went away
        rest = [await within(first)] + await within(collect(held))
        assert sum(isinstance(e, OutputChunk) for e in rest) == frames
        final = rest[-1]
        assert isinstance(final, ExecExit) and (final.error or "").startswith("sandbox lost")

    run_with_channel(body)
