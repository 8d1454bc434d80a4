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
