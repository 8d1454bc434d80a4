"""One agent run for a test: the real SDK against the fake Messages API on loopback, a
real session container, the real loop; what it returned, published and was asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anthropic

from orchestrator.agent.loop import AgentLoop, AgentResult
from orchestrator.agent.prompts import SYSTEM_PROMPT
from orchestrator.agent.subagents import SubAgents
from orchestrator.events.bus import EventBus
from orchestrator.events.models import Event
from orchestrator.gate.permission_gate import PermissionGate, Trust
from orchestrator.testing.fake_api import FakeMessagesAPI
from orchestrator.testing.replay import Replay, parse_replay
from orchestrator.tools.bash import Bash
from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.spec import SessionSpec
from security import PRESETS, Policy

MODEL = "claude-sonnet-4-6"


@dataclass
class AgentRun:
    result: AgentResult
    events: list[Event]
    api: FakeMessagesAPI
    after: Any = None  # what the ``after`` callback returned

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The bodies of the Messages requests, in order."""
        return [r.body for r in self.api.message_requests]


async def run_agent_async(
    replay: Replay | dict[str, Any],
    task: str = "go",
    *,
    policy: Policy | str = "dev",
    sub_agents: bool = False,
    max_retries: int = 0,
    bus: EventBus | None = None,
    after: Callable[[DockerSession], Awaitable[Any]] | None = None,
    **agent_options: Any,
) -> AgentRun:
    """Run ``task`` against ``replay``; ``agent_options`` override the Agent's defaults
    (model, tools [Bash], trusted gate under ``policy``, the system prompt)."""
    replay = replay if isinstance(replay, Replay) else parse_replay(replay)
    events: list[Event] = []
    bus = bus or EventBus()
    bus.subscribe(events.append)
    policy = PRESETS[policy] if isinstance(policy, str) else policy
    with FakeMessagesAPI(replay) as api:
        client = anthropic.AsyncAnthropic(
            api_key="test-key", base_url=api.base_url, max_retries=max_retries
        )
        try:
            async with DockerBackend().session(SessionSpec()) as session:
                options: dict[str, Any] = {
                    "model": MODEL,
                    "gate": PermissionGate(policy, Trust(trusted=True, by="flag")),
                    "tools": [Bash()],
                    "system": SYSTEM_PROMPT,
                    **agent_options,
                }
                agent = AgentLoop(
                    name="main", session_id=session.id, client=client, session=session,
                    bus=bus, sub_agents=SubAgents() if sub_agents else None, **options,
                )  # fmt: skip
                result = await agent.run(task)
                later = await after(session) if after else None
        finally:
            await client.close()
    return AgentRun(result=result, events=events, api=api, after=later)


def run_agent(replay: Replay | dict[str, Any], task: str = "go", **options: Any) -> AgentRun:
    """`run_agent_async` from synchronous test code."""
    return asyncio.run(run_agent_async(replay, task, **options))
