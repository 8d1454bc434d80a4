"""Bash: run one shell command in the session's container.

The permission gate has already judged the command (the analyzer's verdict) before
`run` is called; this module runs it, streams its output and reports how it ended. A
command the analyzer proves read-only runs confined by the kernel (Landlock), so that
proof holds even against a hostile repository (`sandbox.confinement`).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from pydantic import Field

from orchestrator.tools.base import (
    MAX_RESULT_CHARS,
    Tool,
    ToolContext,
    ToolError,
    ToolInput,
    ToolOutput,
)
from orchestrator.tools.permission import RunCommand
from sandbox import ExecExit, OutputChunk, failure_note, read_only_confinement, shows_refusal
from security.verdict import Risk

DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 600_000
SANDBOX_OUTPUT_CAP = 1 << 20  # bytes kept per stream inside the sandbox's exec channel


class BashInput(ToolInput):
    command: str = Field(min_length=1, description="The command to run")
    timeout: int | None = Field(
        None, ge=1, le=MAX_TIMEOUT_MS, description="Timeout in milliseconds (max 600000)"
    )
    description: str | None = Field(
        None, description="What the command does, in 5-10 words, for the person watching"
    )
    run_in_background: bool = Field(
        False, description="Not available here: commands run in the foreground"
    )


DESCRIPTION = f"""Runs a bash command in the session's sandbox: a container with no \
network, whose working directory is /workspace (the project). Output (stdout, then \
stderr) comes back cut to {MAX_RESULT_CHARS} characters; the default timeout is \
{DEFAULT_TIMEOUT_MS // 1000} s, at most {MAX_TIMEOUT_MS // 1000} s.

Every command is checked by a security analyzer first; a refused command comes back \
as an error with the reasons; find another way rather than rephrasing it. A command it \
proves read-only runs confined by the kernel: it cannot write outside $TMPDIR, run a \
program it does not name, open a network socket (but to the session's egress proxy, \
if it has one) or signal another process.

- To read, search or list files, use Read, Grep and Glob, not cat/head/tail, grep/rg \
or find/ls in Bash; to change files use Edit or Write, not sed -i or echo >.
- Quote paths that hold spaces. Chain dependent steps with &&.
- Nothing runs in the background: no &, nohup or daemons.

Git safety: never change git config; never push --force, reset --hard, checkout or \
restore ., clean -f, branch -D or rewrite history; never skip hooks (--no-verify); \
commit only when asked, with a message that says why."""


class Bash(Tool[BashInput]):
    name: ClassVar[str] = "Bash"
    description: ClassVar[str] = DESCRIPTION
    risk: ClassVar[Risk] = Risk.HIGH
    read_only: ClassVar[bool] = False
    input_model: ClassVar[type[ToolInput]] = BashInput

    def permission_request(self, params: BashInput) -> RunCommand:
        return RunCommand(params.command)

    async def run(self, params: BashInput, ctx: ToolContext) -> ToolOutput:
        if params.run_in_background:
            raise ToolError(
                "run_in_background is not available in this sandbox: run the command in "
                "the foreground, with a timeout if it may take long"
            )
        timeout_s = (params.timeout or DEFAULT_TIMEOUT_MS) / 1000
        out = {"stdout": HeadTail(), "stderr": HeadTail()}
        end: ExecExit | None = None
        # the read-only proof is an analysis: off the event loop, like the gate's
        confinement = await asyncio.to_thread(
            read_only_confinement, params.command, ctx.session.spec.egress
        )
        async for event in ctx.session.stream(
            params.command,
            timeout=timeout_s,
            max_output=SANDBOX_OUTPUT_CAP,
            confinement=confinement,
        ):
            if isinstance(event, OutputChunk):
                out[event.stream].add(event.data)
                if ctx.on_output is not None:
                    ctx.on_output(event)
            else:
                end = event
        assert end is not None, "an exec stream always ends with its exit"
        return render(out["stdout"].value(), out["stderr"].value(), end, timeout_s)


class HeadTail:
    """The first and the last ``keep`` bytes of a stream, and a mark where it skipped."""

    def __init__(self, keep: int = MAX_RESULT_CHARS * 2) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.skipped = 0

    def add(self, data: bytes) -> None:
        room = self.keep - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > self.keep:
            self.skipped += len(self.tail) - self.keep
            del self.tail[: len(self.tail) - self.keep]

    def value(self) -> bytes:
        if not self.skipped:
            return bytes(self.head + self.tail)
        return bytes(self.head) + f"\n... [{self.skipped} bytes cut] ...\n".encode() + self.tail


def render(stdout: bytes, stderr: bytes, end: ExecExit, timeout_s: float) -> ToolOutput:
    """The model's view of a finished command: output, then how it ended if not cleanly."""
    text = stdout.decode("utf-8", "replace")
    err = stderr.decode("utf-8", "replace")
    if err:
        text = f"{text}\n{err}" if text and not text.endswith("\n") else text + err
    notes = {
        "failed": f"Exit code {end.exit_code}",
        "timeout": f"Timed out after {timeout_s:g} s and was killed; output so far is above",
        "oom": "Killed: the sandbox ran out of memory",
        "killed": f"Killed by signal {end.signal}",
        "error": f"Could not run: {end.error}",
    }
    note = notes.get(end.status)
    report = end.confinement
    if report is not None and report.confined and end.status == "failed" and shows_refusal(err):
        note = f"{note}\n{failure_note(report)}"
    cut = end.truncated or len(text) > MAX_RESULT_CHARS
    if len(text) > MAX_RESULT_CHARS:
        half = MAX_RESULT_CHARS // 2  # keep the start and the end, where errors usually are
        text = f"{text[:half]}\n... [{len(text) - 2 * half} characters cut] ...\n{text[-half:]}"
    elif end.truncated:
        text += "\n... [output cut by the sandbox]"
    body = "\n".join(part for part in (text.rstrip("\n"), note) if part)
    return ToolOutput(
        content=body or "(no output)",
        is_error=end.status != "ok",
        truncated=cut,
        confinement=report,
    )
