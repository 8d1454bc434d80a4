"""Grep: search file contents in the session's container with ripgrep.

The gate judges the rg line it runs, its pattern read as data (see
`orchestrator.tools.permission`). Searching a directory meets files the call did not
name; `orchestrator.tools.search_view` shows only the lines of those the policy lets
the session read without asking.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Literal

from pydantic import Field

from orchestrator.tools.base import (
    MAX_RESULT_CHARS,
    WORKSPACE,
    Tool,
    ToolContext,
    ToolError,
    ToolInput,
    ToolOutput,
    absolute_path,
)
from orchestrator.tools.permission import Search
from orchestrator.tools.rg_output import line_records, path_records
from orchestrator.tools.ripgrep import run_rg
from orchestrator.tools.search_view import search_view
from security.verdict import Risk

MAX_COLUMNS = 500  # longer matching lines are shown as a preview
_MODE_FLAGS = {
    "content": ["--line-number", f"--max-columns={MAX_COLUMNS}", "--max-columns-preview"],
    "files_with_matches": ["--files-with-matches"],
    "count": ["--count"],
}

OutputMode = Literal["content", "files_with_matches", "count"]


class GrepInput(ToolInput):
    pattern: str = Field(description="Regular expression to search for (ripgrep/Rust syntax)")
    path: str | None = Field(
        None, description=f"Absolute file or directory to search (default {WORKSPACE})"
    )
    glob: str | None = Field(
        None, description='Only search files matching this glob, e.g. "*.py" or "src/**/*.ts"'
    )
    output_mode: OutputMode = Field(
        "files_with_matches",
        description='"files_with_matches" (paths, the default), "content" (matching lines '
        'as path:line:text) or "count" (path:number of matching lines)',
    )
    case_insensitive: bool = Field(False, alias="-i", description="Ignore case")
    line_numbers: bool = Field(
        True, alias="-n", description='Show line numbers (output_mode "content" only)'
    )
    after: int | None = Field(None, ge=0, alias="-A", description="Lines to show after a match")
    before: int | None = Field(None, ge=0, alias="-B", description="Lines to show before")
    context: int | None = Field(None, ge=0, alias="-C", description="Lines before and after")
    type: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_+-]+$", description='ripgrep file type, e.g. "py" or "rust"'
    )
    head_limit: int | None = Field(None, ge=1, description="Keep only the first N lines")
    multiline: bool = Field(False, description="Let . and patterns match across lines")


class Grep(Tool[GrepInput]):
    """Search file contents with ripgrep, run as an argv (never through a shell)."""

    name: ClassVar[str] = "Grep"
    description: ClassVar[str] = (
        "Searches file contents in the sandbox with ripgrep. pattern is a regular "
        "expression (Rust syntax: escape literal braces and parentheses, e.g. `fn\\(`). "
        f"path is an absolute file or directory (default {WORKSPACE}); glob limits the "
        'files searched (e.g. "*.py"; a glob with "/" is relative to path). output_mode: '
        '"files_with_matches" (default), "content" (matching lines with line numbers) or '
        '"count". "-i": true ignores case; "-A"/"-B"/"-C" show context lines and "-n" '
        'line numbers in "content" mode; type limits to a file type ("py"); head_limit '
        "keeps the first N lines; multiline lets a pattern span lines. Files ignored by "
        ".gitignore and the .git directory are skipped; hidden files are searched. "
        "Secrets: files that look like credentials (.env files, keys, ~/.ssh, ~/.aws, "
        "/proc/*/environ and the like) are judged like `cat FILE` in Bash. Searching a "
        "directory leaves out their lines, as if they did not match; to search one, name "
        "it as path, which needs approval (refused when nobody can approve). Use this "
        "tool, not grep or rg in Bash."
    )
    risk: ClassVar[Risk] = Risk.LOW
    read_only: ClassVar[bool] = True
    input_model: ClassVar[type[ToolInput]] = GrepInput

    def permission_request(self, params: GrepInput) -> Search:
        path = absolute_path(params.path or WORKSPACE, "path")
        return Search(tuple(_argv(params, path, ["--regexp-file=-"])), params.pattern)

    async def run(self, params: GrepInput, ctx: ToolContext) -> ToolOutput:
        path = absolute_path(params.path or WORKSPACE, "path")
        argv = _argv(params, path, ["-e", params.pattern])
        mode = params.output_mode
        end = "\0" if mode == "files_with_matches" else "\n"
        result, real, out = await run_rg(ctx.session, path, argv, "search", "path or glob", end)
        errors = result.stderr.decode("utf-8", "replace").strip()
        if result.exit_code not in (0, 1) and not out:
            raise ToolError(f"rg failed: {errors or f'exit code {result.exit_code}'}")
        records = path_records(out) if mode == "files_with_matches" else line_records(out)
        view = await asyncio.to_thread(
            search_view,
            records,
            path,
            real,
            ctx.may_read,
            line_numbers=params.line_numbers,
            max_lines=params.head_limit,
            max_chars=MAX_RESULT_CHARS,
        )
        if not view.lines:
            return ToolOutput(content="No matches found")
        lines = view.lines
        if mode == "files_with_matches":
            lines = [f"Found {len(lines)} file{'' if len(lines) == 1 else 's'}", *sorted(lines)]
        text = "\n".join(lines)
        if view.cut:
            text += (
                f"\n[output stops here to stay under {MAX_RESULT_CHARS} characters; more "
                "matched: narrow path, glob or pattern]"
            )
        if view.unnamed:
            text += f"\n[{view.unnamed} lines that rg printed without a file name were left out]"
        if result.exit_code not in (0, 1):  # matches, but some files could not be searched
            text += f"\n[rg reported errors: {errors[:2000]}]"
        return ToolOutput(content=text, truncated=view.cut or result.stdout_truncated)


def _argv(params: GrepInput, path: str, pattern: list[str]) -> list[str]:
    """The rg command for ``params`` searching ``path``, ``pattern`` being its pattern
    arguments (``-e PATTERN`` to run it, ``--regexp-file=-`` to judge it)."""
    argv = ["rg", "--no-config", "--color=never", "--hidden", "--sort=path"]
    argv += ["--with-filename", "--no-heading", "--null", *_MODE_FLAGS[params.output_mode]]
    argv += _options(params)
    return [*argv, "--glob=!.git", *pattern, "--", path]


def _options(params: GrepInput) -> list[str]:
    """The rg options for the optional fields (each value one argv element)."""
    options: list[str] = []
    if params.case_insensitive:
        options.append("--ignore-case")
    if params.glob is not None:
        options.append(f"--glob={params.glob}")
    if params.type is not None:
        options.append(f"--type={params.type}")
    if params.multiline:
        options += ["--multiline", "--multiline-dotall"]
    if params.output_mode == "content":
        for flag, value in (("-A", params.after), ("-B", params.before), ("-C", params.context)):
            if value is not None:
                options.append(f"{flag}{value}")
    return options
