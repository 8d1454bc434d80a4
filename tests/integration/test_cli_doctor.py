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


def test_doctor_reports_a_healthy_engine() -> None:
    result = airlock("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
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


def test_doctor_table_lists_every_check() -> None:
    result = airlock("doctor")
    assert result.returncode == 0
    for name in ("engine", "runtime runsc", "seccomp", "cgroups", "user namespaces"):
        assert name in result.stdout
