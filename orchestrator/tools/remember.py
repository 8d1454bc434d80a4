"""Remember: keep a lesson in the project's memory file, only once it is proven.

The agent proposes a note and a command that verifies the step the note describes
(the tests that now pass, the build that now works). The gate judges that command like
any Bash command, and it runs as Bash would run it (confined when the analyzer proves it
read-only); the note is written to /workspace/AIRLOCK.md only if the command succeeds.
After a failure nothing is stored. The memory file is part of the workspace, so every
stored note shows in the run's patch for a person to review. Where the memory file is a
symbolic link, the note goes where it leads only if a Write there would be allowed.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from pydantic import Field

from orchestrator.tools.base import WORKSPACE, Tool, ToolContext, ToolError, ToolInput, ToolOutput
from orchestrator.tools.permission import RunCommand, WriteFile
from orchestrator.tools.read import EXEC_TIMEOUT, exec_failure, load
from sandbox import failure_note, read_only_confinement, shows_refusal
from security.verdict import Risk

MEMORY_FILE = f"{WORKSPACE}/AIRLOCK.md"
HEADING = "## Learned by agents (each note verified when it was stored)"
VERIFY_TIMEOUT_S = 300.0
MAX_NOTE_CHARS = 500

# Appends $2 to $1, adding the heading ($3) first if the file does not hold it yet.
_APPEND = (
    'touch -- "$1" && { grep -qxF -- "$3" "$1" || printf "\\n%s\\n\\n" "$3" >> "$1"; } '
    '&& printf "%s\\n" "$2" >> "$1"'
)


class RememberInput(ToolInput):
    note: str = Field(
        min_length=1, max_length=MAX_NOTE_CHARS, description="The lesson, in one or two lines"
    )
    verify: str = Field(
        min_length=1,
        description="A shell command that succeeds only if the step the note describes "
        "worked, e.g. the test command that now passes",
    )


DESCRIPTION = f"""Stores a lesson about this project in its memory file ({MEMORY_FILE}), \
for later sessions: how to run the tests, a pitfall you hit and how you solved it. The \
note is stored only if `verify` (a shell command, checked like any Bash command) exits \
0, proving the step the note describes worked; after a failure nothing is stored. Keep \
notes short, factual and about the project, never about this one task."""


class Remember(Tool[RememberInput]):
    name: ClassVar[str] = "Remember"
    description: ClassVar[str] = DESCRIPTION
    risk: ClassVar[Risk] = Risk.MEDIUM
    read_only: ClassVar[bool] = False
    input_model: ClassVar[type[ToolInput]] = RememberInput

    def permission_request(self, params: RememberInput) -> RunCommand:
        """Its verify command, judged like Bash; and it writes the memory file."""
        return RunCommand(params.verify, writes=(MEMORY_FILE,))

    async def run(self, params: RememberInput, ctx: ToolContext) -> ToolOutput:
        # As Bash runs it: the gate's allow of a proven read-only line holds because the
        # kernel confines it, so unconfined here it would be a way around that proof.
        confinement = await asyncio.to_thread(
            read_only_confinement, params.verify, ctx.session.spec.egress
        )
        check = await ctx.session.exec(
            params.verify, timeout=VERIFY_TIMEOUT_S, confinement=confinement
        )
        if check.status != "ok":
            output = (check.stdout + check.stderr).decode("utf-8", "replace").strip()[-1000:]
            report = check.confinement
            if report is not None and report.confined and shows_refusal(output):
                output = f"{output}\n{failure_note(report)}"
            raise ToolError(
                f"Not stored: `{params.verify}` did not succeed ({check.status}, exit code "
                f"{check.exit_code}), so the step is not verified.\n{output}".rstrip()
            )
        target = await self._memory_target(ctx)
        note = " ".join(params.note.split())
        line = f"- {note} (verified by `{params.verify}`)"
        result = await ctx.session.exec(
            ["sh", "-c", _APPEND, "sh", target, line, HEADING], timeout=EXEC_TIMEOUT
        )
        if error := exec_failure(result, f"write {MEMORY_FILE}"):
            raise error
        return ToolOutput(content=f"Stored in {MEMORY_FILE}: {line}", confinement=check.confinement)

    async def _memory_target(self, ctx: ToolContext) -> str:
        """Where the note is written: the memory file, or where it leads if a Write there is
        allowed without asking. Looked up after the verify command ran (it may make the link).

        Attack: the repository (or the verify command) makes AIRLOCK.md a link to .envrc, a
        CI workflow or ~/.bashrc; the gate judged a write to AIRLOCK.md, and the append would
        land in a file that runs code later, which Write is refused.
        """
        found = await load(ctx.session, MEMORY_FILE, 0)
        if found.kind not in ("file", "missing"):
            raise ToolError(f"Not stored: {MEMORY_FILE} exists and is not a regular file.")
        request = WriteFile(found.real)
        if found.real != MEMORY_FILE and not ctx.permits(self, request):
            raise ToolError(
                f"Not stored: {MEMORY_FILE} is a symbolic link to {found.real}, and writing "
                f"there needs approval (it is judged like `{request.line}` in Bash)."
            )
        return found.real
