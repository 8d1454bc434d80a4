"""Red team (service): one session's exec output grows the service's memory by GiBs.

Each exec's events stay in memory for replay (`exec_log.ExecLog`): up to 16 MiB of
output per exec, kept base64-encoded in JSON-ready dicts (about 22 MiB each), and up
to 256 execs per session, the oldest ended ones dropped only past 256. One runner
token with one session can make the service hold some 5.5 GiB; with the service's
capacity in sessions (16 by default, or the machine's), tens of GiBs: the host's OOM
killer ends the service, every tenant's sessions and runs with it.

This test runs 24 execs of 16 MiB each in one session (one tenant, one session, no
special rights) and reads the service's resident memory.

Run: ``.venv/bin/python -m pytest tests/redteam_pending/service_exec_log_memory.py``
(needs Docker). It fails while the bug exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.service_process import Service
from tests.redteam_pending.service_common import client, served  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

EXECS = 24
ALLOWED_GROWTH_MIB = 256


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_exec_output_kept_for_replay_is_bounded_per_tenant(served: Service) -> None:  # noqa: F811
    runner = served.token("mallory", "runner")
    with client(served, runner, timeout=300) as http:
        created = http.post("/v1/sessions", json={})
        assert created.status_code == 201, created.text
        session = created.json()["id"]
        before = _rss_mib(served.process.pid)
        for _ in range(EXECS):
            with http.stream("POST", f"/v1/sessions/{session}/exec",
                             json={"command": "head -c 16777216 /dev/zero"}) as answer:  # fmt: skip
                assert answer.status_code == 200
                tail = b""
                for chunk in answer.iter_bytes():
                    tail = (tail + chunk)[-4096:]
            assert b"event: exit" in tail and b'"exit_code":0' in tail, tail[-400:]
        after = _rss_mib(served.process.pid)
    grown = after - before
    assert grown < ALLOWED_GROWTH_MIB, (
        f"{EXECS} execs of 16 MiB grew the service from {before:.0f} to {after:.0f} MiB "
        f"(+{grown:.0f} MiB); 256 execs per session x every session the service holds"
    )
