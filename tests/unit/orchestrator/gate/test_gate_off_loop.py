"""The gate analyzes commands in a worker thread, never on the event loop.

Analyzing the longest line takes a while and, being counted in steps rather than
time, never times out; on the loop it would stall every other session's I/O.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from orchestrator.gate import permission_gate as gate_module
from orchestrator.gate.permission_gate import PermissionGate, Trust
from orchestrator.tools.bash import Bash
from security import PRESETS, Decision, Policy, Verdict, analyze


def test_the_loop_keeps_running_while_a_command_is_analyzed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The analysis waits for a signal only the event loop can give: it must not
    block the loop. (Were it on the loop, the wait would run out and say so.)"""
    released = threading.Event()
    seen: dict[str, object] = {}

    def slow_analyze(command: str, policy: Policy) -> Verdict:
        seen["thread"] = threading.get_ident()
        seen["released"] = released.wait(timeout=30)
        return analyze(command, policy)

    async def release_from_the_loop() -> None:
        while "thread" not in seen:
            await asyncio.sleep(0.001)
        released.set()

    async def scenario() -> Decision:
        seen["loop"] = threading.get_ident()
        gate = PermissionGate(PRESETS["read-only"], Trust(trusted=True, by="flag"))
        bash = Bash()
        result, _ = await asyncio.gather(
            gate.check(bash, bash.parse({"command": "ls -la"})), release_from_the_loop()
        )
        return result.decision

    monkeypatch.setattr(gate_module, "analyze", slow_analyze)
    decision = asyncio.run(scenario())
    assert seen["released"] is True, "the analysis blocked the event loop"
    assert seen["thread"] != seen["loop"]
    assert decision is Decision.ALLOW
