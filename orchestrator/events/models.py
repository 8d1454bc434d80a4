"""What the agent loop tells its subscribers: one pydantic model per event kind.

Events are the wire format shared by the terminal renderer, the audit log and the
HTTP service. Each is a frozen model with a ``type`` literal; ``Event`` is their
discriminated union and ``parse_event`` reads one back from JSON. Events carry no
timestamp: whoever records them (the audit log) stamps the time.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class EventBase(BaseModel):
    """Fields every event carries: which session, and which agent in it."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    session_id: str = Field(min_length=1)
    agent: str = Field(min_length=1, description='"main", or the name of a sub-agent')


class SessionStartedEvent(EventBase):
    """A session began: the task and what it runs with."""

    type: Literal["session_started"] = "session_started"
    task: str
    policy: str = Field(description="name of the policy in force")
    model: str
    image: str
    runtime: Literal["runc", "runsc"]


class TextDeltaEvent(EventBase):
    """A piece of the model's streamed text."""

    type: Literal["text_delta"] = "text_delta"
    text: str


class ToolCallEvent(EventBase):
    """The model asked to run a tool (``name``) with ``input``."""

    type: Literal["tool_call"] = "tool_call"
    call_id: str
    name: str = Field(description="the tool's name, such as Bash")
    input: dict[str, Any]


class FindingSummary(BaseModel):
    """One analyzer finding, as events and the audit log record it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    check: str = Field(description="check id, such as S07")
    title: str
    detail: str


class VerdictEvent(EventBase):
    """The permission gate's verdict on a tool call."""

    type: Literal["verdict"] = "verdict"
    call_id: str
    decision: Literal["allow", "ask", "deny"]
    risk: Literal["low", "medium", "high"]
    findings: list[FindingSummary] = Field(default_factory=list)
    explanation: str


class ApprovalEvent(EventBase):
    """Whether a tool call may run, and who decided it."""

    type: Literal["approval"] = "approval"
    call_id: str
    approved: bool
    by: Literal["policy", "person", "callback", "classifier"]
    reason: str = ""
    approver: str | None = Field(None, description="the identity that answered, if named")


class ApprovalRequestedEvent(EventBase):
    """A tool call waits for a person's answer (`airlock serve`'s approvals)."""

    type: Literal["approval_requested"] = "approval_requested"
    approval_id: str
    tool: str
    command: str = Field(description="the shell line judged, or the request's summary")
    risk: Literal["low", "medium", "high"]
    reasons: list[str] = Field(default_factory=list)
    expires_in_s: float = Field(ge=0)


class ExecOutputEvent(EventBase):
    """A chunk of a running command's output."""

    type: Literal["exec_output"] = "exec_output"
    call_id: str
    stream: Literal["stdout", "stderr"]
    data: str


class ToolResultEvent(EventBase):
    """What a tool call returned to the model (a refusal is an error result)."""

    type: Literal["tool_result"] = "tool_result"
    call_id: str
    is_error: bool
    content: str
    truncated: bool = False
    confined: bool | None = Field(
        None, description="a command asked to run confined as read-only: whether it was"
    )
    confinement: str | None = Field(None, description="how, or why not, in one line")


class UsageEvent(EventBase):
    """Tokens used by one model response, and what they cost."""

    type: Literal["usage"] = "usage"
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cache_read_input_tokens: int = Field(0, ge=0)
    cache_creation_input_tokens: int = Field(0, ge=0)
    cost_usd: float = Field(ge=0)


class ErrorEvent(EventBase):
    """Something failed; ``retrying`` says whether the loop tries again."""

    type: Literal["error"] = "error"
    message: str
    retrying: bool = False


class DoneEvent(EventBase):
    """The agent stopped: why, and after how many turns."""

    type: Literal["done"] = "done"
    outcome: Literal["end_turn", "max_turns", "budget", "timeout", "cancelled", "error"]
    turns: int = Field(ge=0)


class ContextEvent(EventBase):
    """Before a turn: the tokens of the request about to be sent, by component."""

    type: Literal["context"] = "context"
    total: int = Field(ge=0)
    window: int = Field(ge=0)
    system: int = Field(ge=0)
    tools: int = Field(ge=0)
    messages: int = Field(ge=0, description="all but tool results")
    tool_results: int = Field(ge=0)


class CompactionEvent(EventBase):
    """The context was trimmed (micro) or summarized (auto), or a summary failed."""

    type: Literal["compaction"] = "compaction"
    kind: Literal["micro", "auto"]
    tokens_before: int = Field(ge=0)
    tokens_after: int = Field(ge=0)
    items: int = Field(ge=0, description="results trimmed, or messages summarized")
    failed: bool = False
    message: str = ""


class VerifyEvent(EventBase):
    """The run's success criterion (``--verify``): the gate's answer and the command's exit."""

    type: Literal["verify"] = "verify"
    command: str
    allowed: bool
    exit_code: int | None = None
    passed: bool
    reason: str = ""


class EgressEvent(EventBase):
    """One request through the session's egress proxy, allowed or refused, once it ended
    (`sandbox.egress.EgressRecord`): where to, the proxy's decision and why, and the bytes
    each way."""

    type: Literal["egress"] = "egress"
    host: str
    port: int = Field(ge=0, le=65535)
    method: str = Field(description="the HTTP method; CONNECT for a tunnel")
    decision: Literal["allowed", "refused"]
    reason: str
    status: int | None = None
    error: str | None = None
    bytes_up: int = Field(ge=0)
    bytes_down: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    terminated: bool = Field(
        False, description="a tunnel whose TLS the proxy terminated to broker credentials"
    )
    brokered: list[str] = Field(
        default_factory=list, description="credentials put in (their variable names, never values)"
    )
    withheld: list[str] = Field(
        default_factory=list,
        description="credentials whose placeholder went toward a host they are not for, unchanged",
    )


Event = Annotated[
    SessionStartedEvent
    | TextDeltaEvent
    | ToolCallEvent
    | VerdictEvent
    | ApprovalEvent
    | ApprovalRequestedEvent
    | ExecOutputEvent
    | ToolResultEvent
    | UsageEvent
    | ErrorEvent
    | DoneEvent
    | ContextEvent
    | CompactionEvent
    | VerifyEvent
    | EgressEvent,
    Field(discriminator="type"),
]
"""Any event, told apart by its ``type`` field."""

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes) -> Event:
    """The event encoded by the JSON ``data``; raises ``pydantic.ValidationError``."""
    return EVENT_ADAPTER.validate_json(data)
