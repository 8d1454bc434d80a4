"""`airlock bench service` on a small run: its own service started and stopped, every
figure the issue names in its JSON, and nothing left behind."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from sandbox import labels

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


def test_bench_service_json_names_every_figure_and_leaves_nothing(
    docker_client: docker.DockerClient,
) -> None:
    argv = [AIRLOCK, "bench", "service", "--json", "--samples", "10", "--creates", "3",
            "--streams", "8", "--stream-mb", "0.2", "--max-sessions", "3"]  # fmt: skip
    bench = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    served_by = _child_pids(bench.pid)  # its `airlock serve`, the owner of its sandboxes
    stdout, stderr = bench.communicate(timeout=170)
    assert bench.returncode == 0, stderr[-3000:]
    assert "overload" in stderr  # progress goes to stderr, the figures alone to stdout
    figures = json.loads(stdout)
    assert figures["samples"] == 10 and figures["command"] == "true"
    assert 0 < figures["http_exec_p50_ms"] <= figures["http_exec_p99_ms"]
    assert 0 < figures["inproc_exec_p50_ms"] <= figures["inproc_exec_p99_ms"]
    added = figures["http_exec_p50_ms"] - figures["inproc_exec_p50_ms"]
    assert abs(figures["http_added_p50_ms"] - added) < 0.02
    assert "AirlockClient" in figures["http_client"] and "http.client" in figures["lean_client"]
    assert 0 < figures["lean_exec_p50_ms"] <= figures["lean_exec_p99_ms"]
    lean_added = figures["lean_exec_p50_ms"] - figures["inproc_exec_p50_ms"]
    assert abs(figures["lean_added_p50_ms"] - lean_added) < 0.02
    for name in ("service", "http_client", "lean_client", "inproc"):
        assert figures[f"{name}_cpu_ms"] > 0, name
    cpu_added = figures["service_cpu_ms"] + figures["http_client_cpu_ms"] - figures["inproc_cpu_ms"]
    assert abs(figures["http_added_cpu_ms"] - cpu_added) < 0.01
    assert figures["gate_p50_ms"] > 0
    assert figures["creates"] == 3 and figures["create_from_pool"] == 3  # each a handoff
    assert figures["create_waited_for_refill"] is True
    assert 0 < figures["create_p50_ms"] <= figures["create_p99_ms"]
    assert figures["streams"] == 8 and figures["streams_200_ok"] == 8
    assert figures["stream_bytes_each"] == int(0.2 * 1024 * 1024) and figures["stream_mb_s"] > 0
    assert figures["overload_requests"] == 15
    assert sum(figures["overload_statuses"].values()) == 15
    assert set(figures["overload_statuses"]) <= {"201", "429"}
    assert figures["overload_errors_other_than_429"] == 0
    assert figures["overload_statuses"].get("429", 0) > 0  # 5x the capacity: some refused
    assert figures["overload_statuses"].get("201", 0) > 0 and figures["admitted_p99_ms"] > 0
    assert 0 < figures["overload_max_containers"] <= 3  # the capacity held
    assert served_by
    for pid in served_by:
        owned = {"label": [f"{labels.MANAGED}=1", f"{labels.OWNER_PID}={pid}"]}
        assert docker_client.containers.list(all=True, filters=owned) == []


def _child_pids(parent: int, budget: float = 60.0) -> list[int]:
    """The children of ``parent`` once it has one (the bench starts its service first)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        found = [int(pid) for pid in children.read_text().split()] if children.exists() else []
        if found:
            return found
        time.sleep(0.05)
    return []
