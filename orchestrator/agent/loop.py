"""The agent loop: model → tool calls → results → model, until the model ends its turn.

Each turn streams one Messages API response (text deltas are published as they
arrive), then runs the tool calls it holds: every call passes the permission gate,
read-only calls of a turn run together, others one at a time, and the results go
back in the order of the calls. The loop stops when the model ends its turn, or at
max turns, the cost budget, the wall-clock limit, cancellation, or repeated failures
of the API (a circuit breaker, rather than looping).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anthropic
import httpx2
from anthropic.types import Message, ToolUseBlock
from pydantic import BaseModel, Field

from orchestrator.agent.context import ContextConfig, ContextManager
from orchestrator.agent.pricing import cost_usd
from orchestrator.agent.prompts import PLAN_PROMPT, SUMMARIZE_PROMPT
from orchestrator.agent.routing import CallKind, ModelRouter
from orchestrator.events.bus import EventBus, SubscriberFailed
from orchestrator.events.models import (
    ApprovalEvent,
    CompactionEvent,
    ContextEvent,
    DoneEvent,
    ErrorEvent,
    ExecOutputEvent,
    FindingSummary,
    TextDeltaEvent,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
    VerdictEvent,
)
from orchestrator.gate.classifier import SafetyClassifier
from orchestrator.gate.permission_gate import GateResult, PermissionGate
from orchestrator.tools.base import (
    ReadLedger,
    Spawner,
    Tool,
    ToolContext,
    ToolError,
    ToolOutput,
    cap,
)
from sandbox import OutputChunk, SandboxError, Session

log = logging.getLogger(__name__)

Outcome = Literal["end_turn", "max_turns", "budget", "timeout", "cancelled", "error"]


class RunLimits(BaseModel):
    """When a loop stops even though the model has not finished."""

    max_turns: int = Field(40, ge=1)
    budget_usd: float | None = Field(None, gt=0)
    budget_tokens: int | None = Field(None, ge=1, description="input + output, all calls")
    wall_clock_s: float | None = Field(None, gt=0)
    max_tokens: int = Field(8192, ge=1, description="per model response")


class RetryPolicy(BaseModel):
    """How the loop retries a turn the SDK could not complete."""

    attempts: int = Field(4, ge=1, description="tries of one turn, the first included")
    backoff_s: float = Field(1.0, ge=0)
    max_backoff_s: float = Field(20.0, ge=0)
    retry_after_cap_s: float = Field(30.0, ge=0, description="a server's retry-after, capped")
    breaker_failures: int = Field(6, ge=1, description="failed tries in a row that end the run")
    read_timeout_s: float = Field(
        120.0, gt=0, description="silence in a stream that counts as a hung server"
    )


class Usage(BaseModel):
    """Tokens and cost of some API calls."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cost_usd += other.cost_usd


class Tally(Usage):
    """What a run used and did, for its summary: totals, and usage by kind of call."""

    turns: int = 0
    tool_calls: dict[str, int] = Field(default_factory=dict)
    verdicts: dict[str, int] = Field(default_factory=dict)
    by_kind: dict[str, Usage] = Field(default_factory=dict)

    def count(self, kind: CallKind, used: Usage) -> None:
        """Add one call's usage, to the totals and to its kind."""
        super().add(used)
        self.by_kind.setdefault(kind, Usage()).add(used)

    def add(self, other: Usage) -> None:
        """Count a sub-agent's use in this tally (its turns stay its own)."""
        if not isinstance(other, Tally):
            super().add(other)
            return
        for name, count in other.tool_calls.items():
            self.tool_calls[name] = self.tool_calls.get(name, 0) + count
        for decision, count in other.verdicts.items():
            self.verdicts[decision] = self.verdicts.get(decision, 0) + count
        for kind, used in other.by_kind.items():
            self.by_kind.setdefault(kind, Usage()).add(used)
        super().add(other)


class AgentResult(BaseModel):
    """How a loop ended."""

    outcome: Outcome
    final_text: str = ""
    error: str | None = None
    tally: Tally


@dataclass
class CircuitBreaker:
    """Failed API tries in a row, counted across a run's agents (they share the API):
    past the threshold every agent of the run stops instead of retrying on."""

    threshold: int
    failures: int = 0

    def failed(self) -> bool:
        """Count a failure; whether the breaker is now open."""
        self.failures += 1
        return self.failures >= self.threshold

    def succeeded(self) -> None:
        self.failures = 0


class TurnFailed(Exception):
    """The API could not give a response for a turn, after every retry."""


@dataclass
class Agent:
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
    spawn: Spawner | None = None  # how an Agent tool call starts a sub-agent
    kind: CallKind = "main"  # what this agent's calls count as
    router: ModelRouter = field(default_factory=ModelRouter.configured)
    tally: Tally = field(default_factory=Tally)
    reads: ReadLedger = field(default_factory=ReadLedger)
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
        self.contexts = ContextManager(
            self.context,
            summarize=self._summarize,
            read_files=self._read_files,
            publish=self._publish_context,
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
        messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
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
                messages.append({"role": "user", "content": await self._run_calls(calls)})
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

    async def _turn(self, messages: list[dict[str, Any]]) -> Message:
        for attempt in range(1, self.retry.attempts + 1):
            try:
                message = await self._stream(messages)
            except (asyncio.CancelledError, TurnFailed, SubscriberFailed):
                raise
            except Exception as exc:
                if isinstance(exc, httpx2.TransportError):  # the SDK does not wrap these
                    exc = _broken_stream(exc)  # mid-stream: a timeout, a reset connection
                if not isinstance(exc, anthropic.APIError):  # a bug or misuse, not the API
                    self._publish(ErrorEvent, message=f"{type(exc).__name__}: {exc}")
                    raise TurnFailed(f"the request failed: {type(exc).__name__}: {exc}") from exc
                if not _retryable(exc):
                    raise TurnFailed(f"the API refused the request: {_describe(exc)}") from exc
                assert self.breaker is not None
                broken = self.breaker.failed()
                last = attempt == self.retry.attempts or broken
                self._publish(ErrorEvent, message=_describe(exc), retrying=not last)
                if last:
                    why = "too many API failures in a row" if broken else "retries exhausted"
                    raise TurnFailed(f"{why}: {_describe(exc)}") from exc
                await asyncio.sleep(self._delay(attempt, exc))
                continue
            assert self.breaker is not None
            self.breaker.succeeded()
            self._count_usage(message)
            return message
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _stream(self, messages: list[dict[str, Any]]) -> Message:
        async with self.client.messages.stream(
            model=self.model,
            max_tokens=self.limits.max_tokens,
            system=self._system_param(),  # type: ignore[arg-type]
            tools=self._tool_params(),
            messages=messages,  # type: ignore[arg-type]
            timeout=self.retry.read_timeout_s,  # per read: a silent stream fails after it
        ) as stream:
            async for event in stream:
                if event.type == "text":
                    self._publish(TextDeltaEvent, text=event.text)
            return await stream.get_final_message()

    def _system_param(self) -> list[dict[str, Any]]:
        return [{"type": "text", "text": self.system, "cache_control": {"type": "ephemeral"}}]

    def _tool_params(self) -> list[Any]:
        params = [tool.schema() for tool in self.tools]
        if params:  # the prefix up to the last tool is cached with the system prompt
            params[-1] = {**params[-1], "cache_control": {"type": "ephemeral"}}
        return params

    def _delay(self, attempt: int, exc: anthropic.APIError) -> float:
        retry_after = _retry_after(exc)
        if retry_after is not None:
            return min(retry_after, self.retry.retry_after_cap_s)
        backoff = min(self.retry.backoff_s * 2 ** (attempt - 1), self.retry.max_backoff_s)
        return float(backoff * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not secrets)

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

    # -- tool calls -----------------------------------------------------------------

    async def _run_calls(self, calls: list[ToolUseBlock]) -> list[dict[str, Any]]:
        """Run the calls of one turn: read-only ones together, the others in order."""
        results: list[dict[str, Any] | None] = [None] * len(calls)
        together: list[int] = []

        async def flush() -> None:
            outputs = await asyncio.gather(*(self._call(calls[i]) for i in together))
            for i, output in zip(together, outputs, strict=True):
                results[i] = output
            together.clear()

        by_name = {tool.name: tool for tool in self.tools}
        for index, call in enumerate(calls):
            tool = by_name.get(call.name)
            if tool is not None and tool.read_only:
                together.append(index)
                continue
            await flush()
            results[index] = await self._call(call)
        await flush()
        return [r for r in results if r is not None]

    async def _call(self, call: ToolUseBlock) -> dict[str, Any]:
        """One call, start to end; whatever goes wrong becomes an error result."""
        self.tally.tool_calls[call.name] = self.tally.tool_calls.get(call.name, 0) + 1
        raw_input = call.input if isinstance(call.input, dict) else {"input": call.input}
        self._publish(ToolCallEvent, call_id=call.id, name=call.name, input=raw_input)
        try:
            output = await self._checked_run(call)
        except ToolError as exc:
            output = ToolOutput(content=str(exc), is_error=True)
        except SandboxError as exc:
            output = ToolOutput(content=f"The sandbox failed: {exc}", is_error=True)
        except (asyncio.CancelledError, SubscriberFailed):
            raise
        except Exception as exc:  # a bug in a tool must not end the session
            log.exception("tool %s failed", call.name)
            output = ToolOutput(content=f"{call.name} failed: {type(exc).__name__}: {exc}",
                                is_error=True)  # fmt: skip
        content, cut = cap(output.content)
        report = output.confinement
        self._publish(
            ToolResultEvent,
            call_id=call.id,
            is_error=output.is_error,
            content=content,
            truncated=output.truncated or cut,
            confined=None if report is None else report.confined,
            confinement=None if report is None else report.summary(),
        )
        return {
            "type": "tool_result",
            "tool_use_id": call.id,
            "content": content,
            "is_error": output.is_error,
        }

    async def _checked_run(self, call: ToolUseBlock) -> ToolOutput:
        tool = next((t for t in self.tools if t.name == call.name), None)
        if tool is None:
            known = ", ".join(t.name for t in self.tools)
            raise ToolError(f"no tool named {call.name!r}; the tools are: {known}")
        params = tool.parse(call.input)
        gate = await self.gate.check(tool, params)
        self._publish_gate(call.id, gate)
        if not gate.allowed:
            return ToolOutput(content=gate.refusal(), is_error=True)

        def on_output(chunk: OutputChunk) -> None:
            data = chunk.data.decode("utf-8", "replace")
            self._publish(ExecOutputEvent, call_id=call.id, stream=chunk.stream, data=data)

        ctx = ToolContext(self.session, call.id, self.reads, on_output, self.spawn,
                          may_read=self.gate.may_read, permits=self.gate.permits)  # fmt: skip
        return await tool.run(params, ctx)

    def _publish_gate(self, call_id: str, gate: GateResult) -> None:
        decision = gate.decision  # the verdict's, made stricter by a tool's own rules
        self.tally.verdicts[decision.value] = self.tally.verdicts.get(decision.value, 0) + 1
        findings = (
            [FindingSummary(check=f.check, title=f.title, detail=f.detail)
             for f in gate.verdict.findings]
            if gate.verdict else []
        )  # fmt: skip
        same = gate.verdict is not None and gate.verdict.decision is decision
        explanation = gate.verdict.explanation if same and gate.verdict else "; ".join(gate.reasons)
        self._publish(
            VerdictEvent,
            call_id=call_id,
            decision=decision.value,
            risk=gate.risk.value,
            findings=findings,
            explanation=explanation or "allowed by the policy",
        )
        self._publish(
            ApprovalEvent,
            call_id=call_id,
            approved=gate.allowed,
            by=gate.decided_by,
            reason="; ".join(gate.reasons),
        )

    # -- events and results -----------------------------------------------------------

    def _publish(self, event_class: type[Any], /, **fields: Any) -> None:
        self.bus.publish(event_class(session_id=self.session_id, agent=self.name, **fields))

    def _publish_done(self, outcome: Outcome) -> None:
        with contextlib.suppress(Exception):
            self._publish(DoneEvent, outcome=outcome, turns=self.tally.turns)

    def _result(self, outcome: Outcome, text: str = "", error: str | None = None) -> AgentResult:
        return AgentResult(outcome=outcome, final_text=text, error=error, tally=self.tally)


def usage_of(message: Message) -> Usage:
    """The usage and cost of one response, priced by the model that answered."""
    usage = message.usage
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    return Usage(
        calls=1,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_input_tokens=read,
        cache_creation_input_tokens=written,
        cost_usd=cost_usd(message.model, usage.input_tokens, usage.output_tokens, read, written),
    )


def _as_params(message: Message) -> list[dict[str, Any]]:
    """The assistant's content as request params (only the fields a request takes)."""
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            blocks.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            blocks.append(
                {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
            )
    return blocks


def _broken_stream(exc: httpx2.TransportError) -> anthropic.APIError:
    """A transport failure inside a stream, as the SDK's own connection error."""
    timed_out = isinstance(exc, httpx2.TimeoutException)
    error: anthropic.APIError = (
        anthropic.APITimeoutError(request=exc.request)
        if timed_out
        else anthropic.APIConnectionError(
            message=f"{type(exc).__name__}: {exc}", request=exc.request
        )
    )
    error.__cause__ = exc
    return error


def _retryable(exc: anthropic.APIError) -> bool:
    """Worth another try: connection trouble, 408/409/429/5xx, or an error event
    inside a stream (HTTP 200, which the SDK does not retry)."""
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        return status in (200, 408, 409, 429) or status >= 500
    return False


def _retry_after(exc: anthropic.APIError) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is not None:
            with contextlib.suppress(ValueError):
                return max(0.0, float(value) * scale)
    return None


def _describe(exc: anthropic.APIError) -> str:
    kind = getattr(exc, "type", None) or type(exc).__name__
    status = getattr(exc, "status_code", None)
    where = f"HTTP {status}" if status and status != 200 else "in the stream"
    if isinstance(exc, anthropic.APIConnectionError):
        where = "connection"
    return f"{kind} ({where}): {getattr(exc, 'message', str(exc))}"
