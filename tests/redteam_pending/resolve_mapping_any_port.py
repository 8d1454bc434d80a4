"""Red team: AIRLOCK_EGRESS_RESOLVE mapped a *name* to an address (no port, unlike curl's
--resolve host:port:addr), and an allow entry without a port allows every port. With the
documented local-development mapping ``pypi.test=127.0.0.1`` and ``allow: [pypi.test]``,
a session reached every TCP service on the host's loopback, any port: here a line-based
"admin" service, driven cross-protocol through a POST body (the proxy forwards the body
verbatim), the way a Redis or SMTP server on loopback would be.

Fixed as far as it can be: ``name=addr`` is a public contract and still maps the name on
every port (the proxy now logs a warning saying so); ``name:port=addr`` maps it on that
port alone. This script shows both: the plain form's warning, and with the pinned form
``pypi.test:WEB=127.0.0.1`` the web port reached and the admin port refused.

Run: .venv/bin/python -m tests.redteam_pending.resolve_mapping_any_port  (exit 1: broken)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from sandbox.egress import EgressProxy, Resolver, parse_resolve_spec
from security import NetworkPolicy

COMMANDS: list[bytes] = []


async def admin_service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A loopback-only line protocol on the host (think redis-server, an SMTP relay)."""
    with contextlib.suppress(ConnectionError):
        while line := await reader.readline():
            if line.startswith(b"FLUSHALL"):
                COMMANDS.append(line.strip())
                writer.write(b"+OK\r\n")
            else:
                writer.write(b"-ERR unknown\r\n")
    writer.close()


async def web_service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The upstream the mapping is meant for."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    await writer.drain()
    writer.close()


class Kept(logging.Handler):
    """Keeps the messages logged."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__()
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def no_dns(name: str, port: int) -> list[str]:
    raise OSError("no DNS here")


async def post(proxy_port: int, target_port: int, body: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    writer.write(
        f"POST http://pypi.test:{target_port}/ HTTP/1.1\r\nHost: pypi.test:{target_port}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    answer = b""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2):
            answer = await reader.read()
    writer.close()
    return answer


async def main() -> int:
    admin = await asyncio.start_server(admin_service, "127.0.0.1", 0)
    web = await asyncio.start_server(web_service, "127.0.0.1", 0)
    admin_port = admin.sockets[0].getsockname()[1]
    web_port = web.sockets[0].getsockname()[1]

    warnings: list[str] = []
    logging.getLogger("sandbox.egress.resolver").addHandler(Kept(warnings))
    Resolver(parse_resolve_spec("pypi.test=127.0.0.1"), lookup=no_dns)
    print("plain form, warning:", warnings)

    proxy = EgressProxy(
        NetworkPolicy(allow=["pypi.test"]),
        Resolver(parse_resolve_spec(f"pypi.test:{web_port}=127.0.0.1"), lookup=no_dns),
        audit=lambda record: print(
            "record:", record.method, record.host, record.port, record.decision, record.reason,
            record.status,
        ),
    )  # fmt: skip
    server = await proxy.listen_tcp()
    proxy_port = server.sockets[0].getsockname()[1]
    reached = await post(proxy_port, web_port, b"hello")
    print("pinned port, client got:", reached.split(b"\r\n")[0])
    refused = await post(proxy_port, admin_port, b"FLUSHALL\r\n")
    print("another port, client got:", refused.split(b"\r\n")[0])
    await asyncio.sleep(0.2)
    server.close()
    admin.close()
    web.close()
    print("commands the loopback service ran:", COMMANDS)
    held = (
        len(warnings) == 1
        and "every TCP port" in warnings[0]
        and reached.startswith(b"HTTP/1.1 200")
        and refused.startswith(b"HTTP/1.1 502")
        and not COMMANDS
    )
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
