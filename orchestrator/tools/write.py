"""Write: create a file, or replace the whole content of one the agent has Read."""

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
from orchestrator.tools.permission import WriteFile
from orchestrator.tools.read import (
    EXEC_TIMEOUT,
    MAX_WHOLE_BYTES,
    exec_failure,
    load,
    refuse_unless_permitted,
)
from sandbox import Session
from security.verdict import Risk

# Parents are created; `cat >` truncates in place, so an existing file keeps its mode.
_WRITE = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'


async def write_bytes(session: Session, path: str, data: bytes) -> None:
    """Put ``data`` in ``path`` (parents created, an existing file's mode kept)."""
    result = await session.exec(["sh", "-c", _WRITE, "sh", path], stdin=data, timeout=EXEC_TIMEOUT)
    if error := exec_failure(result, f"write {path}"):
        raise error


def encode(text: str, field_name: str) -> bytes:
    """``text`` as UTF-8; a `ToolError` if it holds lone surrogates."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise ToolError(f"{field_name} is not valid Unicode text: {exc.reason}") from exc


class WriteInput(ToolInput):
    file_path: str = Field(description="Absolute path of the file, e.g. /workspace/src/app.py")
    content: str = Field(description="The complete new content of the file")


class Write(Tool[WriteInput]):
    """Create or overwrite a file; an existing one must have been Read first."""

    name: ClassVar[str] = "Write"
    description: ClassVar[str] = (
        "Writes a file in the sandbox, replacing all of its content; missing parent "
        "directories are created. file_path must be absolute; the project is in /workspace. "
        "To overwrite an existing file you must Read it first in this session, and it must "
        "not have changed since. To change part of a file prefer Edit, which sends only the "
        "change. Prefer this tool to echo or cat redirections in Bash. A Write is judged "
        "like `cat > FILE` in Bash: files that make code run later (.git/config, "
        ".git/hooks, CI workflows, Makefile, shell start-up files) are refused, and "
        "writing outside the workspace needs approval. A symbolic link is judged as the "
        "file it leads to."
    )
    risk: ClassVar[Risk] = Risk.MEDIUM
    read_only: ClassVar[bool] = False
    input_model: ClassVar[type[ToolInput]] = WriteInput

    def permission_request(self, params: WriteInput) -> WriteFile:
        return WriteFile(absolute_path(params.file_path))

    async def run(self, params: WriteInput, ctx: ToolContext) -> ToolOutput:
        path = absolute_path(params.file_path)
        data = encode(params.content, "content")
        was_read = path in ctx.reads.digests
        found = await load(ctx.session, path, MAX_WHOLE_BYTES if was_read else 0)
        real = found.real
        refuse_unless_permitted(self, ctx, path, real, WriteFile(real))
        if found.kind in ("directory", "other"):
            raise ToolError(f"{path} exists and is not a regular file; Write cannot replace it.")
        if found.kind == "file":
            if not was_read:
                raise ToolError(
                    f"{path} already exists and you have not Read it in this session. "
                    "Read it first, then Write (or use Edit to change part of it)."
                )
            if found.data is None or not ctx.reads.unchanged(path, found.data):
                raise ToolError(
                    f"{path} changed since you read it. Read it again before writing it."
                )
        await write_bytes(ctx.session, real, data)  # the file judged, even if the link moves
        ctx.reads.saw(path, data)
        how = "new file" if found.kind == "missing" else "replaced its previous content"
        return ToolOutput(content=f"Wrote {len(data)} bytes to {path} ({how}).")
