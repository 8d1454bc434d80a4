"""`airlock serve` as a process, driven over HTTP on loopback: tokens, roles, tenants,
quotas, sessions on the real engine, and a SIGTERM that ends what it holds."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from sandbox.labels import OWNER_PID

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Service:
    port: int
    data: Path
    process: subprocess.Popen[bytes]

    def token(self, tenant: str, role: str, *extra: str) -> str:
        made = subprocess.run(
            [AIRLOCK, "token", "create", "--data", str(self.data), "--tenant", tenant,
             "--role", role, *extra],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return made.stdout.strip()

    def call(self, method: str, path: str, token: str | None = None, body: object = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        payload = None if body is None else json.dumps(body)
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read())  # fmt: skip
        finally:
            connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    port = _free_port()
    data = tmp_path / "state"
    process = subprocess.Popen(
        [AIRLOCK, "serve", "--data", str(data), "--port", str(port), "--max-sessions", "3"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    running = Service(port, data, process)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        try:
            if running.call("GET", "/healthz").status == 200:
                break
        except OSError:
            assert time.monotonic() < deadline, "the service did not answer in 60 s"
            time.sleep(0.2)
    yield running
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def test_requests_are_by_token_role_and_tenant(service: Service) -> None:
    runner = service.token("ci", "runner", "--max-sessions", "1")
    viewer = service.token("ci", "viewer")
    stranger = service.token("acme", "admin")
    assert service.call("GET", "/healthz").json() == {"status": "ok"}
    assert "/v1/sessions" in service.call("GET", "/openapi.json").json()["paths"]  # type: ignore[index]
    unauthenticated = service.call("GET", "/v1/sessions")
    assert (
        unauthenticated.status == 401
        and "bearer" in unauthenticated.headers["www-authenticate"].lower()
    )
    assert service.call("GET", "/v1/sessions", "alk_not-a-token").status == 401
    assert service.call("GET", "/v1/whoami", viewer).json()["role"] == "viewer"  # type: ignore[index]
    assert service.call("POST", "/v1/sessions", viewer, {}).status == 403

    created = service.call("POST", "/v1/sessions", runner, {"runtime": "runc"})
    assert created.status == 201, created.body
    session_id = created.json()["id"]  # type: ignore[index]
    assert service.call("GET", f"/v1/sessions/{session_id}", viewer).json()["alive"] is True  # type: ignore[index]
    assert service.call("GET", f"/v1/sessions/{session_id}", stranger).status == 404
    assert service.call("DELETE", f"/v1/sessions/{session_id}", stranger).status == 404
    assert service.call("GET", "/v1/sessions", stranger).json() == []

    over = service.call("POST", "/v1/sessions", runner, {})
    assert over.status == 429 and int(over.headers["retry-after"]) > 0
    bad = service.call("POST", "/v1/sessions", runner, {"policy": "/etc/passwd"})
    assert bad.status == 400 and b"unknown policy" in bad.body
    assert service.call("POST", "/v1/sessions", runner, {"surprise": 1}).status == 422

    assert service.call("DELETE", f"/v1/sessions/{session_id}", runner).status == 204
    assert service.call("GET", f"/v1/sessions/{session_id}", runner).status == 404
    metrics = service.call("GET", "/metrics").body.decode()
    assert 'airlock_http_responses_total{status="429"} 1' in metrics
    assert "airlock_sessions 0" in metrics


def test_sigterm_ends_every_session_the_service_holds(service: Service) -> None:
    """The service's sandboxes are labelled with its pid as their owner: after SIGTERM
    none is left."""
    runner = service.token("ci", "runner")
    for _ in range(2):
        created = service.call("POST", "/v1/sessions", runner, {})
        assert created.status == 201, created.body
    client = docker.from_env()
    owned = {"label": f"{OWNER_PID}={service.process.pid}"}
    assert len(client.containers.list(filters=owned)) == 2
    service.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then ends by the signal it got, as is the convention
    assert service.process.wait(60) == -signal.SIGTERM
    log = service.process.stderr.read().decode()  # type: ignore[union-attr]
    assert "Application shutdown complete" in log, log[-2000:]
    assert client.containers.list(all=True, filters=owned) == []
