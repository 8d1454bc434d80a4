"""Memory that only learns from success: Remember stores a note only once it is verified."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.gate.permission_gate import PermissionGate, Trust
from orchestrator.tools import default_tools
from orchestrator.tools.base import ReadLedger, ToolContext
from orchestrator.tools.bash import Bash, BashInput
from orchestrator.tools.remember import HEADING, MEMORY_FILE, Remember, RememberInput
from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.spec import SessionSpec
from security import PRESETS
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


def _listing_and_victim(session: DockerSession) -> Any:
    async def read(session: DockerSession) -> tuple[str, str]:
        listing = await session.exec(["ls", "-A", "/workspace"])
        victim = await session.exec(["cat", "/workspace/victim.txt"])
        return listing.text, victim.text

    return read(session)


def test_a_memory_file_that_is_a_link_is_judged_where_it_leads() -> None:
    """The gate judged a write to AIRLOCK.md; the verify command (or the repository)
    made it a link to .envrc, which runs code in a user's shell (S26 refuses it)."""
    replay = {
        "responses": [
            remember("Noted.", "ln -s .envrc AIRLOCK.md"),
            {"content": [{"text": "done"}]},
        ]
    }
    run = run_agent(replay, "learn", policy="dev", tools=default_tools(),
                    after=_listing_and_victim)  # fmt: skip
    result = run.requests[-1]["messages"][-1]["content"][0]
    assert result["is_error"] and "symbolic link to /workspace/.envrc" in result["content"]
    listing, _ = run.after
    assert ".envrc" not in listing.split(), listing  # nothing was written through the link


def test_a_proven_read_only_verify_runs_confined_like_bash() -> None:
    """`git status` is allowed as proven read-only, which holds because Bash runs it
    confined (a repository's program it meets cannot write or run anything): Remember's
    verify line ran unconfined, a way around that proof. It now runs as Bash runs it."""

    async def body(session: DockerSession) -> None:
        assert (await session.exec("git init -q .")).exit_code == 0
        gate = PermissionGate(PRESETS["dev"], Trust(trusted=True, by="flag"))
        ctx = ToolContext(session=session, reads=ReadLedger(), permits=gate.permits)
        bash = await Bash().run(BashInput(command="git status"), ctx)
        stored = await Remember().run(RememberInput(note="Noted.", verify="git status"), ctx)
        assert not bash.is_error and not stored.is_error, stored.content
        assert bash.confinement is not None and bash.confinement.confined
        assert stored.confinement is not None and stored.confinement.confined
        assert stored.confinement.programs == bash.confinement.programs
        # a line not proven read-only runs unconfined in both
        plain = await Remember().run(RememberInput(note="Noted.", verify="touch x"), ctx)
        assert plain.confinement is None

    async def main() -> None:
        async with DockerBackend().session(SessionSpec()) as session:
            await body(session)

    asyncio.run(main())
