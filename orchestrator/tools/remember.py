"""Remember: keep a lesson in the project's memory file, only once it is proven.

The agent proposes a note and a command that verifies the step the note describes
(the tests that now pass, the build that now works). The gate judges that command like
any Bash command; the note is written to /workspace/AIRLOCK.md only if the command
succeeds. After a failure nothing is stored. The memory file is part of the workspace,
so every stored note shows in the run's patch for a person to review.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from orchestrator.tools.base import WORKSPACE, Tool, ToolContext, ToolError, ToolInput, ToolOutput
from orchestrator.tools.permission import RunCommand
from orchestrator.tools.read import EXEC_TIMEOUT, exec_failure
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
        check = await ctx.session.exec(params.verify, timeout=VERIFY_TIMEOUT_S)
        if check.status != "ok":
            output = (check.stdout + check.stderr).decode("utf-8", "replace").strip()[-1000:]
            raise ToolError(
                f"Not stored: `{params.verify}` did not succeed ({check.status}, exit code "
                f"{check.exit_code}), so the step is not verified.\n{output}".rstrip()
            )
        note = " ".join(params.note.split())
        line = f"- {note} (verified by `{params.verify}`)"
        result = await ctx.session.exec(
            ["sh", "-c", _APPEND, "sh", MEMORY_FILE, line, HEADING], timeout=EXEC_TIMEOUT
        )
        if error := exec_failure(result, f"write {MEMORY_FILE}"):
            raise error
        return ToolOutput(content=f"Stored in {MEMORY_FILE}: {line}")
