"""How the proxy says no: `EgressRefused`, and the response that carries its reason."""

from __future__ import annotations

from http import HTTPStatus

REASON_HEADER = "X-Airlock-Egress"
_MAX_REASON = 200
# A fatal TLS alert, access_denied: the answer once a tunnel is open and the client speaks TLS.
TLS_ACCESS_DENIED = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31])


class EgressRefused(Exception):
    """A request the proxy will not carry: ``status`` (403 for a refusal, 502 when the
    upstream cannot be reached, 4xx for a malformed request) and a short ``reason``."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def header_safe(reason: str) -> str:
    """``reason`` as a header value: printable ASCII only, bounded."""
    text = "".join(c if " " <= c <= "~" else "?" for c in reason)
    return text[:_MAX_REASON]


def refusal_response(status: int, reason: str) -> bytes:
    """A complete HTTP/1.1 response: the status, `REASON_HEADER`, a one-line body."""
    reason = header_safe(reason)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = f"airlock egress proxy: {status} {phrase}: {reason}\n".encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        f"{REASON_HEADER}: {reason}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
