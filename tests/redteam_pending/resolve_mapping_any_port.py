"""Red team: AIRLOCK_EGRESS_RESOLVE maps a *name* to an address (no port, unlike curl's
--resolve host:port:addr), and an allow entry without a port allows every port. With the
documented local-development mapping ``pypi.test=127.0.0.1`` and ``allow: [pypi.test]``,
a session reaches every TCP service on the host's loopback, any port: here a line-based
"admin" service, driven cross-protocol through a POST body (the proxy forwards the body
verbatim), the way a Redis or SMTP server on loopback would be.

Run: .venv/bin/python -m tests.redteam_pending.resolve_mapping_any_port  (exit 1: broken)
"""

from __future__ import annotations

import asyncio
import sys

from sandbox.egress import EgressProxy, Resolver, parse_resolve_spec
from security import NetworkPolicy

COMMANDS: list[bytes] = []


async def admin_service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A loopback-only line protocol on the host (think redis-server, an SMTP relay)."""
    while line := await reader.readline():
        if line.startswith(b"FLUSHALL"):
            COMMANDS.append(line.strip())
            writer.write(b"+OK\r\n")
        else:
            writer.write(b"-ERR unknown\r\n")
    writer.close()


async def main() -> int:
    service = await asyncio.start_server(admin_service, "127.0.0.1", 0)
    port = service.sockets[0].getsockname()[1]
    proxy = EgressProxy(
        NetworkPolicy(allow=["pypi.test"]),
        Resolver(parse_resolve_spec("pypi.test=127.0.0.1")),
        audit=lambda record: print(
            "record:", record.method, record.host, record.port, record.decision, record.reason
        ),
    )
    server = await proxy.listen_tcp()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    body = b"FLUSHALL\r\n"
    writer.write(
        f"POST http://pypi.test:{port}/ HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    with __import__("contextlib").suppress(TimeoutError):
        async with asyncio.timeout(2):
            print("client got:", await reader.read(4096))
    writer.close()
    await asyncio.sleep(0.2)
    server.close()
    service.close()
    print("commands the loopback service ran:", COMMANDS)
    return 1 if COMMANDS else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
