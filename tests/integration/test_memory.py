"""Memory that only learns from success: Remember stores a note only once it is verified."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest

from orchestrator.bus import EventBus
from orchestrator.fake_api import FakeMessagesAPI
from orchestrator.gate import PermissionGate, Trust
from orchestrator.loop import Agent
from orchestrator.prompts import SYSTEM_PROMPT
from orchestrator.replay import parse_replay
from orchestrator.tools import default_tools
from orchestrator.tools.remember import HEADING, MEMORY_FILE
from sandbox.docker_backend import DockerBackend
from sandbox.spec import SessionSpec
from security import PRESETS

pytestmark = pytest.mark.integration


def remember(note: str, verify: str) -> dict[str, Any]:
    return {"content": [{"tool_use": {"name": "Remember",
                                      "input": {"note": note, "verify": verify}}}]}  # fmt: skip


def run(steps: list[dict[str, Any]], policy: str = "dev") -> tuple[str | None, list[Any]]:
    """Run the steps; return the memory file afterwards (None if absent) and the results."""
    replay = parse_replay({"responses": [*steps, {"content": [{"text": "done"}]}]})

    async def scenario() -> tuple[str | None, list[Any]]:
        with FakeMessagesAPI(replay) as api:
            client = anthropic.AsyncAnthropic(api_key="k", base_url=api.base_url)
            async with DockerBackend().session(SessionSpec()) as session:
                agent = Agent(
                    name="main", session_id=session.id, client=client,
                    model="claude-sonnet-4-6", session=session,
                    gate=PermissionGate(PRESETS[policy], Trust(trusted=True, by="flag")),
                    tools=default_tools(), bus=EventBus(), system=SYSTEM_PROMPT,
                )  # fmt: skip
                await agent.run("learn")
                memory = await session.exec(["cat", MEMORY_FILE])
            await client.close()
            results = [
                block
                for r in api.message_requests[1:]
                for block in r.body["messages"][-1]["content"]
                if isinstance(block, dict) and block.get("type") == "tool_result"
            ]
        return (memory.text if memory.exit_code == 0 else None), results

    return asyncio.run(scenario())


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
    assert results[0]["is_error"] and "memory file" in results[0]["content"]
