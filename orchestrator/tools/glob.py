"""Glob: list the files whose paths match a glob, with ripgrep's file walker."""

from __future__ import annotations

from typing import ClassVar

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
from orchestrator.tools.permission import Search
from orchestrator.tools.ripgrep import run_rg
from security.verdict import Risk


class GlobInput(ToolInput):
    pattern: str = Field(description='Glob to match, e.g. "**/*.py" or "src/**/test_*.ts"')
    path: str | None = Field(
        None, description=f"Absolute directory to search (default {WORKSPACE})"
    )


class Glob(Tool[GlobInput]):
    """List files matching a glob, sorted by path."""

    name: ClassVar[str] = "Glob"
    description: ClassVar[str] = (
        "Lists the files in the sandbox whose paths match a glob pattern, sorted by path. "
        f"path is an absolute directory to search (default {WORKSPACE}). Patterns are "
        'relative to path: "**/*.py" finds Python files at any depth, "src/*.ts" only '
        'directly in src; a pattern without "/" (e.g. "*.md") matches file names at any '
        "depth. Files ignored by .gitignore and the .git directory are skipped; hidden "
        "files are listed. The listing is judged like the same rg listing in Bash: "
        "listing a directory that holds secrets (e.g. ~/.ssh) or a pattern that names "
        'one (e.g. "**/.env") needs approval. Use this tool, not find or ls in Bash, '
        "to find files by name; use Grep to search their contents."
    )
    risk: ClassVar[Risk] = Risk.LOW
    read_only: ClassVar[bool] = True
    input_model: ClassVar[type[ToolInput]] = GlobInput

    def permission_request(self, params: GlobInput) -> Search:
        return Search(tuple(_argv(params)), params.pattern)

    async def run(self, params: GlobInput, ctx: ToolContext) -> ToolOutput:
        path = absolute_path(params.path or WORKSPACE, "path")
        argv = _argv(params)
        result, _, out = await run_rg(ctx.session, path, argv, "file search", "path")
        out = out.rstrip("\n")
        if result.exit_code not in (0, 1) and not out:
            errors = result.stderr.decode("utf-8", "replace").strip()
            raise ToolError(f"rg failed: {errors or f'exit code {result.exit_code}'}")
        if not out:
            return ToolOutput(content="No files found")
        text, truncated = cap("\n".join(sorted(out.split("\n"))))
        return ToolOutput(content=text, truncated=truncated or result.stdout_truncated)


def _argv(params: GlobInput) -> list[str]:
    """The rg listing for ``params`` (run as an argv, and judged as that line)."""
    path = absolute_path(params.path or WORKSPACE, "path")
    argv = ["rg", "--files", "--no-config", "--hidden", f"--glob={params.pattern}"]
    return [*argv, "--glob=!.git", "--", path]
