"""The agent loop: model → tool calls → results → model, until the model ends its turn.

Each turn streams one Messages API response (text deltas are published as they
arrive), then hands the tool calls it holds to the `ToolRunner`. The loop stops when
the model ends its turn, or at max turns, the cost budget, the wall-clock limit,
cancellation, or repeated failures of the API (`retry`: a circuit breaker, rather
than looping).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

import anthropic
from anthropic.types import (
    ContentBlockParam,
    Message,
    MessageParam,
    TextBlockParam,
    ToolParam,
    ToolUseBlock,
)
from pydantic import BaseModel, Field

from orchestrator.agent.context import ContextConfig, ContextManager
from orchestrator.agent.prompts import PLAN_PROMPT, SUMMARIZE_PROMPT
from orchestrator.agent.publisher import Publisher
from orchestrator.agent.retry import CircuitBreaker, RetryPolicy, TurnFailed, with_retries
from orchestrator.agent.routing import CallKind, ModelRouter
from orchestrator.agent.tool_runner import ToolRunner
from orchestrator.agent.usage import Tally, usage_of
from orchestrator.events.bus import EventBus, SubscriberFailed
from orchestrator.events.models import (
    CompactionEvent,
    ContextEvent,
    DoneEvent,
    ErrorEvent,
    TextDeltaEvent,
    UsageEvent,
)
from orchestrator.gate.classifier import SafetyClassifier
from orchestrator.gate.permission_gate import PermissionGate
from orchestrator.tools.base import Tool, ToolOutput
from sandbox import SandboxError, Session

Outcome = Literal["end_turn", "max_turns", "budget", "timeout", "cancelled", "error"]


class RunLimits(BaseModel):
    """When a loop stops even though the model has not finished."""

    max_turns: int = Field(40, ge=1)
    budget_usd: float | None = Field(None, gt=0)
    budget_tokens: int | None = Field(None, ge=1, description="input + output, all calls")
    wall_clock_s: float | None = Field(None, gt=0)
    max_tokens: int = Field(8192, ge=1, description="per model response")


class AgentResult(BaseModel):
    """How a loop ended."""

    outcome: Outcome
    final_text: str = ""
    error: str | None = None
    tally: Tally


class SubAgentStarter(Protocol):
    """What runs an Agent tool call: a child loop working for ``parent``."""

    def spawn(self, parent: AgentLoop, description: str, prompt: str) -> Awaitable[ToolOutput]:
        """Run the child to its end; its report is the tool's output."""
        ...


@dataclass
class AgentLoop:
    """One agent: a conversation with the model, a session, a gate and tools."""

    name: str
    session_id: str
    client: anthropic.AsyncAnthropic
    model: str
    session: Session
    gate: PermissionGate
    tools: Sequence[Tool[Any]]
    bus: EventBus
    system: str
    limits: RunLimits = field(default_factory=RunLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sub_agents: SubAgentStarter | None = None  # None: Agent tool calls are refused
    kind: CallKind = "main"  # what this agent's calls count as
    router: ModelRouter = field(default_factory=ModelRouter.configured)
    tally: Tally = field(default_factory=Tally)
    breaker: CircuitBreaker | None = None  # shared with sub-agents; made from `retry`
    context: ContextConfig = field(default_factory=ContextConfig)
    plan: str | None = None  # the active plan: put back whole after a compaction

    def __post_init__(self) -> None:
        if self.breaker is None:
            self.breaker = CircuitBreaker(self.retry.breaker_failures)
        if self.gate.policy.classify_asks and self.gate.classifier is None:
            self.gate.classifier = SafetyClassifier(
                self.client,
                self.router.model_for("classify"),
                on_response=lambda message: self._count_usage(message, "classify"),
            )
        self._publish = Publisher(self.bus, self.session_id, self.name)
        self.contexts = ContextManager(
            self.context,
            summarize=self._summarize,
            read_files=self._read_files,
            publish=self._publish_context,
        )
        self.runner = ToolRunner(
            self.tools,
            self.gate,
            self.session,
            self.tally,
            self._publish,
            spawn=None if self.sub_agents is None else partial(self.sub_agents.spawn, self),
        )

    def child(
        self,
        name: str,
        session: Session,
        *,
        tools: Sequence[Tool[Any]],
        system: str,
        limits: RunLimits,
    ) -> AgentLoop:
        """A sub-agent's loop: its own session, tools and limits; this run's API client,
        models, gate, events, retries and breaker. It cannot start sub-agents itself."""
        return AgentLoop(
            name=name,
            session_id=self.session_id,
            client=self.client,
            model=self.router.model_for("subagent"),
            kind="subagent",
            router=self.router,
            session=session,
            gate=self.gate,
            tools=tools,
            bus=self.bus,
            system=system,
            limits=limits,
            retry=self.retry,
            breaker=self.breaker,
            context=self.context,
        )

    # -- the loop -------------------------------------------------------------------

    async def run(self, task: str) -> AgentResult:
        """Work on ``task`` until the model ends its turn or a limit stops it."""
        try:
            async with asyncio.timeout(self.limits.wall_clock_s):
                result = await self._loop(task)
        except TimeoutError:
            result = self._result("timeout", error="wall-clock limit reached")
        except SubscriberFailed as exc:  # the audit log failed: stop rather than go on blind
            result = self._result("error", error=f"an event could not be recorded: {exc}")
        except asyncio.CancelledError:
            self._publish_done("cancelled")
            raise
        self._publish_done(result.outcome)
        return result

    async def _loop(self, task: str) -> AgentResult:
        messages: list[MessageParam] = [{"role": "user", "content": task}]
        text = ""
        while True:
            if self.tally.turns >= self.limits.max_turns:
                return self._result("max_turns", text, f"stopped after {self.tally.turns} turns")
            spent = self._over_budget()
            if spent:
                return self._result("budget", text, spent)
            messages = await self.contexts.prepare(
                self._system_param(), self._tool_params(), messages, self.plan
            )
            try:
                message = await self._turn(messages)
            except TurnFailed as exc:
                return self._result("error", text, str(exc))
            usage = message.usage
            self.contexts.observe(
                usage.input_tokens
                + (usage.cache_read_input_tokens or 0)
                + (usage.cache_creation_input_tokens or 0)
            )
            self.tally.turns += 1
            text = "".join(b.text for b in message.content if b.type == "text") or text
            messages.append({"role": "assistant", "content": _as_params(message)})
            calls = [b for b in message.content if isinstance(b, ToolUseBlock)]
            if calls:
                messages.append({"role": "user", "content": await self.runner.run(calls)})
            elif message.stop_reason == "max_tokens":
                messages.append({"role": "user", "content": "You were cut off; go on."})
            elif message.stop_reason == "refusal":
                return self._result("error", text, "the model declined the task")
            else:
                return self._result("end_turn", text)

    def _over_budget(self) -> str | None:
        """What ran out, if a budget did."""
        tally, limits = self.tally, self.limits
        if limits.budget_usd is not None and tally.cost_usd >= limits.budget_usd:
            return f"spent ${tally.cost_usd:.4f} of ${limits.budget_usd}"
        used = tally.input_tokens + tally.output_tokens
        if limits.budget_tokens is not None and used >= limits.budget_tokens:
            return f"used {used} tokens of {limits.budget_tokens}"
        return None

    # -- one model response, with retries ------------------------------------------

    async def _turn(self, messages: list[MessageParam]) -> Message:
        assert self.breaker is not None

        def report(message: str, retrying: bool) -> None:
            self._publish(ErrorEvent, message=message, retrying=retrying)

        message = await with_retries(
            partial(self._stream, messages), self.retry, self.breaker, report
        )
        self._count_usage(message)
        return message

    async def _stream(self, messages: list[MessageParam]) -> Message:
        async with self.client.messages.stream(
            model=self.model,
            max_tokens=self.limits.max_tokens,
            system=self._system_param(),
            tools=self._tool_params(),
            messages=messages,
            timeout=self.retry.read_timeout_s,  # per read: a silent stream fails after it
        ) as stream:
            async for event in stream:
                if event.type == "text":
                    self._publish(TextDeltaEvent, text=event.text)
            return await stream.get_final_message()

    def _system_param(self) -> list[TextBlockParam]:
        return [{"type": "text", "text": self.system, "cache_control": {"type": "ephemeral"}}]

    def _tool_params(self) -> list[ToolParam]:
        params = [tool.schema() for tool in self.tools]
        if params:  # the prefix up to the last tool is cached with the system prompt
            params[-1] = {**params[-1], "cache_control": {"type": "ephemeral"}}
        return params

    def _count_usage(self, message: Message, kind: CallKind | None = None) -> None:
        """Count one response's usage under ``kind`` (this agent's own by default)."""
        used = usage_of(message)
        self.tally.count(kind or self.kind, used)
        self._publish(
            UsageEvent,
            input_tokens=used.input_tokens,
            output_tokens=used.output_tokens,
            cache_read_input_tokens=used.cache_read_input_tokens,
            cache_creation_input_tokens=used.cache_creation_input_tokens,
            cost_usd=used.cost_usd,
        )

    # -- context management -----------------------------------------------------------

    async def _summarize(self, transcript: str) -> str:
        """One summarize-kind call: the old turns in, a structured summary out."""
        return await self._one_shot(
            "summarize", SUMMARIZE_PROMPT, transcript, self.context.summary_max_tokens
        )

    async def make_plan(self, task: str, listing: str) -> str:
        """One plan-kind call: a short plan for ``task``, kept as the active plan."""
        prompt = f"Task:\n{task}\n\nFiles in /workspace:\n{listing}"
        self.plan = (await self._one_shot("plan", PLAN_PROMPT, prompt, 2_000)).strip() or None
        return self.plan or ""

    async def _one_shot(self, kind: CallKind, system: str, prompt: str, max_tokens: int) -> str:
        """One request outside the conversation, on ``kind``'s model; its text, counted."""
        async with self.client.messages.stream(
            model=self.router.model_for(kind),
            max_tokens=max_tokens,
            system=system,
            messages=[{"role": "user", "content": prompt}],
        ) as stream:
            message = await stream.get_final_message()
        self._count_usage(message, kind)
        return "".join(b.text for b in message.content if b.type == "text")

    async def _read_files(self, paths: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        cap = self.context.file_cap_tokens * 4 * 4  # bytes; the text is cut after decoding
        for path in paths:
            with contextlib.suppress(SandboxError):
                data = await self.session.get_file(path, max_bytes=cap)
                found[path] = data.decode("utf-8", "replace")
        return found

    def _publish_context(self, event_type: str, /, **fields: Any) -> None:
        self._publish(ContextEvent if event_type == "context" else CompactionEvent, **fields)

    # -- events and results -----------------------------------------------------------

    def _publish_done(self, outcome: Outcome) -> None:
        with contextlib.suppress(Exception):
            self._publish(DoneEvent, outcome=outcome, turns=self.tally.turns)

    def _result(self, outcome: Outcome, text: str = "", error: str | None = None) -> AgentResult:
        return AgentResult(outcome=outcome, final_text=text, error=error, tally=self.tally)


def _as_params(message: Message) -> list[ContentBlockParam]:
    """The assistant's content as request params (only the fields a request takes)."""
    blocks: list[ContentBlockParam] = []
    for block in message.content:
        if block.type == "text":
            blocks.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            blocks.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            )
    return blocks
