"""Grep: search file contents in the session's container with ripgrep."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from orchestrator.tools.base import (
    WORKSPACE,
    Tool,
    ToolContext,
    ToolError,
    ToolInput,
    ToolOutput,
    absolute_path,
    cap,
)
from orchestrator.tools.ripgrep import run_rg
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
        ".gitignore and the .git directory are skipped; hidden files are searched. Use "
        "this tool, not grep or rg in Bash."
    )
    risk: ClassVar[Risk] = Risk.LOW
    read_only: ClassVar[bool] = True
    input_model: ClassVar[type[ToolInput]] = GrepInput

    async def run(self, params: GrepInput, ctx: ToolContext) -> ToolOutput:
        path = absolute_path(params.path or WORKSPACE, "path")
        argv = ["rg", "--no-config", "--color=never", "--hidden", "--sort=path"]
        argv += ["--with-filename", "--no-heading", *_MODE_FLAGS[params.output_mode]]
        argv += _options(params)
        argv += ["--glob=!.git", "-e", params.pattern, "--", path]
        result, out = await run_rg(ctx.session, path, argv, "search", "path or glob")
        errors = result.stderr.decode("utf-8", "replace").strip()
        if result.exit_code == 1 or (result.exit_code == 0 and not out):
            return ToolOutput(content="No matches found")
        if result.exit_code != 0 and not out:
            raise ToolError(f"rg failed: {errors or f'exit code {result.exit_code}'}")
        lines = out.rstrip("\n").split("\n")
        if params.head_limit is not None:
            lines = lines[: params.head_limit]
        if params.output_mode == "files_with_matches":
            lines = [f"Found {len(lines)} file{'' if len(lines) == 1 else 's'}", *sorted(lines)]
        text, truncated = cap("\n".join(lines))
        if result.exit_code != 0:  # matches, but some files could not be searched
            text += f"\n[rg reported errors: {errors[:2000]}]"
        return ToolOutput(content=text, truncated=truncated or result.stdout_truncated)


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
        if not params.line_numbers:
            options.append("--no-line-number")
        for flag, value in (("-A", params.after), ("-B", params.before), ("-C", params.context)):
            if value is not None:
                options.append(f"{flag}{value}")
    return options
