"""The orchestrator: runs agent tasks in sandboxes, every action through the gate.

What users may rely on is named here (the modules under it are the implementation):

    from orchestrator import EventBus, RunRequest, run_task
    from sandbox import DockerBackend

    summary = await run_task(RunRequest(task="fix the test", repo=Path("repo")),
                             EventBus(), backend=DockerBackend())

Names load on first use, so `import orchestrator` costs nothing until one is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.agent.loop import AgentLoop, AgentResult, Outcome, RunLimits
    from orchestrator.agent.retry import RetryPolicy
    from orchestrator.agent.subagents import SubAgents
    from orchestrator.agent.usage import Tally, Usage
    from orchestrator.events.audit import AuditLog, AuditReport, verify
    from orchestrator.events.bus import EventBus
    from orchestrator.events.models import (
        ApprovalEvent,
        ApprovalRequestedEvent,
        CompactionEvent,
        ContextEvent,
        DoneEvent,
        EgressEvent,
        ErrorEvent,
        Event,
        ExecOutputEvent,
        FindingSummary,
        SessionStartedEvent,
        TextDeltaEvent,
        ToolCallEvent,
        ToolResultEvent,
        UsageEvent,
        VerdictEvent,
        VerifyEvent,
        parse_event,
    )
    from orchestrator.gate.permission_gate import (
        ApprovalAnswer,
        ApprovalRequest,
        Approver,
        PermissionGate,
        Trust,
    )
    from orchestrator.runs.run import RunError, RunRequest, RunSummary, run_task
    from orchestrator.tools import default_tools
    from orchestrator.tools.base import Tool, ToolContext, ToolError, ToolInput, ToolOutput

_HOMES = {
    "AgentLoop": "orchestrator.agent.loop",
    "AgentResult": "orchestrator.agent.loop",
    "Outcome": "orchestrator.agent.loop",
    "RunLimits": "orchestrator.agent.loop",
    "RetryPolicy": "orchestrator.agent.retry",
    "SubAgents": "orchestrator.agent.subagents",
    "Tally": "orchestrator.agent.usage",
    "Usage": "orchestrator.agent.usage",
    "AuditLog": "orchestrator.events.audit",
    "AuditReport": "orchestrator.events.audit",
    "verify": "orchestrator.events.audit",
    "EventBus": "orchestrator.events.bus",
    "Event": "orchestrator.events.models",
    "SessionStartedEvent": "orchestrator.events.models",
    "TextDeltaEvent": "orchestrator.events.models",
    "ToolCallEvent": "orchestrator.events.models",
    "VerdictEvent": "orchestrator.events.models",
    "ApprovalEvent": "orchestrator.events.models",
    "ApprovalRequestedEvent": "orchestrator.events.models",
    "ExecOutputEvent": "orchestrator.events.models",
    "ToolResultEvent": "orchestrator.events.models",
    "UsageEvent": "orchestrator.events.models",
    "ErrorEvent": "orchestrator.events.models",
    "DoneEvent": "orchestrator.events.models",
    "ContextEvent": "orchestrator.events.models",
    "CompactionEvent": "orchestrator.events.models",
    "VerifyEvent": "orchestrator.events.models",
    "EgressEvent": "orchestrator.events.models",
    "FindingSummary": "orchestrator.events.models",
    "parse_event": "orchestrator.events.models",
    "ApprovalAnswer": "orchestrator.gate.permission_gate",
    "ApprovalRequest": "orchestrator.gate.permission_gate",
    "Approver": "orchestrator.gate.permission_gate",
    "PermissionGate": "orchestrator.gate.permission_gate",
    "Trust": "orchestrator.gate.permission_gate",
    "RunError": "orchestrator.runs.run",
    "RunRequest": "orchestrator.runs.run",
    "RunSummary": "orchestrator.runs.run",
    "run_task": "orchestrator.runs.run",
    "default_tools": "orchestrator.tools",
    "Tool": "orchestrator.tools.base",
    "ToolContext": "orchestrator.tools.base",
    "ToolError": "orchestrator.tools.base",
    "ToolInput": "orchestrator.tools.base",
    "ToolOutput": "orchestrator.tools.base",
}

__all__ = [
    "AgentLoop",
    "AgentResult",
    "ApprovalAnswer",
    "ApprovalEvent",
    "ApprovalRequest",
    "ApprovalRequestedEvent",
    "Approver",
    "AuditLog",
    "AuditReport",
    "CompactionEvent",
    "ContextEvent",
    "DoneEvent",
    "EgressEvent",
    "ErrorEvent",
    "Event",
    "EventBus",
    "ExecOutputEvent",
    "FindingSummary",
    "Outcome",
    "PermissionGate",
    "RetryPolicy",
    "RunError",
    "RunLimits",
    "RunRequest",
    "RunSummary",
    "SessionStartedEvent",
    "SubAgents",
    "Tally",
    "TextDeltaEvent",
    "Tool",
    "ToolCallEvent",
    "ToolContext",
    "ToolError",
    "ToolInput",
    "ToolOutput",
    "ToolResultEvent",
    "Trust",
    "Usage",
    "UsageEvent",
    "VerdictEvent",
    "VerifyEvent",
    "default_tools",
    "parse_event",
    "run_task",
    "verify",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
