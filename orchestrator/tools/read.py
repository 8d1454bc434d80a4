"""Read: a text file from the session's container, numbered like ``cat -n``.

Reading a file whole records its bytes in the session's `ReadLedger`, which is what
lets Write and Edit change it afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from orchestrator.tools.base import (
    MAX_RESULT_CHARS,
    Tool,
    ToolContext,
    ToolError,
    ToolInput,
    ToolOutput,
    absolute_path,
)
from orchestrator.tools.permission import ReadFile, ShellRequest
from orchestrator.tools.resolve import RESOLVE
from sandbox import ExecResult, Session
from security.verdict import Risk

DEFAULT_LIMIT = 2000  # lines shown when no limit is given
MAX_LINE_CHARS = 2000  # longer lines are cut
MAX_WHOLE_BYTES = 4 * 2**20  # larger files are read a slice at a time (and cannot be edited)
MAX_SLICE_BYTES = 2**20  # what one slice of a large file may bring back
BINARY_PROBE_BYTES = 8192  # a NUL in this many leading bytes means binary
EXEC_TIMEOUT = 60.0
HEADER_BYTES = 2 * 4096 + 64  # where the path leads (at most PATH_MAX), and what it is

# Prints where $1 leads (every link followed, NUL-terminated), what it is ("directory",
# "missing", "other" or "file SIZE"), then the file itself when it is no larger than $2
# bytes.
_LOAD = (
    RESOLVE + 'resolve "$1" || { echo "cannot tell where it leads" >&2; exit 3; }; '
    'if [ -d "$1" ]; then echo directory; '
    'elif [ ! -e "$1" ]; then echo missing; '
    'elif [ ! -f "$1" ]; then echo other; '
    # not stat(1): coreutils' stat calls statx, which gVisor answers with EINVAL
    'else size=$(wc -c < "$1") || exit 1; size=$((size)); echo "file $size"; '
    'if [ "$size" -le "$2" ]; then exec cat -- "$1"; fi; fi'
)
_SLICE = 'tail -n "+$2" -- "$1" | head -n "$3"'

Kind = Literal["file", "directory", "missing", "other"]


@dataclass(frozen=True)
class Loaded:
    """What a path is, where it leads (links followed), and the file's bytes when it
    was small enough to fetch."""

    kind: Kind
    real: str
    size: int = 0
    data: bytes | None = None


def exec_failure(result: ExecResult, action: str) -> ToolError | None:
    """A `ToolError` saying why ``action`` failed, or None if the command succeeded."""
    if result.error:
        return ToolError(f"cannot {action}: {result.error}")
    if result.timed_out:
        return ToolError(f"cannot {action}: it took longer than {EXEC_TIMEOUT:.0f} s")
    if result.exit_code != 0:
        why = result.stderr.decode("utf-8", "replace").strip() or f"exit code {result.exit_code}"
        return ToolError(f"cannot {action}: {why}")
    return None


async def load(session: Session, path: str, max_bytes: int) -> Loaded:
    """What ``path`` is; a regular file's bytes are included if it has at most ``max_bytes``."""
    result = await session.exec(
        ["sh", "-c", _LOAD, "sh", path, str(max_bytes)],
        timeout=EXEC_TIMEOUT,
        max_output=max_bytes + HEADER_BYTES,
    )
    if error := exec_failure(result, f"read {path}"):
        raise error
    real, ended, rest = result.stdout.partition(b"\0")
    header, _, data = rest.partition(b"\n")
    kind, _, size = header.decode("utf-8", "replace").partition(" ")
    where = real.decode("utf-8", "surrogateescape")
    if not ended or kind not in ("file", "directory", "missing", "other"):
        raise ToolError(f"cannot read {path}: the sandbox's answer was cut or not understood")
    if kind != "file":
        return Loaded(kind, where)  # type: ignore[arg-type]
    small = int(size) <= max_bytes and not result.stdout_truncated  # it may have grown
    return Loaded("file", where, int(size), data if small else None)


def refuse_unless_permitted(
    tool: Tool[Any], ctx: ToolContext, path: str, real: str, request: ShellRequest
) -> None:
    """A `ToolError` when ``path`` is a link to ``real`` and ``request`` (the same
    call on ``real``) needs approval: the gate judged the link's name, not its target.

    Attack: the repository holds ``notes.txt -> .git/config`` or ``-> /proc/self/environ``;
    a Write or Read of notes.txt would reach the file behind it.
    """
    if real != path and not ctx.permits(tool, request):
        raise ToolError(
            f"{path} is a symbolic link to {real}, and {tool.name} of {real} needs approval "
            f"(it is judged like `{request.line}` in Bash). Name {real} itself to ask."
        )


def text_lines(text: str) -> list[str]:
    """Lines as ``cat -n`` and ``rg -n`` count them (only ``\\n`` ends a line)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def number_lines(lines: list[str], first: int, budget: int) -> tuple[str, int]:
    """``lines`` numbered from ``first`` in ``cat -n`` style, long lines cut, at most
    ``budget`` characters; also how many lines fitted."""
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        line = line.removesuffix("\r")
        if len(line) > MAX_LINE_CHARS:
            cut = len(line) - MAX_LINE_CHARS
            line = f"{line[:MAX_LINE_CHARS]}... [line cut: {cut} more characters]"
        row = f"{first + index:>6}\t{line}"
        if out and used + len(row) + 1 > budget:
            return "\n".join(out), index
        out.append(row)
        used += len(row) + 1
    return "\n".join(out), len(lines)


class ReadInput(ToolInput):
    file_path: str = Field(description="Absolute path of the file, e.g. /workspace/src/app.py")
    offset: int | None = Field(
        None, ge=0, description="Number of the first line to show (1-based); for large files"
    )
    limit: int | None = Field(
        None, ge=1, description=f"How many lines to show (default {DEFAULT_LIMIT})"
    )


class Read(Tool[ReadInput]):
    """Show a text file with line numbers; remembers what was read for Write and Edit."""

    name: ClassVar[str] = "Read"
    description: ClassVar[str] = (
        "Reads a text file in the sandbox and returns it with line numbers, like `cat -n` "
        "(number, tab, line). file_path must be absolute; the project is in /workspace. "
        f"By default the first {DEFAULT_LIMIT} lines are shown; use offset (1-based first "
        "line) and limit (line count) for longer files. Lines longer than "
        f"{MAX_LINE_CHARS} characters are cut. Binary files and directories are refused "
        "(use Glob to list files). You must Read a file before you Edit it or overwrite it "
        "with Write. Prefer this tool to cat, head, tail or sed in Bash. A Read is judged "
        "like `cat FILE` in Bash: files that look like secrets (.env files, private keys, "
        "credentials, ~/.ssh, ~/.aws, /proc/*/environ and the like) need approval, and "
        "are refused when nobody can approve; do not try to reach them another way. A "
        "symbolic link is judged as the file it leads to."
    )
    risk: ClassVar[Risk] = Risk.LOW
    read_only: ClassVar[bool] = True
    input_model: ClassVar[type[ToolInput]] = ReadInput

    def permission_request(self, params: ReadInput) -> ReadFile:
        return ReadFile(absolute_path(params.file_path))

    async def run(self, params: ReadInput, ctx: ToolContext) -> ToolOutput:
        path = absolute_path(params.file_path)
        first = max(params.offset or 1, 1)
        limit = params.limit or DEFAULT_LIMIT
        found = await load(ctx.session, path, MAX_WHOLE_BYTES)
        refuse_unless_permitted(self, ctx, path, found.real, ReadFile(found.real))
        if found.kind == "missing":
            raise ToolError(f"{path} does not exist. Use Glob to find files by name.")
        if found.kind == "directory":
            raise ToolError(f"{path} is a directory, not a file. Use Glob to list its files.")
        if found.kind == "other":
            raise ToolError(f"{path} is not a regular file (a device, pipe or socket).")
        if found.data is None:
            return await self._slice(ctx.session, path, found.size, first, limit)
        _refuse_binary(path, found.data)
        ctx.reads.saw(path, found.data)
        if not found.data:
            return ToolOutput(content=f"{path} exists but is empty (0 bytes).")
        lines = text_lines(found.data.decode("utf-8", "replace"))
        if first > len(lines):
            raise ToolError(
                f"offset {first} is past the end of {path}, which has {len(lines)} lines."
            )
        chosen = lines[first - 1 : first - 1 + limit]
        body, shown = number_lines(chosen, first, MAX_RESULT_CHARS)
        last = first + shown - 1
        if shown < len(chosen):
            note = (
                f"[output stops at line {last} to stay under {MAX_RESULT_CHARS} characters; "
                f"the file has {len(lines)} lines. Read on with offset={last + 1}.]"
            )
            return ToolOutput(content=f"{body}\n{note}", truncated=True)
        if first > 1 or last < len(lines):
            body += f"\n[lines {first}-{last} of {len(lines)}]"
        return ToolOutput(content=body)

    async def _slice(
        self, session: Session, path: str, size: int, first: int, limit: int
    ) -> ToolOutput:
        """Some lines of a file too large to fetch whole."""
        head = await session.exec(
            ["head", "-c", str(BINARY_PROBE_BYTES), "--", path], timeout=EXEC_TIMEOUT
        )
        if error := exec_failure(head, f"read {path}"):
            raise error
        _refuse_binary(path, head.stdout)
        result = await session.exec(
            ["sh", "-c", _SLICE, "sh", path, str(first), str(limit)],
            timeout=EXEC_TIMEOUT,
            max_output=MAX_SLICE_BYTES,
        )
        if error := exec_failure(result, f"read {path}"):
            raise error
        lines = text_lines(result.stdout.decode("utf-8", "replace"))
        if not lines:
            raise ToolError(f"offset {first} is past the end of {path}.")
        body, shown = number_lines(lines[:limit], first, MAX_RESULT_CHARS)
        note = (
            f"[{path} has {size} bytes, too many to read whole: showing lines {first}-"
            f"{first + shown - 1}. Read other parts with offset and limit. Edit and Write "
            "cannot change a file this large.]"
        )
        return ToolOutput(content=f"{body}\n{note}", truncated=True)


def _refuse_binary(path: str, data: bytes) -> None:
    if b"\0" in data[:BINARY_PROBE_BYTES]:
        raise ToolError(
            f"{path} looks like a binary file (it has NUL bytes); Read shows text only. "
            "Use Bash (e.g. `od -c FILE | head`) to inspect it."
        )
