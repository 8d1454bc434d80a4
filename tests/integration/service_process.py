"""An `airlock serve` process for integration tests, and plain HTTP calls to it."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.devtools.service_process import free_port

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
    log: Path  # its stderr: a file, never a pipe nobody reads while it runs

    def logged(self) -> str:
        return self.log.read_text(errors="replace")

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


def start_service(data: Path, max_sessions: int = 3, *extra: str) -> Service:
    """`airlock serve` on a free loopback port with ``data``, once it answers."""
    port = free_port()
    argv = [AIRLOCK, "serve", "--data", str(data), "--port", str(port),
            "--max-sessions", str(max_sessions), *extra]  # fmt: skip
    log = data.parent / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=sink)
    running = Service(port, data, process, log)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, running.logged()[-2000:]
        try:
            if running.call("GET", "/healthz").status == 200:
                break
        except OSError:
            assert time.monotonic() < deadline, "the service did not answer in 60 s"
            time.sleep(0.2)
    return running


def stop_service(running: Service) -> None:
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(60)
