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
        path = absolute_path(params.path or WORKSPACE, "path")
        return Search(tuple(_argv(params.pattern, path)), params.pattern)

    async def run(self, params: GlobInput, ctx: ToolContext) -> ToolOutput:
        path = absolute_path(params.path or WORKSPACE, "path")
        argv = _argv(params.pattern, path)
        result, real, out = await run_rg(ctx.session, path, argv, "file search", "path")
        self._refuse_unless_permitted(ctx, path, real, params.pattern)
        out = out.rstrip("\n")
        if result.exit_code not in (0, 1) and not out:
            errors = result.stderr.decode("utf-8", "replace").strip()
            raise ToolError(f"rg failed: {errors or f'exit code {result.exit_code}'}")
        if not out:
            return ToolOutput(content="No files found")
        text, truncated = cap("\n".join(sorted(out.split("\n"))))
        return ToolOutput(content=text, truncated=truncated or result.stdout_truncated)

    def _refuse_unless_permitted(
        self, ctx: ToolContext, path: str, real: str, pattern: str
    ) -> None:
        """A `ToolError` when ``path`` is a link to ``real`` and listing ``real`` needs
        approval: the gate judged the link's name, not the directory behind it.

        Attack: the repository holds ``docs -> /home/agent/.ssh``; the listing of docs
        would be the listing of ~/.ssh, which asks.
        """
        behind = Search(tuple(_argv(pattern, real)), pattern)
        if real != path and not ctx.permits(self, behind):
            raise ToolError(
                f"{path} is a symbolic link to {real}, and listing {real} needs approval "
                f"(it is judged like `{behind.line}` in Bash). Name {real} itself to ask."
            )


def _argv(pattern: str, path: str) -> list[str]:
    """The rg listing of ``path`` (run as an argv, and judged as that line)."""
    argv = ["rg", "--files", "--no-config", "--hidden", f"--glob={pattern}"]
    return [*argv, "--glob=!.git", "--", path]
