"""An exec's event stream as ASGI sends it: the exit ends the body, a replay needs no
watcher, a client that goes away stops its follower (and only that stops it quietly)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.service.exec_log import ExecLog
from orchestrator.service.exec_stream import ExecEventStream

SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}


class Connection:
    """The server's side of one request: what the response sent, and a disconnect
    that comes when the test says."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received = 0
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def bodies(self) -> list[tuple[bytes, bool]]:
        return [(m["body"], m["more_body"]) for m in self.sent[1:]]


async def _ended_log() -> ExecLog:
    log = ExecLog("exe_1")
    await log.output("stdout", b"hi\n")
    await log.exit({"exit_code": 0, "status": "exited"})
    return log


def test_a_replay_sends_every_event_and_the_exit_ends_the_body_without_a_watcher() -> None:
    async def scenario() -> Connection:
        log = await _ended_log()
        connection = Connection()
        await ExecEventStream(log)(SCOPE, connection.receive, connection.send)
        return connection

    connection = asyncio.run(scenario())
    start = connection.sent[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"x-airlock-exec-id"] == b"exe_1" and headers[b"cache-control"] == b"no-store"
    (output, more), (exit_event, last) = connection.bodies()
    assert output.startswith(b"id: 1\nevent: output\n") and more is True
    assert exit_event.startswith(b"id: 2\nevent: exit\n") and last is False
    assert connection.received == 0  # nothing to wait for: no watcher


def test_a_live_follower_streams_from_its_id_until_the_exit() -> None:
    async def scenario() -> Connection:
        log = ExecLog("exe_2")
        await log.output("stdout", b"one\n")
        connection = Connection()
        response = asyncio.create_task(ExecEventStream(log, 1)(SCOPE, connection.receive,
                                                               connection.send))  # fmt: skip
        await asyncio.sleep(0.01)
        await log.output("stdout", b"two\n")
        await log.exit({"exit_code": 0, "status": "exited"})
        await asyncio.wait_for(response, 5)
        return connection

    connection = asyncio.run(scenario())
    bodies = connection.bodies()
    assert [body.split(b"\n")[0] for body, _ in bodies] == [b"id: 2", b"id: 3"]
    assert [more for _, more in bodies] == [True, False]
    assert connection.received == 1  # the watcher was there while the exec was live


def test_a_client_that_goes_away_stops_its_follower_quietly_and_the_exec_goes_on() -> None:
    async def scenario() -> tuple[Connection, ExecLog, list[int]]:
        log = ExecLog("exe_3")
        connection = Connection()
        response = asyncio.create_task(ExecEventStream(log)(SCOPE, connection.receive,
                                                            connection.send))  # fmt: skip
        await log.output("stdout", b"one\n")
        await asyncio.sleep(0.01)
        connection.gone.set()
        await asyncio.wait_for(response, 5)  # returns: no CancelledError, no exception
        await log.output("stdout", b"two\n")  # the exec goes on, its log too
        await log.exit({"exit_code": 0, "status": "exited"})
        return connection, log, [event.id async for event in log.follow()]

    connection, log, replayed = asyncio.run(scenario())
    assert [body.split(b"\n")[0] for body, _ in connection.bodies()] == [b"id: 1"]
    assert log.ended and replayed == [1, 2, 3]


def test_a_cancel_from_elsewhere_still_cancels_a_live_follower() -> None:
    async def scenario() -> None:
        log = ExecLog("exe_4")
        connection = Connection()
        response = asyncio.create_task(ExecEventStream(log)(SCOPE, connection.receive,
                                                            connection.send))  # fmt: skip
        await asyncio.sleep(0.01)
        response.cancel()  # as a server that stops cancels its requests
        with pytest.raises(asyncio.CancelledError):
            await response

    asyncio.run(scenario())
