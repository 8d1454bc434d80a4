"""Replay scripts: the ordered answers a fake Messages API serves, one per request.

A replay is a YAML file. Each entry of `responses` answers one `POST /v1/messages`, in
order: either an assistant message or a fault (an HTTP error, or an error event in the
middle of a stream)::

    model: claude-sonnet-4-6
    responses:
      - content:
          - text: "I'll look at the tests."
          - tool_use: {name: Bash, input: {command: "pytest -q"}}
        usage: {input_tokens: 120, output_tokens: 30}
      - fault: {status: 429, retry_after: 1}
      - fault: {stream_error: overloaded_error, partial_text: "Let me"}
      - content: [{text: "Done."}]

Loading fills in what a file may leave out, so a loaded `Replay` is fully resolved:
every tool_use block has an id (`toolu_replay_0001`, ... in file order) and every message
has a stop_reason (`tool_use` when it calls a tool, else `end_turn`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
]
"""The `error.type` values of the API's error bodies."""

StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]
"""Why the model stopped, as the API reports it."""

TOOL_ID_FORMAT = "toolu_replay_{:04d}"
"""Ids given to tool_use blocks that the replay file leaves without one."""

STATUS_ERROR_TYPES: dict[int, ErrorType] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
"""The error type the real API sends with each HTTP status."""

ERROR_STATUSES: dict[ErrorType, int] = {kind: status for status, kind in STATUS_ERROR_TYPES.items()}
"""The HTTP status that goes with each error type."""

DEFAULT_ERROR_MESSAGES: dict[ErrorType, str] = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}
"""The message of an error whose replay entry gives none."""


class ReplayError(Exception):
    """A replay file that cannot be read, parsed or validated."""


class _Strict(BaseModel):
    """Base of the replay models: unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid")


class ToolUse(_Strict):
    """A call of one tool by the model."""

    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class TextItem(_Strict):
    """A text content block: `- text: "..."`."""

    text: str


def _tag_by_key(choices: dict[str, tuple[type[BaseModel], str]]) -> Callable[[Any], str | None]:
    """A union's discriminator: the tag of the model whose key a mapping has.

    ``choices`` maps a key that only one model of the union has to (that model, its tag).
    None (no tag) lets pydantic report the union's own error message.
    """

    def tag(value: Any) -> str | None:
        for key, (model, name) in choices.items():
            if isinstance(value, model) or (isinstance(value, dict) and key in value):
                return name
        return None

    return tag


class ToolUseItem(_Strict):
    """A tool_use content block: `- tool_use: {name: ..., input: {...}}`."""

    tool_use: ToolUse


ContentItem = Annotated[
    Annotated[TextItem, Tag("text block")] | Annotated[ToolUseItem, Tag("tool_use block")],
    Discriminator(
        _tag_by_key(
            {"text": (TextItem, "text block"), "tool_use": (ToolUseItem, "tool_use block")}
        ),
        custom_error_type="content_block",
        custom_error_message=(
            "a content block is {text: ...} or {tool_use: {name: ..., input: {...}}}"
        ),
    ),
]
"""One block of an assistant message."""


class Usage(_Strict):
    """Token counts reported for a message; what is left out is estimated when served."""

    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cache_creation_input_tokens: int | None = Field(default=None, ge=0)
    cache_read_input_tokens: int | None = Field(default=None, ge=0)


class MessageStep(_Strict):
    """An assistant message the fake answers with."""

    content: list[ContentItem] = Field(min_length=1)
    stop_reason: StopReason | None = None
    usage: Usage = Field(default_factory=Usage)

    @property
    def tool_uses(self) -> list[ToolUse]:
        """The tool calls of this message, in order."""
        return [item.tool_use for item in self.content if isinstance(item, ToolUseItem)]

    @model_validator(mode="after")
    def _default_stop_reason(self) -> MessageStep:
        if self.stop_reason is None:
            self.stop_reason = "tool_use" if self.tool_uses else "end_turn"
        return self


class HttpFault(_Strict):
    """An HTTP error response (such as 429, 500 or 529) with the API's JSON error body."""

    status: int = Field(ge=400, le=599)
    error_type: ErrorType | None = None
    message: str | None = None
    retry_after: float | None = Field(default=None, ge=0)
    """Seconds, sent as the `retry-after` header."""
    retry_after_ms: int | None = Field(default=None, ge=0)
    """Milliseconds, sent as the `retry-after-ms` header (the SDK prefers it)."""
    should_retry: bool | None = None
    """Sent as the `x-should-retry` header, which overrides the SDK's own retry policy."""

    @property
    def kind(self) -> ErrorType:
        """The `error.type` of the body: as given, else what the real API sends for status."""
        return self.error_type or STATUS_ERROR_TYPES.get(self.status, "api_error")


class StreamFault(_Strict):
    """HTTP 200 and a stream that breaks: an SSE `error` event after `message_start`.

    With `partial_text`, a text block is started and that text streamed before the
    error. Served to a request that does not stream, it becomes the HTTP error with the
    status of its error type (529 for overloaded_error), as the real API does.
    """

    stream_error: ErrorType
    message: str | None = None
    partial_text: str | None = None
    hang_s: float | None = Field(default=None, gt=0)
    """Stall this long before the error event: a server that hangs mid-stream."""


Fault = Annotated[
    Annotated[HttpFault, Tag("http fault")] | Annotated[StreamFault, Tag("stream fault")],
    Discriminator(
        _tag_by_key(
            {"status": (HttpFault, "http fault"), "stream_error": (StreamFault, "stream fault")}
        ),
        custom_error_type="fault",
        custom_error_message="a fault is {status: ...} or {stream_error: ...}",
    ),
]
"""A failure the fake answers with instead of a message."""


class FaultStep(_Strict):
    """A replay entry that answers with a fault."""

    fault: Fault


Step = Annotated[
    Annotated[MessageStep, Tag("message step")] | Annotated[FaultStep, Tag("fault step")],
    Discriminator(
        _tag_by_key({"fault": (FaultStep, "fault step"), "content": (MessageStep, "message step")}),
        custom_error_type="response",
        custom_error_message="a response is {content: [...]} or {fault: {...}}",
    ),
]
"""One entry of a replay: what one request is answered with."""


class Replay(_Strict):
    """A whole replay script: the model name to report and the answers, in order."""

    model: str | None = None
    """The model the fake reports; when unset, it echoes the model of each request."""
    responses: list[Step]
    by_model: dict[str, list[Step]] = Field(default_factory=dict)
    """Lanes: a request for one of these models takes its answer from that list instead
    (so a test can script the summarize calls apart from the agent's turns)."""

    def lane(self, model: str) -> list[Step]:
        """The answers for requests naming ``model``."""
        return self.by_model.get(model, self.responses)

    @property
    def total(self) -> int:
        return len(self.responses) + sum(len(steps) for steps in self.by_model.values())

    @model_validator(mode="after")
    def _number_tool_uses(self) -> Replay:
        number = 0
        for step in [*self.responses, *(s for steps in self.by_model.values() for s in steps)]:
            if not isinstance(step, MessageStep):
                continue
            for item in step.content:
                if isinstance(item, ToolUseItem):
                    number += 1
                    if item.tool_use.id is None:
                        item.tool_use.id = TOOL_ID_FORMAT.format(number)
        return self


_TAGS = frozenset(
    {"text block", "tool_use block", "http fault", "stream fault", "message step", "fault step"}
)
"""Union tags pydantic puts in error locations; left out of messages as noise."""


def _describe(error: ValidationError) -> str:
    """One line per problem: where in the file (`responses.2.fault.status`) and what."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"] if part not in _TAGS)
        lines.append(f"  {where or '(top level)'}: {problem['msg']}")
    return "\n".join(lines)


def parse_replay(data: object, *, source: str = "<replay>") -> Replay:
    """Validate already-parsed YAML/JSON data as a replay; `source` names it in errors."""
    try:
        return Replay.model_validate(data)
    except ValidationError as exc:
        raise ReplayError(f"{source}: invalid replay:\n{_describe(exc)}") from exc


def load_replay(path: str | Path) -> Replay:
    """Read a replay YAML file; raises `ReplayError` naming the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read replay: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ReplayError(f"{path}: not valid YAML: {exc}") from exc
    return parse_replay(data, source=str(path))
