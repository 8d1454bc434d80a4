"""Issue 12, classes 8 and 9, through the real loop: the real SDK against the fake
Messages API (real SSE on loopback), a real session container, the real gate.

The file tools are judged as the shell line that does the same thing, so Write to
``.git/config`` under ``dev`` is refused like ``echo x > .git/config``, and a Read of
``.env`` is refused under a headless policy like ``cat .env``.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.tools.bash import Bash
from orchestrator.tools.grep import Grep
from orchestrator.tools.read import Read
from orchestrator.tools.write import Write
from sandbox.docker_backend import DockerSession
from security import PRESETS
from tests.integration.agent_harness import run_agent

pytestmark = pytest.mark.integration

PAYLOAD = "[core]\n\tfsmonitor = touch /workspace/PWNED; false\n"


def use(name: str, **tool_input: Any) -> dict[str, Any]:
    return {"tool_use": {"name": name, "input": tool_input}}


def results(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tool_result blocks the model was sent, in order."""
    return [
        block
        for body in requests
        for block in (body["messages"][-1]["content"] if body["messages"] else [])
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


async def _after(session: DockerSession) -> tuple[str, str]:
    config = await session.exec(["cat", "/workspace/.git/config"])
    pwned = await session.exec(["sh", "-c", "ls -A /workspace"])
    return config.text, pwned.text


def test_write_to_git_config_under_dev_is_refused_and_git_status_runs_no_payload() -> None:
    run = run_agent(
        {
            "model": "claude-sonnet-4-6",
            "responses": [
                {"content": [use("Bash", command="git init -q .")]},
                {"content": [use("Write", file_path="/workspace/.git/config", content=PAYLOAD)]},
                {"content": [use("Bash", command="git status --short")]},
                {"content": [{"text": "done"}]},
            ],
        },
        policy="dev",
        tools=[Bash(), Write()],
        after=_after,
    )
    assert run.result.outcome == "end_turn"
    init, write, status = results(run.requests)
    assert not init["is_error"]
    assert write["is_error"] and "Permission denied (policy)" in write["content"]
    assert "S26" in write["content"] and ".git/config" in write["content"]
    assert not status["is_error"]
    verdicts = [e for e in run.events if e.type == "verdict"]
    assert [v.decision for v in verdicts] == ["allow", "deny", "allow"]
    # the watchers hear which command ran confined: git status is proven read-only
    shown = [(e.confined, e.confinement) for e in run.events if e.type == "tool_result"]
    assert [confined for confined, _ in shown] == [None, None, True], shown
    assert "no network sockets" in (shown[2][1] or ""), shown
    config, listing = run.after
    assert "fsmonitor" not in config  # git init's own config, untouched
    assert "PWNED" not in listing


def test_secrets_reach_the_model_only_as_cat_would_let_them() -> None:
    """Headless: Read of .env is refused like `cat .env`; a Grep of the directory
    leaves .env's lines out; the same Grep under a policy that allows reading secrets
    shows them (the search uses the gate's own judge)."""
    make = "printf 'TOKEN=SECRET-1\\n' > .env && echo SECRET-2 > a.txt"
    responses = [
        {"content": [use("Bash", command=make)]},
        {"content": [use("Read", file_path="/workspace/.env")]},
        {"content": [use("Grep", pattern="SECRET", path="/workspace", output_mode="content")]},
        {"content": [{"text": "done"}]},
    ]  # fmt: skip
    tools = [Bash(), Read(), Grep()]
    run = run_agent({"model": "claude-sonnet-4-6", "responses": responses},
                    policy="ci-untrusted", tools=tools)  # fmt: skip
    made, read, grep = results(run.requests)
    assert not made["is_error"]
    assert read["is_error"] and "S27" in read["content"] and "SECRET-1" not in read["content"]
    assert grep["content"] == "/workspace/a.txt:1:SECRET-2"

    relaxed = PRESETS["ci-untrusted"].model_copy(
        update={"overrides": {**PRESETS["ci-untrusted"].overrides, "S27": "allow"}}
    )
    run = run_agent({"model": "claude-sonnet-4-6", "responses": responses},
                    policy=relaxed, tools=tools)  # fmt: skip
    _, read, grep = results(run.requests)
    assert not read["is_error"] and "TOKEN=SECRET-1" in read["content"]
    assert "/workspace/.env:1:TOKEN=SECRET-1" in grep["content"]
