"""Edit: replace an exact string in a file the agent has Read and that is unchanged since."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from orchestrator.tools.base import (
    Tool,
    ToolContext,
    ToolError,
    ToolInput,
    ToolOutput,
    absolute_path,
)
from orchestrator.tools.permission import EditFile
from orchestrator.tools.read import (
    MAX_WHOLE_BYTES,
    load,
    number_lines,
    refuse_unless_permitted,
    text_lines,
)
from orchestrator.tools.write import encode, write_bytes
from security.verdict import Risk

CONTEXT_LINES = 3  # shown around the change in the confirmation
MAX_SNIPPET_CHARS = 4000


class EditInput(ToolInput):
    file_path: str = Field(description="Absolute path of the file, e.g. /workspace/src/app.py")
    old_string: str = Field(description="The exact text to replace, whitespace included")
    new_string: str = Field(description="The text to put in its place (must differ)")
    replace_all: bool = Field(
        False, description="Replace every occurrence instead of requiring exactly one"
    )


class Edit(Tool[EditInput]):
    """Exact string replacement in a file that was Read and is unchanged since."""

    name: ClassVar[str] = "Edit"
    description: ClassVar[str] = (
        "Replaces old_string with new_string in a file in the sandbox. file_path must be "
        "absolute; the project is in /workspace. You must Read the file first in this "
        "session; if it changed since (e.g. a command rewrote it), Read it again. "
        "old_string must match the file exactly, indentation included, and without the "
        "line-number prefix that Read shows. It must occur exactly once: include enough "
        "surrounding lines to make it unique, or set replace_all to change every "
        "occurrence (e.g. to rename something). To create a file use Write. Prefer this "
        "tool to sed or awk in Bash. An Edit is judged like reading the file and then "
        "`cat > FILE` in Bash: the files Write refuses, Edit refuses too, and a symbolic "
        "link is judged as the file it leads to."
    )
    risk: ClassVar[Risk] = Risk.MEDIUM
    read_only: ClassVar[bool] = False
    input_model: ClassVar[type[ToolInput]] = EditInput

    def permission_request(self, params: EditInput) -> EditFile:
        return EditFile(absolute_path(params.file_path))

    async def run(self, params: EditInput, ctx: ToolContext) -> ToolOutput:
        path = absolute_path(params.file_path)
        old, new = params.old_string, params.new_string
        if not old:
            raise ToolError("old_string is empty. To create or replace a whole file use Write.")
        if old == new:
            raise ToolError("old_string and new_string are the same; there is nothing to change.")
        found = await load(ctx.session, path, MAX_WHOLE_BYTES)
        real = found.real
        refuse_unless_permitted(self, ctx, path, real, EditFile(real))
        if found.kind == "missing":
            raise ToolError(f"{path} does not exist. To create a file use Write.")
        if found.kind != "file":
            raise ToolError(f"{path} is not a regular file.")
        if found.data is None:
            raise ToolError(
                f"{path} has {found.size} bytes, too many for Edit; change it with Bash."
            )
        seen = ctx.reads.unchanged(path, found.data)
        if seen is None:
            raise ToolError(f"You have not Read {path} in this session. Read it first.")
        if not seen:
            raise ToolError(f"{path} changed since you read it. Read it again, then Edit.")
        # surrogateescape: bytes that are not UTF-8 survive the round trip untouched
        text = found.data.decode("utf-8", "surrogateescape")
        old, new, count = _match(text, old, new)
        if count == 0:
            raise ToolError(
                f"old_string was not found in {path}. It must match the file exactly, "
                "whitespace and indentation included; Read the file to copy the exact text."
            )
        if count > 1 and not params.replace_all:
            raise ToolError(
                f"old_string occurs {count} times in {path}. Add surrounding lines to make it "
                "unique, or set replace_all to true to replace every occurrence."
            )
        start = text.index(old)
        updated = text.replace(old, new) if params.replace_all else text.replace(old, new, 1)
        data = encode(updated, "new_string")
        await write_bytes(ctx.session, real, data)
        ctx.reads.saw(path, data)
        what = f"{count} occurrences" if params.replace_all and count > 1 else "1 occurrence"
        snippet = _around(updated, text.count("\n", 0, start) + 1, new.count("\n"))
        return ToolOutput(content=f"Edited {path}: replaced {what}.\n{snippet}")


def _match(text: str, old: str, new: str) -> tuple[str, str, int]:
    """``old`` and ``new`` as they fit ``text`` (LF turned CRLF for a CRLF file), and
    how often ``old`` occurs."""
    count = text.count(old)
    if count == 0 and "\r\n" in text and "\n" in old:
        crlf_old = old.replace("\r\n", "\n").replace("\n", "\r\n")
        crlf_count = text.count(crlf_old)
        if crlf_count:
            return crlf_old, new.replace("\r\n", "\n").replace("\n", "\r\n"), crlf_count
    return old, new, count


def _around(text: str, line: int, extra_lines: int) -> str:
    """The lines of ``text`` around a change that starts at ``line``, ``cat -n`` style."""
    lines = text_lines(text)
    first = max(line - CONTEXT_LINES, 1)
    last = min(line + extra_lines + CONTEXT_LINES, len(lines))
    body, shown = number_lines(lines[first - 1 : last], first, MAX_SNIPPET_CHARS)
    if shown < last - first + 1:
        body += "\n[...]"
    return body
