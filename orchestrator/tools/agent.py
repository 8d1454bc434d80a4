"""Agent: hand a self-contained task to a sub-agent with its own container."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from orchestrator.tools.base import Tool, ToolContext, ToolError, ToolInput, ToolOutput
from orchestrator.tools.permission import NothingToAsk
from security.verdict import Risk


class AgentInput(ToolInput):
    description: str = Field(min_length=1, description="The task in 3-5 words")
    prompt: str = Field(min_length=1, description="The whole task for the sub-agent")
    subagent_type: str | None = Field(
        None, description='Accepted for compatibility; every sub-agent is "general-purpose"'
    )


DESCRIPTION = """Starts a sub-agent on a self-contained task and returns its short \
report. The sub-agent starts with a fresh context (it sees only your prompt, so \
include every detail it needs) and works in its own sandbox, a copy of the current \
/workspace: its file changes are not kept. It has Bash, Read, Write, Edit, Grep and \
Glob under the same policy as you, but cannot start sub-agents. Several Agent calls \
in one turn run in parallel. Use it for investigations that would fill your context."""


class SubAgentTool(Tool[AgentInput]):
    """The Agent tool: the model hands a task to a sub-agent."""

    name: ClassVar[str] = "Agent"
    description: ClassVar[str] = DESCRIPTION
    risk: ClassVar[Risk] = Risk.MEDIUM
    read_only: ClassVar[bool] = True  # it works on a copy: calls may run side by side
    input_model: ClassVar[type[ToolInput]] = AgentInput

    def permission_request(self, params: AgentInput) -> NothingToAsk:
        """Nothing itself: each call its sub-agent makes passes the gate."""
        return NothingToAsk(params.prompt)

    async def run(self, params: AgentInput, ctx: ToolContext) -> ToolOutput:
        if ctx.spawn is None:
            raise ToolError("sub-agents are not available here")
        return await ctx.spawn(params.description, params.prompt)
