"""`airlock --version` and `airlock doctor`, run as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


def airlock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRLOCK, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_version() -> None:
    result = airlock("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("airlock 0.")


@pytest.fixture(scope="module")
def report() -> tuple[int, dict[str, dict[str, str]]]:
    """One `airlock doctor --json` for the module: each run starts real sessions."""
    return _checks()


def test_doctor_reports_a_healthy_engine(report: tuple[int, dict[str, dict[str, str]]]) -> None:
    code, checks = report
    assert code == 0, checks
    assert checks["engine"]["health"] == "ok"
    assert checks["engine"]["detail"].startswith("Docker ")
    for name in ("runtime runc", "seccomp", "image airlock/dev", "image airlock/minimal"):
        assert checks[name]["health"] == "ok", checks[name]


def test_doctor_fails_with_advice_when_no_engine_answers(tmp_path: Path) -> None:
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/absent.sock")
    result = airlock("doctor", "--json", env=env)
    assert result.returncode == 1
    engine = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "engine")
    assert engine["health"] == "fail"
    assert engine["fix"] == "make setup"


def test_doctor_table_lists_every_check_one_row_to_a_line_in_a_log(
    report: tuple[int, dict[str, dict[str, str]]],
) -> None:
    """Not a terminal (a CI log): no cell is folded at 80 columns."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = airlock("doctor", env=env)
    assert result.returncode == 0
    _, checks = report
    for name, check in checks.items():
        (row,) = [line for line in result.stdout.splitlines() if f" {name} " in line]
        assert f" {check['health']} " in row and check["detail"] in row, row


def _checks(*args: str) -> tuple[int, dict[str, dict[str, str]]]:
    result = airlock("doctor", "--json", *args)
    return result.returncode, {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def _stat_works_under(runtime: str) -> bool:
    """The truth, asked of the engine directly: does coreutils stat work under runtime?"""
    result = subprocess.run(
        ["docker", "run", "--rm", "--runtime", runtime, "--network", "none",
         "--entrypoint", "stat", "airlock/dev", "-c", "%s", "/etc/hostname"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return result.returncode == 0


def test_doctor_tries_a_real_session_under_each_runtime(
    report: tuple[int, dict[str, dict[str, str]]],
) -> None:
    """A registered runtime is not a working one: Debian's runsc fails coreutils' statx.
    doctor says what a session under each runtime can do, and agrees with the engine."""
    code, checks = report
    assert code == 0
    for runtime in ("runc", "runsc"):
        for what in ("exec path", "user", "/workspace", "tools"):
            assert checks[f"{runtime} session: {what}"]["health"] == "ok", (runtime, what)
        egress = checks[f"{runtime} session: egress"]  # ensure-engine gives runsc host sockets
        assert egress == {**egress, "health": "ok", "detail": "socket transport, the proxy answers"}
        stat = checks[f"{runtime} session: coreutils stat"]
        if _stat_works_under(runtime):
            assert stat["health"] == "ok", stat
        else:
            assert stat["health"] == "warn", stat
            assert "stat" in stat["detail"] and "file tools do not use it" in stat["detail"]


def test_doctor_image_says_what_a_custom_image_lacks() -> None:
    code, checks = _checks("--image", "airlock/minimal")
    assert code == 0  # usable: only warnings
    assert checks["exec path"]["health"] == "warn"
    assert "python3" in checks["exec path"]["detail"]
    assert checks["tools"]["health"] == "warn" and "rg" in checks["tools"]["detail"]
    assert checks["user"]["detail"] == "uid 1000"
    assert checks["/workspace"]["health"] == "ok"
    assert "egress" not in checks  # no agent, no egress: not probed


def test_doctor_image_fails_for_an_image_not_on_this_machine() -> None:
    code, checks = _checks("--image", "airlock-test/absent:none")
    assert code == 1
    (check,) = checks.values()
    assert check["health"] == "fail"
    assert "FROM airlock/dev" in check["fix"]


def test_doctor_image_under_a_runtime_not_registered() -> None:
    code, checks = _checks("--image", "airlock/minimal", "--runtime", "kata")
    assert code == 1
    assert checks["runtime kata"]["health"] == "fail"
