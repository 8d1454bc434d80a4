"""Sub-agents: a child loop with a fresh context, its own container and its own budget.

The child's container is a fork of the parent's workspace. The child gets the
parent's tools but Agent (one level deep) and Remember (its copy is dropped), the
parent's policy and approver, and what is left of the parent's budget. Only a capped
report of the child's final text reaches the parent's context, never its transcript.
Its container is removed when it ends, is cancelled, or fails.
"""

from __future__ import annotations

import asyncio
import itertools

from orchestrator.agent.loop import Agent, RunLimits
from orchestrator.agent.prompts import SUB_AGENT_PROMPT
from orchestrator.tools.base import ToolOutput, cap

REPORT_CHARS = 4_000
PARENT_ONLY = frozenset({"Agent", "Remember"})  # one level deep; a child's copy is dropped
CHILD_MAX_TURNS = 25


def enable_sub_agents(parent: Agent, *, report_chars: int = REPORT_CHARS) -> None:
    """Let ``parent``'s Agent tool calls start children."""
    numbers = itertools.count(1)

    async def spawn(description: str, prompt: str) -> ToolOutput:
        name = f"{parent.name}/{next(numbers)}:{description[:40]}"
        remaining = (
            None
            if parent.limits.budget_usd is None
            else max(parent.limits.budget_usd - parent.tally.cost_usd, 1e-9)
        )
        limits = RunLimits(
            max_turns=min(parent.limits.max_turns, CHILD_MAX_TURNS),
            budget_usd=remaining,
            max_tokens=parent.limits.max_tokens,
        )
        session = await parent.session.fork()
        try:
            child = Agent(
                name=name,
                session_id=parent.session_id,
                client=parent.client,
                model=parent.router.model_for("subagent"),
                kind="subagent",
                router=parent.router,
                session=session,
                gate=parent.gate,
                tools=[t for t in parent.tools if t.name not in PARENT_ONLY],
                bus=parent.bus,
                system=SUB_AGENT_PROMPT,
                limits=limits,
                retry=parent.retry,
                breaker=parent.breaker,
                context=parent.context,
            )
            result = await child.run(prompt)
        finally:
            await asyncio.shield(session.close())
        parent.tally.add(child.tally)
        report, cut = cap(result.final_text or "(the sub-agent gave no report)", report_chars)
        if result.outcome != "end_turn":
            report = f"The sub-agent stopped early ({result.outcome}: {result.error}).\n{report}"
        return ToolOutput(content=report, is_error=result.outcome == "error", truncated=cut)

    parent.spawn = spawn
