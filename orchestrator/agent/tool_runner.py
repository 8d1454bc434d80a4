"""Running the tool calls of one model turn: each through the gate, then in the session.

Read-only calls of a turn run together, the others one at a time in order, and the
results go back in the order of the calls. Whatever goes wrong in a call becomes an
error result for the model; only cancellation and a failed audit log end the turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from anthropic.types import ToolResultBlockParam, ToolUseBlock

from orchestrator.agent.publisher import Publisher
from orchestrator.agent.usage import Tally
from orchestrator.events.bus import SubscriberFailed
from orchestrator.events.models import (
    ApprovalEvent,
    ExecOutputEvent,
    FindingSummary,
    ToolCallEvent,
    ToolResultEvent,
    VerdictEvent,
)
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


@dataclass
class ToolRunner:
    """One agent's tools, its gate and its session; counts calls and verdicts in ``tally``."""

    tools: Sequence[Tool[Any]]
    gate: PermissionGate
    session: Session
    tally: Tally
    publish: Publisher
    spawn: Spawner | None = None  # how an Agent tool call starts a sub-agent
    reads: ReadLedger = field(default_factory=ReadLedger)

    async def run(self, calls: list[ToolUseBlock]) -> list[ToolResultBlockParam]:
        """Run the calls of one turn: read-only ones together, the others in order."""
        results: list[ToolResultBlockParam | None] = [None] * len(calls)
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

    async def _call(self, call: ToolUseBlock) -> ToolResultBlockParam:
        """One call, start to end; whatever goes wrong becomes an error result."""
        self.tally.tool_calls[call.name] = self.tally.tool_calls.get(call.name, 0) + 1
        raw_input = call.input if isinstance(call.input, dict) else {"input": call.input}
        self.publish(ToolCallEvent, call_id=call.id, name=call.name, input=raw_input)
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
        self.publish(
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
            self.publish(ExecOutputEvent, call_id=call.id, stream=chunk.stream, data=data)

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
        self.publish(
            VerdictEvent,
            call_id=call_id,
            decision=decision.value,
            risk=gate.risk.value,
            findings=findings,
            explanation=explanation or "allowed by the policy",
        )
        self.publish(
            ApprovalEvent,
            call_id=call_id,
            approved=gate.allowed,
            by=gate.decided_by,
            reason="; ".join(gate.reasons),
            approver=gate.approver,
        )
