"""Memory that only learns from success: Remember stores a note only once it is verified."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.tools import default_tools
from orchestrator.tools.remember import HEADING, MEMORY_FILE
from sandbox.docker_backend import DockerSession
from tests.integration.agent_harness import run_agent

pytestmark = pytest.mark.integration


def remember(note: str, verify: str) -> dict[str, Any]:
    return {"content": [{"tool_use": {"name": "Remember",
                                      "input": {"note": note, "verify": verify}}}]}  # fmt: skip


def run(steps: list[dict[str, Any]], policy: str = "dev") -> tuple[str | None, list[Any]]:
    """Run the steps; return the memory file afterwards (None if absent) and the results."""

    async def read_memory(session: DockerSession) -> str | None:
        memory = await session.exec(["cat", MEMORY_FILE])
        return memory.text if memory.exit_code == 0 else None

    replay = {"responses": [*steps, {"content": [{"text": "done"}]}]}
    run = run_agent(replay, "learn", policy=policy, tools=default_tools(), after=read_memory)
    results = [
        block
        for body in run.requests[1:]
        for block in body["messages"][-1]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    return run.after, results


def test_a_verified_note_is_stored_under_one_heading() -> None:
    memory, results = run(
        [
            remember("Run the tests with python3 -m unittest.", "true"),
            remember("The   build needs\nno network.", "test -d /workspace"),
        ]
    )
    assert [r["is_error"] for r in results] == [False, False]
    assert memory is not None and memory.count(HEADING) == 1
    assert "- Run the tests with python3 -m unittest. (verified by `true`)" in memory
    assert "- The build needs no network. (verified by `test -d /workspace`)" in memory


def test_after_a_failed_step_nothing_is_stored() -> None:
    memory, results = run([remember("Tests pass now.", "echo checking; exit 3")])
    assert memory is None  # the file was never created
    assert results[0]["is_error"] and "Not stored" in results[0]["content"]
    assert "exit code 3" in results[0]["content"] and "checking" in results[0]["content"]


def test_the_verify_command_passes_the_gate_like_any_command() -> None:
    memory, results = run([remember("Cleaned up.", "rm -rf /")])
    assert memory is None
    assert results[0]["is_error"] and "S29" in results[0]["content"]


def test_read_only_asks_before_remember_writes() -> None:
    memory, results = run([remember("Noted.", "true")], policy="read-only")
    assert memory is None
    assert results[0]["is_error"] and "writes /workspace/AIRLOCK.md" in results[0]["content"]
