"""An exec's events: numbered, capped with a word about it, read again from any id."""

from __future__ import annotations

import asyncio
import base64
import json

from orchestrator.service.exec_log import ExecLog


async def collect(log: ExecLog, after: int = 0) -> list[tuple[int, str, dict[str, object]]]:
    return [(e.id, e.kind, e.data) async for e in log.follow(after)]


def test_past_the_cap_one_event_says_so_and_the_exit_counts_what_was_dropped() -> None:
    async def scenario() -> list[tuple[int, str, dict[str, object]]]:
        log = ExecLog("e", max_output=10)
        await log.output("stdout", b"123456")
        await log.output("stderr", b"7890ab")  # 4 kept, 2 dropped
        await log.output("stdout", b"cdef")  # all dropped
        await log.exit({"exit_code": 0, "status": "exited"})
        return await collect(log)

    events = asyncio.run(scenario())
    assert [(i, kind) for i, kind, _ in events] == [
        (1, "output"), (2, "output"), (3, "truncated"), (4, "exit"),
    ]  # fmt: skip
    kept = b"".join(base64.b64decode(str(d["data_b64"])) for _, k, d in events if k == "output")
    assert kept == b"1234567890"
    assert events[2][2] == {"max_output_bytes": 10}
    assert events[3][2]["output_dropped_bytes"] == 6


def test_a_follower_gets_what_came_after_its_id_then_each_new_event_live() -> None:
    async def scenario() -> tuple[list[int], list[int], list[int]]:
        log = ExecLog("e")
        await log.output("stdout", b"a")
        follower = asyncio.ensure_future(collect(log, after=1))
        await asyncio.sleep(0.05)
        assert not follower.done()  # it waits for more
        await log.output("stdout", b"b")
        await log.exit({"exit_code": 0, "status": "exited"})
        late = await collect(log, after=3)  # nothing after the exit: it ends at once
        return (
            [i for i, _, _ in await follower],
            [i for i, _, _ in await collect(log)],
            [i for i, _, _ in late],
        )

    live, whole, late = asyncio.run(scenario())
    assert live == [2, 3] and whole == [1, 2, 3] and late == []


def test_an_event_is_server_sent_event_text_with_its_id() -> None:
    async def scenario() -> bytes:
        log = ExecLog("e")
        await log.exit({"exit_code": 7, "status": "exited"})
        return log.events[0].sse()

    text = asyncio.run(scenario()).decode()
    head, data = text.split("data: ", 1)
    assert head == "id: 1\nevent: exit\n" and text.endswith("\n\n")
    assert json.loads(data)["exit_code"] == 7


def test_a_session_keeps_a_bounded_output_its_oldest_ended_execs_dropped_first() -> None:
    """The session's budget: running execs reserve their whole cap, ended ones what they
    kept; past it the oldest ended go, and with only running ones left it is 429."""
    from types import SimpleNamespace
    from typing import Any, cast

    import pytest
    from fastapi import HTTPException

    from orchestrator.service.exec_api import _keep
    from orchestrator.service.exec_log import MAX_OUTPUT_BYTES, SESSION_OUTPUT_BYTES

    async def scenario() -> None:
        live = cast(Any, SimpleNamespace(execs={}))
        ended = []
        for number in range(3):
            log = ExecLog(f"old{number}")
            await log.output("stdout", bytes(MAX_OUTPUT_BYTES))  # kept whole
            await log.exit({"exit_code": 0, "status": "exited"})
            _keep(live, log)
            ended.append(log.exec_id)
        running = SESSION_OUTPUT_BYTES // MAX_OUTPUT_BYTES
        for number in range(running):
            _keep(live, ExecLog(f"run{number}"))
        assert not any(name in live.execs for name in ended)  # the ended gave way, in order
        with pytest.raises(HTTPException) as full:
            _keep(live, ExecLog("one-too-many"))
        assert full.value.status_code == 429
        with pytest.raises(HTTPException) as again:
            _keep(live, ExecLog("run0"))
        assert again.value.status_code == 409

    asyncio.run(scenario())
