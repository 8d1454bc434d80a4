"""What every tool is: a typed input, a risk, a description the model reads, and a run.

A tool acts only inside the session's container (`ToolContext.session`), never on the
host. Its input model's JSON schema is what the model sees; input that does not
validate, and any `ToolError` a run raises, go back to the model as an error
`tool_result` rather than ending the loop.
"""

from __future__ import annotations

import hashlib
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from anthropic.types import ToolParam
from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.tools.permission import PermissionRequest, ReadJudge, ShellRequest, read_judge
from sandbox import ConfinementReport, OutputChunk, Session
from security import Decision, analyze
from security.policy import PRESETS
from security.verdict import Risk

WORKSPACE = "/workspace"
MAX_RESULT_CHARS = 30_000  # what one tool result may put in the model's context


class ToolError(Exception):
    """A call the tool cannot carry out; the message is what the model reads."""


class ToolOutput(BaseModel):
    """What a tool call returns to the model."""

    model_config = ConfigDict(frozen=True)

    content: str
    is_error: bool = False
    truncated: bool = False
    confinement: ConfinementReport | None = None  # a command asked to run confined


class ToolInput(BaseModel):
    """Base of tool inputs: unknown fields are errors the model can correct."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass
class ReadLedger:
    """Files the agent Read in this session, with a digest of what it saw.

    Edit refuses a file that is not here, or that changed since it was read.
    """

    digests: dict[str, str] = field(default_factory=dict)

    def saw(self, path: str, data: bytes) -> None:
        self.digests[path] = _digest(data)

    def unchanged(self, path: str, data: bytes) -> bool | None:
        """True if ``data`` is what was read, False if it changed, None if never read."""
        seen = self.digests.get(path)
        return None if seen is None else seen == _digest(data)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


Spawner = Callable[[str, str], Awaitable["ToolOutput"]]  # (description, prompt) -> report


Permits = Callable[["Tool[Any]", ShellRequest], bool]
"""Whether a tool may do what a request states without anyone being asked (the gate's
answer): how a running tool checks a file it did not name, such as the one a symbolic
link leads to."""


def _read_only_permits(request: ShellRequest) -> bool:
    """The answer without a gate: read-only's, where every edit asks."""
    verdict = analyze(request.line, PRESETS["read-only"])
    return not request.edits and verdict.decision is Decision.ALLOW


@dataclass
class ToolContext:
    """What a running tool may use: its session, where streamed output goes, how to
    start a sub-agent, and what the policy lets it do without asking for files it did
    not name (those a search meets, those a link leads to): the gate's answers in a
    session, read-only's otherwise."""

    session: Session
    call_id: str = ""
    reads: ReadLedger = field(default_factory=ReadLedger)
    on_output: Callable[[OutputChunk], None] | None = None
    spawn: Spawner | None = None
    may_read: ReadJudge = field(default_factory=lambda: read_judge(PRESETS["read-only"]))
    permits: Permits = field(default=lambda tool, request: _read_only_permits(request))


InputT = TypeVar("InputT", bound=ToolInput)


class Tool(ABC, Generic[InputT]):
    """One tool the model can call."""

    name: ClassVar[str]
    description: ClassVar[str]
    risk: ClassVar[Risk]
    read_only: ClassVar[bool]  # may run in parallel with other read-only calls
    input_model: ClassVar[type[ToolInput]]

    def parse(self, raw: object) -> InputT:
        """Validate the model's input; a readable `ToolError` if it does not fit."""
        try:
            return self.input_model.model_validate(raw)  # type: ignore[return-value]
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'input'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ToolError(f"invalid input for {self.name}: {problems}") from exc

    def schema(self) -> ToolParam:
        """The tool as the Messages API takes it: name, description, input schema."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_model.model_json_schema(by_alias=True),
        }

    def permission_request(self, params: InputT) -> PermissionRequest | None:
        """What the call asks leave to do (`orchestrator.tools.permission`): a command,
        a file read, write or edit, a search, or `NothingToAsk`. None, the default,
        declares nothing, and the gate refuses the call: a tool must say what it does."""
        return None

    @abstractmethod
    async def run(self, params: InputT, ctx: ToolContext) -> ToolOutput:
        """Carry out one call inside ``ctx.session``."""


def absolute_path(path: str, field_name: str = "file_path") -> str:
    """``path`` normalised; a `ToolError` unless it is absolute."""
    if not path.startswith("/"):
        raise ToolError(
            f"{field_name} must be an absolute path such as {WORKSPACE}/src/app.py, not {path!r}"
        )
    return posixpath.normpath(path)


def cap(text: str, limit: int = MAX_RESULT_CHARS) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters, and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return text[:limit] + f"\n... [cut: {len(text) - limit} more characters]", True
