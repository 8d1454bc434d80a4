"""Red team (service): the body cap is passed by a request that states a small
Content-Length and sends its body chunked.

`body_limit.BodyLimit` reads ``Content-Length`` when there is one and looks for
``Transfer-Encoding`` only when there is none. The HTTP server (uvicorn) takes a
request with both and reads the body as chunked, of any length. So ``Content-Length: 2``
plus ``Transfer-Encoding: chunked`` passes the 1 MiB cap of the JSON routes (FastAPI
reads the whole body into memory before validating it: memory without bound, before
any token is even checked on routes whose body comes first) and the 66 MiB cap of
``POST /v1/runs`` (the multipart parser spools files to disk: the host's temp disk).
It is also the classic request-smuggling shape behind a proxy that honours the length.

Run: ``.venv/bin/python -m pytest tests/redteam_pending/service_body_limit_chunked.py``
(needs Docker for the service's start). It fails while the bug exists.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integration.service_process import Service
from tests.redteam_pending.service_common import served  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

BODY_BYTES = 8 * 1024 * 1024  # 8 times the JSON routes' cap


def _send(port: int, head: str, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(head.encode())
        step = 1 << 20
        try:
            for start in range(0, len(body), step):
                piece = body[start : start + step]
                connection.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            connection.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the body: the answer is there to read
        answer = b""
        while b"\r\n\r\n" not in answer:
            got = connection.recv(65536)
            if not got:
                break
            answer += got
    return answer


def test_a_chunked_body_with_a_small_length_is_refused(served: Service) -> None:  # noqa: F811
    runner = served.token("mallory", "runner")
    body = b'{"image": "' + b"a" * BODY_BYTES + b'"}'
    head = (
        "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {runner}\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    answer = _send(served.port, head, body)
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else answer[:40]
    assert status in {b"400", b"411", b"413"}, (
        f"{len(body):,} bytes sent chunked behind Content-Length: 2 were read whole: "
        f"{answer[:200]!r}"
    )


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_without_a_token_a_chunked_body_costs_no_memory(served: Service) -> None:  # noqa: F811
    """No token at all: FastAPI reads a route's JSON body before its dependencies (the
    token check) run, so anyone who reaches the port makes the service hold the body."""
    before = _peak_mib(served.process.pid)
    body = b'{"image": "' + b"a" * (256 * 1024 * 1024) + b'"}'
    head = (
        "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    answer = _send(served.port, head, body)
    grown = _peak_mib(served.process.pid) - before
    assert grown < 64, f"256 MiB sent with no token: peak memory +{grown:.0f} MiB ({answer[:60]!r})"
