"""Request bodies are capped before anything reads them.

A body must state its length (``Content-Length``; the HTTP server holds the client to
it) and come unchunked: with ``Transfer-Encoding`` the server reads the body chunked,
whatever length is stated beside it. The length must be within the route's cap: the
run upload's for ``POST /v1/runs``, `MAX_JSON_BYTES` for every other. A chunked body
answers 411, one over its cap 413, before the application sees either.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.service.repo_upload import MAX_UPLOAD_BYTES

MAX_JSON_BYTES = 1024 * 1024
MAX_RUN_BYTES = MAX_UPLOAD_BYTES + 2 * MAX_JSON_BYTES  # the archive, the spec, the framing
_BODILESS = {"GET", "HEAD", "OPTIONS", "DELETE"}


class BodyLimit:
    """ASGI middleware: 411 or 413 for a body of unknown or excessive length."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODILESS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        cap = MAX_RUN_BYTES if scope["path"].rstrip("/") == "/v1/runs" else MAX_JSON_BYTES
        length = headers.get(b"content-length")
        if b"transfer-encoding" in headers:  # with a length too: the server reads it chunked
            await _refuse(send, 411, "send the body with a Content-Length, unchunked")
            return
        if length is not None and (not length.isdigit() or int(length) > cap):
            await _refuse(send, 413, f"the body is over this route's {cap:,} bytes")
            return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
