"""`BodyLimit`: a body's stated length within the route's cap, and never chunked."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from orchestrator.service.body_limit import MAX_JSON_BYTES, BodyLimit


async def _reached(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _status(method: str, headers: list[tuple[bytes, bytes]]) -> int:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/v1/sessions", "headers": headers}
    asyncio.run(BodyLimit(_reached)(scope, receive, send))
    return int(sent[0]["status"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([(b"content-length", b"2")], 200),
        ([], 200),
        ([(b"content-length", str(MAX_JSON_BYTES + 1).encode())], 413),
        ([(b"content-length", b"+2")], 413),
        ([(b"transfer-encoding", b"chunked")], 411),
        # the server reads this one chunked, of any length: the stated 2 means nothing
        ([(b"content-length", b"2"), (b"transfer-encoding", b"chunked")], 411),
        ([(b"transfer-encoding", b"chunked"), (b"content-length", b"2")], 411),
    ],
)
def test_a_body_states_its_length_within_the_cap_and_is_never_chunked(
    headers: list[tuple[bytes, bytes]], status: int
) -> None:
    assert _status("POST", headers) == status
