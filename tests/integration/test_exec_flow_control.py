"""Per-exec flow control on a real session: an exec nobody reads holds back only itself.

The exec channel carries every exec of a session over one attached socket. An exec whose
output is left unread must pause its own command (the command blocks writing to its
pipe) while the other execs, the channel's ping and the session's close go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import docker
import pytest

from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.results import ExecExit, OutputChunk
from sandbox.spec import SessionSpec
from tests.integration.waiting import LIVENESS_S

pytestmark = pytest.mark.integration

FLOOD = 48 << 20  # bytes the unread exec writes: far more than any window and pipe
PID_FILE = "/tmp/flood.pid"

# Run as a second exec of the session: waits until the flooding command (its pid in
# PID_FILE) comes to rest, asleep with its count of bytes written unchanged on 20 looks
# in a row, i.e. blocked writing to its full pipe; prints what it saw, exits 3. A budget
# bounds the wait, so a flood that never blocks (output buffered without bound) ends it.
WATCH_FLOOD = f"""
import pathlib, sys, time
deadline = time.monotonic() + {LIVENESS_S}
path = pathlib.Path({PID_FILE!r})
while not path.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
pid = path.read_text().strip()
last, still = -1, 0
while still < 20 and time.monotonic() < deadline:
    state = pathlib.Path(f"/proc/{{pid}}/stat").read_text().rsplit(")", 1)[1].split()[0]
    io = pathlib.Path(f"/proc/{{pid}}/io").read_text().split()
    written = int(io[io.index("wchar:") + 1])
    still = still + 1 if state == "S" and written == last else 0
    last = written
    time.sleep(0.01)
print("flood blocked" if still >= 20 else f"flood not blocked: {{state}}, {{written}} bytes")
sys.exit(3)
"""


def flood(session: DockerSession, size: int = FLOOD) -> AsyncIterator[OutputChunk | ExecExit]:
    """An exec writing ``size`` bytes, all of them kept (``max_output`` raised to match)."""
    script = f"echo $$ > {PID_FILE} && exec head -c {size} /dev/zero"
    return session.stream(script, max_output=size, timeout=LIVENESS_S * 4)


async def first_chunk(events: AsyncIterator[OutputChunk | ExecExit]) -> OutputChunk:
    event = await asyncio.wait_for(anext(events), LIVENESS_S)
    assert isinstance(event, OutputChunk), event
    return event


def test_an_unread_exec_holds_back_no_other_exec_nor_ping_nor_close(
    docker_client: docker.DockerClient,
) -> None:
    async def scenario() -> str:
        session = await DockerBackend().start(SessionSpec())
        name = str(session.container.name)
        unread: AsyncIterator[OutputChunk | ExecExit] | None = None
        try:
            assert session.channel is not None
            held = flood(session)
            got = len((await first_chunk(held)).data)
            # `held` is left unread from here. Another exec of the same session runs to
            # its end, and sees the flood blocked on its pipe: paused, not buffered.
            other = await asyncio.wait_for(session.exec(["python3", "-c", WATCH_FLOOD]), LIVENESS_S)
            assert (other.stdout, other.exit_code, other.error) == (b"flood blocked\n", 3, None)
            await session.channel.ping(timeout=LIVENESS_S)
            # The held exec resumes as it is read, and loses nothing.
            final: ExecExit | None = None
            async for event in held:
                if isinstance(event, OutputChunk):
                    assert event.stream == "stdout" and not event.data.strip(b"\0")
                    got += len(event.data)
                else:
                    final = event
            assert final is not None and final.exit_code == 0, final
            assert not final.truncated and got == FLOOD
            # Close while an exec is left unread, its iterator still open: the close
            # drains the channel, so the engine removes the container.
            unread = flood(session)
            await first_chunk(unread)
        finally:
            await asyncio.wait_for(session.close(), LIVENESS_S)
            if unread is not None:
                await unread.aclose()  # type: ignore[attr-defined]
        return name

    name = asyncio.run(scenario())
    assert docker_client.containers.list(all=True, filters={"name": name}) == []


def test_an_abandoned_exec_is_killed_and_the_session_goes_on() -> None:
    async def scenario() -> None:
        async with DockerBackend().session(SessionSpec()) as session:
            held = flood(session)
            await first_chunk(held)
            pid = (await session.exec(["cat", PID_FILE])).stdout.decode().strip()
            assert pid.isdigit()
            await held.aclose()  # type: ignore[attr-defined]
            # The kill is sent on abandon; the process then goes (its pipe no longer
            # read, it would otherwise sit blocked for ever).
            gone = await asyncio.wait_for(
                session.exec(
                    ["sh", "-c", f"while [ -e /proc/{pid} ]; do sleep 0.05; done; echo gone"],
                    timeout=LIVENESS_S,
                ),
                LIVENESS_S * 2,
            )
            assert (gone.stdout, gone.exit_code) == (b"gone\n", 0), gone
            again = await asyncio.wait_for(session.exec("echo still here"), LIVENESS_S)
            assert again.stdout == b"still here\n"

    asyncio.run(scenario())
