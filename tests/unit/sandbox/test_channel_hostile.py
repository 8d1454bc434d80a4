"""The host's end of the exec channel against a hostile agent: nothing it sends (or
leaves unread) hangs a reader past its timeout, crashes the host or grows its memory.

Same fake agent as `test_channel_flow`: the container's end of a socketpair.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from sandbox import channel as channel_module
from sandbox.channel import ERROR_CHARS, LINE_CHARS, STDERR_LINES, AgentChannel
from sandbox.results import ExecExit, OutputChunk
from tests.unit.sandbox.test_channel_flow import (
    WAIT_S,
    FakeAgent,
    collect,
    run_with_channel,
    within,
)

pytestmark = pytest.mark.timeout(300)
UNREAD_STDIN = 32 << 20  # far more than a socketpair and the transport hold


def test_a_ping_times_out_even_when_the_agent_stops_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent that reads nothing fills the host's socket: the frame before the ping (a
    command's stdin) waits for room, holding the write lock. The ping's timeout covers
    its own send, so it answers TimeoutError instead of waiting with it forever."""
    monkeypatch.setattr(channel_module, "WRITE_STALL", 10 * WAIT_S)  # only the ping's timeout

    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        feeding = asyncio.create_task(collect(channel.stream(["cat"], stdin=b"s" * UNREAD_STDIN)))
        await asyncio.sleep(0)
        with pytest.raises(TimeoutError):
            await within(channel.ping(timeout=0.5))
        feeding.cancel()

    run_with_channel(body)


def test_an_agent_that_leaves_the_hosts_frames_unread_loses_the_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every waiter learns it, with the reason: the exec feeding stdin, one that only
    waits for output, and the session can still be closed."""
    monkeypatch.setattr(channel_module, "WRITE_STALL", 0.5)

    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        waiting = asyncio.create_task(collect(channel.stream(["sleep"])))
        await agent.expect("exec", 1)  # then the agent reads no more
        feeding = asyncio.create_task(collect(channel.stream(["cat"], stdin=b"s" * UNREAD_STDIN)))
        for events in (await within(waiting), await within(feeding)):
            final = events[-1]
            assert isinstance(final, ExecExit) and final.status == "error"
            assert "unread" in (final.error or ""), final.error
        assert not channel.alive and "unread" in (channel.closed_reason or "")
        await within(channel.close())

    run_with_channel(body)


def test_a_trickling_agent_cannot_keep_an_exec_past_its_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A byte now and then, each before the wait for the next runs out, kept the exec's
    reader waiting forever: the timeout bounds the waits in all."""
    monkeypatch.setattr(channel_module, "SAFETY_MARGIN", 0.0)
    monkeypatch.setattr(channel_module, "KILL_GRACE", 0.0)

    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        events = asyncio.create_task(collect(channel.stream(["x"], timeout=0.5)))
        await agent.expect("exec", 1)
        for _ in range(int(WAIT_S / 0.05)):
            if events.done():
                break
            agent.output(1, b".")
            await asyncio.sleep(0.05)
        assert events.done(), "the exec outlived its timeout while the agent trickled"
        final = (await events)[-1]
        assert isinstance(final, ExecExit) and final.timed_out

    run_with_channel(body)


@pytest.mark.parametrize(
    "duration", [10**400, -5, math.nan, math.inf], ids=["huge", "negative", "nan", "inf"]
)
def test_an_exit_with_a_wild_duration_is_delivered_and_the_channel_goes_on(
    duration: float,
) -> None:
    """10**400 made float() raise OverflowError in the read loop: the channel died with a
    wrong reason and closing the session raised it."""

    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        first = asyncio.create_task(collect(channel.stream(["x"])))
        await agent.expect("exec", 1)
        agent.send({"type": "exit", "id": 1, "exit_code": 0, "duration": duration})
        assert await within(first) == [ExecExit(exit_code=0, duration=0.0)]
        second = asyncio.create_task(collect(channel.stream(["y"])))
        await agent.expect("exec", 2)
        agent.output(2, b"ok")
        agent.exit(2)
        assert await within(second) == [
            OutputChunk(stream="stdout", data=b"ok"),
            ExecExit(exit_code=0),
        ]
        assert channel.alive

    run_with_channel(body)


def test_what_the_host_keeps_of_the_agents_words_is_capped() -> None:
    """Error frames of a MiB each: 50 kept diagnostic lines held 50 MiB (800 MiB with
    16 MiB frames), and an exec's error carried the whole message."""
    big = "m" * (1 << 20)

    async def body(channel: AgentChannel, agent: FakeAgent) -> None:
        for _ in range(2 * STDERR_LINES):
            agent.send({"type": "error", "id": 10**6, "message": big})  # no such exec
        events = asyncio.create_task(collect(channel.stream(["x"])))
        await agent.expect("exec", 1)
        agent.send({"type": "error", "id": 1, "message": big})
        agent.exit(1, 1)
        final = (await within(events))[-1]
        assert isinstance(final, ExecExit) and final.error is not None
        assert final.error.startswith("m" * ERROR_CHARS)
        assert final.error.endswith(f"({len(big) - ERROR_CHARS} more characters)")
        assert len(channel.stderr_tail) == STDERR_LINES
        assert all(len(line) <= LINE_CHARS for line in channel.stderr_tail)

    run_with_channel(body)
