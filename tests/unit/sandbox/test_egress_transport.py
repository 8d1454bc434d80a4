"""The host's end of egress against a fake agent, over a socketpair.

The fake can do what the real agent would not (send past its credit, reuse a
connection number, open more than the cap), and the host must hold: its memory stays
bounded, the offending connection is reset, and the channel goes on.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sandbox.channel import AgentChannel
from sandbox.egress_transport import READER_LIMIT, WRITE_HIGH, EgressHandler, EgressUnavailable
from sandbox.exec_agent import FRAME_CREDIT
from tests.unit.sandbox.test_channel_flow import FakeAgent, within

pytestmark = pytest.mark.timeout(300)
PORT = 3128


class TcpAgent(FakeAgent):
    """A fake agent that also speaks egress frames."""

    async def frame(self, kind: str, conn: int | None = None) -> tuple[dict[str, Any], bytes]:
        """The next host frame of this type (and connection), with its payload."""
        return await self._next(lambda h: h["type"] == kind and conn in (None, h.get("conn")))

    async def frame_of(self, conn: int) -> tuple[dict[str, Any], bytes]:
        """The next host frame of this connection, whatever its type."""
        return await self._next(lambda h: h.get("conn") == conn)

    async def data_until(self, kind: str, conn: int) -> bytes:
        """The bytes of the host's tcp_data for ``conn`` before its next ``kind`` frame."""
        got = bytearray()
        while True:
            header, payload = await self.frame_of(conn)
            if header["type"] == kind:
                return bytes(got)
            assert header["type"] == "tcp_data", header
            got += payload

    async def _next(self, wanted: Callable[[dict[str, Any]], bool]) -> tuple[dict[str, Any], bytes]:
        async def arrival() -> tuple[dict[str, Any], bytes]:
            while True:
                for i, frame in enumerate(self.inbox):
                    if wanted(frame[0]):
                        return self.inbox.pop(i)
                data = await self.reader.read(1 << 16)
                assert data, "the host closed the channel"
                self.inbox += self.decoder.feed(data)

        return await within(arrival())

    def tcp_open(self, conn: int, peer: list[Any] | None = None) -> None:
        self.send({"type": "tcp_open", "conn": conn, "peer": peer or ["127.0.0.1", 40000 + conn]})

    async def answer_ping(self, channel: AgentChannel) -> None:
        """The channel's ping is answered: nothing holds the channel."""
        pinged = asyncio.create_task(channel.ping(timeout=60))
        header, _ = await self.frame("ping")
        self.send({"type": "pong", "id": header["id"]})
        await within(pinged)

    async def barrier(self) -> None:
        """Wait until the host has handled every frame sent before: it refuses a reused
        connection number at once, in order with whatever it sent for earlier frames."""
        self.send({"type": "tcp_open", "conn": 0})
        await self.frame("tcp_close", 0)


Body = Callable[[AgentChannel, TcpAgent], Awaitable[None]]


def run(body: Body) -> None:
    async def scenario() -> None:
        host, container = socket.socketpair()
        channel, agent = AgentChannel(host), TcpAgent(container)
        await agent.open()
        await within(channel.start())
        try:
            await body(channel, agent)
        finally:
            agent.writer.close()
            await channel.close()

    asyncio.run(scenario())


async def serve(
    channel: AgentChannel, agent: TcpAgent, handler: EgressHandler, **opts: Any
) -> dict[str, Any]:
    """Start egress on the channel; return the agent's tcp_listen request."""
    started = asyncio.create_task(channel.serve_egress(handler, PORT, **opts))
    request, _ = await agent.frame("tcp_listen")
    agent.send({"type": "tcp_listening", "id": request["id"], "port": PORT})
    assert await within(started) == PORT
    return request


def test_each_connection_reaches_the_handler_as_a_stream_pair() -> None:
    seen: list[Any] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peername"))
        line = await reader.readline()
        writer.write(b"you said " + line)
        await writer.drain()
        rest = await reader.read()  # to the client's half-close
        writer.write(b"and then %d bytes" % len(rest))

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        request = await serve(channel, agent, handler)
        assert request["port"] == PORT
        assert request["down_window"] > FRAME_CREDIT and request["up_window"] > FRAME_CREDIT
        agent.tcp_open(1, ["127.0.0.1", 51000])
        agent.send({"type": "tcp_data", "conn": 1}, b"hello\nmore")
        agent.send({"type": "tcp_data", "conn": 1}, b" bytes")
        agent.send({"type": "tcp_eof", "conn": 1})
        answer = await agent.data_until("tcp_close", 1)  # the handler returned: closed
        assert answer == b"you said hello\nand then 10 bytes"
        assert seen == [("127.0.0.1", 51000)]

    run(body)


def test_the_handler_half_closes_and_still_reads() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"request")
        writer.write_eof()
        answer = await reader.read()
        with pytest.raises(RuntimeError):
            writer.write(b"after eof")
        writer.close()
        await writer.wait_closed()
        assert answer == b"response"

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler)
        agent.tcp_open(1)
        assert await agent.data_until("tcp_eof", 1) == b"request"
        agent.send({"type": "tcp_data", "conn": 1}, b"response")
        agent.send({"type": "tcp_eof", "conn": 1})
        header, _ = await agent.frame_of(1)
        assert header == {"type": "tcp_close", "conn": 1, "error": None}

    run(body)


def test_a_handler_that_does_not_read_holds_a_bounded_amount() -> None:
    window = 64 * 1024
    release = asyncio.Event()
    total: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        total.append(len(await reader.read()))

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler, up_window=window)
        agent.tcp_open(1)
        credit, sent, piece = window, 0, b"x" * 4096
        bound = 2 * READER_LIMIT + 2 * window  # its reader's pause point and a window
        while sent <= bound:  # send whatever credit the host grants, until it grants no more
            while credit >= len(piece) + FRAME_CREDIT:
                agent.send({"type": "tcp_data", "conn": 1}, piece)
                credit -= len(piece) + FRAME_CREDIT
                sent += len(piece)
            await agent.barrier()
            grants = [h for h, _ in agent.inbox if h["type"] == "tcp_credit"]
            if not grants:
                break
            credit += sum(h["bytes"] for h in grants)
            agent.inbox = [f for f in agent.inbox if f[0]["type"] != "tcp_credit"]
        assert sent <= bound, sent  # what the host holds for the idle handler
        release.set()
        await agent.frame("tcp_credit", 1)  # reading, it grants again
        agent.send({"type": "tcp_eof", "conn": 1})
        await agent.frame("tcp_close", 1)
        assert total == [sent]

    run(body)


def test_the_host_sends_no_more_than_its_window_and_drain_waits() -> None:
    window = 64 * 1024
    download = bytes(range(256)) * 4096  # 1 MiB
    drained = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(download)
        await writer.drain()
        drained.set()

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler, down_window=window)
        agent.tcp_open(1)
        got, spent, granted = bytearray(), 0, window
        while len(got) < len(download):
            header, payload = await agent.frame_of(1)
            assert header["type"] == "tcp_data"
            got += payload
            spent += len(payload) + FRAME_CREDIT
            assert spent <= granted, f"{spent} bytes sent with {granted} granted"
            if spent + 4096 > granted:
                await agent.barrier()
                # drain waits while more than the transport's low mark is unsent
                unsent = len(download) - len(got)
                assert drained.is_set() is (unsent <= WRITE_HIGH // 4), unsent
                await agent.answer_ping(channel)  # the channel is not held
                agent.send({"type": "tcp_credit", "conn": 1, "bytes": window})
                granted += window
        assert bytes(got) == download
        await within(drained.wait())
        await agent.frame("tcp_close", 1)

    run(body)


def test_an_agent_past_its_credit_is_reset_and_the_channel_goes_on() -> None:
    window = 16 * 1024
    errors: list[BaseException] = []
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        try:
            await reader.read()
        except ConnectionResetError as exc:
            errors.append(exc)

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler, up_window=window)
        agent.tcp_open(1)
        agent.send({"type": "tcp_data", "conn": 1}, b"x" * window)  # costs window + 256
        header, _ = await agent.frame("tcp_close", 1)
        assert "past its credit" in header["error"]
        release.set()
        await within(asyncio.sleep(0))
        await agent.answer_ping(channel)
        agent.tcp_open(2)  # later connections are served
        agent.send({"type": "tcp_eof", "conn": 2})
        await agent.frame("tcp_close", 2)
        assert len(errors) == 1 and "past its credit" in str(errors[0])

    run(body)


def test_reused_numbers_and_connections_past_the_cap_are_refused() -> None:
    served: list[int] = []
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(writer.get_extra_info("airlock_conn"))
        await release.wait()

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler, max_conns=2)
        agent.tcp_open(1)
        agent.tcp_open(2)
        agent.tcp_open(3)
        header, _ = await agent.frame("tcp_close", 3)
        assert "2 egress connections open already" in header["error"]
        agent.tcp_open(2)
        header, _ = await agent.frame("tcp_close", 2)
        assert "not new" in header["error"]
        agent.send({"type": "tcp_close", "conn": 1, "error": None})  # its client left
        agent.tcp_open(4)
        await agent.barrier()
        assert served == [1, 2, 4]
        release.set()
        for conn in (2, 4):
            await agent.frame("tcp_close", conn)

    run(body)


def test_a_handler_that_raises_resets_its_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise ConnectionRefusedError("upstream 127.0.0.1:9 refused")

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler)
        agent.tcp_open(1)
        header, _ = await agent.frame("tcp_close", 1)
        assert "ConnectionRefusedError: upstream 127.0.0.1:9 refused" in header["error"]

    run(body)


def test_a_lost_channel_resets_every_connection() -> None:
    errors: list[BaseException] = []
    reading = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reading.set()
        try:
            await reader.read()
        except ConnectionResetError as exc:
            errors.append(exc)

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler)
        agent.tcp_open(1)
        await within(reading.wait())
        agent.writer.close()  # the container went away
        assert channel.egress is not None
        await within(asyncio.gather(*channel.egress.tasks))
        assert len(errors) == 1 and "channel was lost" in str(errors[0])

    run(body)


def test_the_agents_refusal_to_listen_is_an_error_and_egress_is_served_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return None

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        started = asyncio.create_task(channel.serve_egress(handler, PORT))
        request, _ = await agent.frame("tcp_listen")
        message = "cannot listen on 127.0.0.1:3128: Address already in use"
        agent.send({"type": "error", "id": request["id"], "message": message})
        with pytest.raises(EgressUnavailable, match="Address already in use"):
            await within(started)
        assert channel.egress is None
        await serve(channel, agent, handler)
        with pytest.raises(EgressUnavailable, match="served already"):
            await channel.serve_egress(handler, PORT)

    run(body)


def test_connections_without_egress_are_refused() -> None:
    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        agent.tcp_open(1)
        header, _ = await agent.frame("tcp_close", 1)
        assert header["error"] == "no egress"
        await agent.answer_ping(channel)

    run(body)


def test_an_agent_that_provokes_answers_and_reads_none_loses_the_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each refused tcp_open gets a tcp_close back. An agent that sends them by the
    hundred thousand and never reads would grow the host's write buffer without end:
    past POST_BACKLOG it loses the channel instead (red team: 460 MiB in 20 s before)."""
    from sandbox import channel as channel_module

    backlog = 128 * 1024
    monkeypatch.setattr(channel_module, "POST_BACKLOG", backlog)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler)
        stale = {"type": "tcp_open", "conn": 0, "peer": ["127.0.0.1", 1]}
        try:
            for sent in range(40 * backlog // 60):  # answers: many times the backlog
                agent.send(stale)
                if sent % 1000 == 0:
                    await agent.writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the host let go while we were still sending: what we are checking

        async def lost() -> None:
            while channel.alive:
                await asyncio.sleep(0.05)

        await within(lost())
        assert channel.closed_reason is not None and "unread" in channel.closed_reason

    run(body)


def test_a_peer_the_agent_reports_is_kept_only_as_a_short_address() -> None:
    seen: list[Any] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("peername"))

    async def body(channel: AgentChannel, agent: TcpAgent) -> None:
        await serve(channel, agent, handler)
        for conn, peer in enumerate(
            [["127.0.0.1", 5000], ["x" * 100_000, 1], ["127.0.0.1", 1, "more"], [1, 2]], 1
        ):
            agent.tcp_open(conn, peer)
            await agent.frame("tcp_close", conn)

    run(body)
    assert seen == [("127.0.0.1", 5000), None, None, None]
