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
from collections.abc import Iterator
from dataclasses import dataclass, field

from orchestrator.agent.loop import AgentLoop, RunLimits
from orchestrator.agent.prompts import SUB_AGENT_PROMPT
from orchestrator.tools.base import ToolOutput, cap

REPORT_CHARS = 4_000
PARENT_ONLY = frozenset({"Agent", "Remember"})  # one level deep; a child's copy is dropped
CHILD_MAX_TURNS = 25


@dataclass
class SubAgents:
    """Starts a parent's children (give it to `AgentLoop` as ``sub_agents``)."""

    report_chars: int = REPORT_CHARS
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    async def spawn(self, parent: AgentLoop, description: str, prompt: str) -> ToolOutput:
        """Run one child in a fork of ``parent``'s session; its capped report comes back."""
        name = f"{parent.name}/{next(self._numbers)}:{description[:40]}"
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
            child = parent.child(
                name,
                session,
                tools=[t for t in parent.tools if t.name not in PARENT_ONLY],
                system=SUB_AGENT_PROMPT,
                limits=limits,
            )
            result = await child.run(prompt)
        finally:
            await asyncio.shield(session.close())
        parent.tally.add(child.tally)
        report, cut = cap(result.final_text or "(the sub-agent gave no report)", self.report_chars)
        if result.outcome != "end_turn":
            report = f"The sub-agent stopped early ({result.outcome}: {result.error}).\n{report}"
        return ToolOutput(content=report, is_error=result.outcome == "error", truncated=cut)
