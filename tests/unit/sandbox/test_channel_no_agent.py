"""An image without python3: the channel learns there is no agent and must let go at once.

The container's main process is then a sleeper that never closes its output, so a close
that waits for the output to end waits for nothing (it used to spend its whole grace
period, 5 s per `airlock exec --image airlock/minimal`).
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from sandbox import channel as channel_module
from sandbox.channel import NO_AGENT_MARKER, AgentChannel, NoAgent

WAIT_S = 60.0  # only a close that waits for the output to end uses this up
pytestmark = pytest.mark.timeout(300)


def test_close_after_no_agent_stops_reading_and_closes_the_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A close that waited for the sleeper would now wait an hour: no clock is read.
    monkeypatch.setattr(channel_module, "CLOSE_GRACE", 3600.0)

    async def scenario() -> None:
        host, container = socket.socketpair()
        channel = AgentChannel(host)
        line = f"{NO_AGENT_MARKER}, using docker exec\n".encode()
        container.sendall(struct.pack(">BxxxI", 2, len(line)) + line)  # on stderr
        with pytest.raises(NoAgent):
            await asyncio.wait_for(channel.start(), WAIT_S)
        assert channel._task is not None and not channel._task.done()  # still reading
        closing = asyncio.create_task(channel.close())
        await asyncio.wait({closing}, timeout=WAIT_S)  # not wait_for: close may swallow it
        assert closing.done(), "close() waits for an output that never ends"
        closing.result()
        assert channel._task.done()
        assert host.fileno() == -1  # the attached socket is closed
        container.setblocking(True)
        assert container.recv(1) == b""  # the container's end sees it closed
        container.close()  # only now: it never closed its output while the host waited

    asyncio.run(scenario())
