"""Shared bits of the service red-team reproductions (`service_*.py`): a service on a
free loopback port with its own data folder, a plain repository, and a replay script."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.service_process import Service, start_service, stop_service


def plain_repo() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"print('hello')\n"
        entry = tarfile.TarInfo("project/hello.py")
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def replay(*steps: dict[str, Any]) -> str:
    responses = [{"content": [step]} for step in steps]
    responses.append({"content": [{"text": "Done."}]})
    return json.dumps({"model": "claude-sonnet-4-6", "responses": responses})


def bash(command: str) -> dict[str, Any]:
    return {"tool_use": {"name": "Bash", "input": {"command": command}}}


def client(service: Service, token: str, timeout: float = 120) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{service.port}",
        timeout=timeout,
        headers={"Authorization": f"Bearer {token}"},
    )


def submit(
    http: httpx.Client, repo: bytes, spec: dict[str, Any], name: str = "repo.tar.gz"
) -> httpx.Response:
    files = {"repo": (name, repo, "application/gzip")}
    return http.post("/v1/runs", files=files, data={"spec": json.dumps(spec)})


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Service]:
    """A service; its options from ``@pytest.mark.parametrize('served', [[...]], indirect=True)``
    or the defaults (max 3 sessions, replay allowed, no warm pool)."""
    extra = getattr(request, "param", None) or ["--allow-replay", "--warm", "0"]
    running = start_service(tmp_path / "state", 3, *extra)
    try:
        yield running
    finally:
        stop_service(running)
