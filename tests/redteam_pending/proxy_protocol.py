# ruff: noqa: E501  (raw protocol bytes and shell probes read best on one line)
"""Red team: raw protocol attacks on an in-process EgressProxy (loopback only).

An upstream on 127.0.0.1 records every byte it receives; "files.test" is mapped to it.
Each case sends raw bytes to the proxy and prints what the client got back and what
reached the upstream. Run: .venv/bin/python -m tests.redteam_pending.proxy_protocol
"""

from __future__ import annotations

import asyncio
import struct

from sandbox.egress import EgressProxy, Resolver
from security import NetworkPolicy

RECEIVED: list[bytes] = []


async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = b""
    try:
        async with asyncio.timeout(1.0):
            while chunk := await reader.read(65536):
                data += chunk
                if b"\r\n\r\n" in data and not data.startswith(b"\x16"):
                    break
    except TimeoutError:
        pass
    RECEIVED.append(data)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()
    writer.close()


def client_hello(sni: str | None, extra_ext: bytes = b"", version: bytes = b"\x03\x01") -> bytes:
    exts = b""
    if sni is not None:
        name = sni.encode("latin-1")
        entry = b"\x00" + struct.pack(">H", len(name)) + name
        lst = struct.pack(">H", len(entry)) + entry
        exts += struct.pack(">HH", 0, len(lst)) + lst
    exts += extra_ext
    body = b"\x03\x03" + b"\x00" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack(">H", len(exts)) + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + version + struct.pack(">H", len(hs)) + hs


async def send(port: int, data: bytes, after: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    got = b""
    try:
        async with asyncio.timeout(2.0):
            if after:
                got += await reader.readuntil(b"\r\n\r\n")
                writer.write(after)
                await writer.drain()
            while chunk := await reader.read(65536):
                got += chunk
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
    return got


async def main() -> None:
    up = await asyncio.start_server(upstream, "127.0.0.1", 0)
    up_port = up.sockets[0].getsockname()[1]
    records = []
    proxy = EgressProxy(
        NetworkPolicy(allow=["files.test", "*.files.test"]),
        Resolver({"files.test": __import__("ipaddress").ip_address("127.0.0.1")}),
        audit=records.append,
    )
    server = await proxy.listen_tcp()
    port = server.sockets[0].getsockname()[1]
    P = up_port
    cases: list[tuple[str, bytes, bytes]] = [
        (
            "plain",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nHost: files.test:{P}\r\n\r\n".encode(),
            b"",
        ),
        (
            "pipelined 2nd",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nHost: files.test:{P}\r\n\r\nGET /evil HTTP/1.1\r\nHost: evil.test\r\n\r\n".encode(),
            b"",
        ),
        (
            "CL body holds a request",
            f"POST http://files.test:{P}/ HTTP/1.1\r\nHost: files.test:{P}\r\nContent-Length: 38\r\n\r\nGET /x HTTP/1.1\r\nHost: evil.test\r\n\r\n".encode(),
            b"",
        ),
        (
            "GET with CL smuggle",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nContent-Length: 38\r\n\r\nGET /x HTTP/1.1\r\nHost: evil.test\r\n\r\n".encode(),
            b"",
        ),
        ("trailing dot", f"GET http://files.test.:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("upper", f"GET HTTP://FILES.TEST:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        (
            "host hdr evil",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nHost: evil.test\r\n\r\n".encode(),
            b"",
        ),
        (
            "host hdr with tab",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nHost:\tfiles.test:{P}\t\r\n\r\n".encode(),
            b"",
        ),
        (
            "host hdr case dup",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nHost: files.test:{P}\r\nhOST: evil.test\r\n\r\n".encode(),
            b"",
        ),
        (
            "host hdr obs-text",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nHost: files.test:{P}\r\nX-Forwarded-Host: evil.test\r\n\r\n".encode(),
            b"",
        ),
        ("userinfo", f"GET http://files.test@evil.test:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("pct", f"GET http://files%2etest:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        (
            "path // absolute",
            f"GET http://files.test:{P}//evil.test/ HTTP/1.1\r\n\r\n".encode(),
            b"",
        ),
        (
            "path http://",
            f"GET http://files.test:{P}/http://evil.test/ HTTP/1.1\r\n\r\n".encode(),
            b"",
        ),
        ("no path ?", f"GET http://files.test:{P}?http://evil HTTP/1.1\r\n\r\n".encode(), b""),
        ("port leading zero", f"GET http://files.test:0{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("ip literal", f"GET http://127.0.0.1:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("ip octal", f"GET http://0177.1:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("ip dec", f"GET http://2130706433:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("ip v6", f"GET http://[::ffff:127.0.0.1]:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("ip 0", f"GET http://0:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("ip hex label", f"GET http://0x7f000001:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("ip trailing dot", f"GET http://127.0.0.1.:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        ("subdomain unmapped", f"GET http://a.files.test:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
        (
            "TE chunked",
            f"POST http://files.test:{P}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /evil HTTP/1.1\r\n\r\n".encode(),
            b"",
        ),
        (
            "TE chunked ext smuggle",
            f'POST http://files.test:{P}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a="\r\nx"\r\nhello\r\n0\r\n\r\n'.encode(),
            b"",
        ),
        (
            "TE + CL",
            f"POST http://files.test:{P}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n".encode(),
            b"",
        ),
        (
            "TE 1.0",
            f"POST http://files.test:{P}/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode(),
            b"",
        ),
        (
            "Connection names Host",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nConnection: host, content-length\r\nHost: files.test:{P}\r\nContent-Length: 0\r\n\r\n".encode(),
            b"",
        ),
        (
            "Connection names Authorization",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nConnection: authorization\r\nAuthorization: x\r\n\r\n".encode(),
            b"",
        ),
        (
            "upgrade",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".encode(),
            b"",
        ),
        (
            "CONNECT ok",
            f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(),
            client_hello("files.test") + b"AFTER",
        ),
        (
            "CONNECT sni dot upper",
            f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(),
            client_hello("FILES.TEST.") + b"AFTER",
        ),
        (
            "CONNECT sni other",
            f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(),
            client_hello("evil.test"),
        ),
        (
            "CONNECT sni NUL",
            f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(),
            client_hello("files.test\x00evil.test"),
        ),
        (
            "CONNECT sni ctl",
            f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(),
            client_hello("\x1b[31mfiles.test"),
        ),
        ("CONNECT no sni", f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(), client_hello(None)),
        (
            "CONNECT two hellos",
            f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(),
            client_hello("files.test") + client_hello("evil.test"),
        ),
        (
            "CONNECT plain after",
            f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(),
            b"GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n",
        ),
        (
            "CONNECT ssl2 hello",
            f"CONNECT files.test:{P} HTTP/1.1\r\n\r\n".encode(),
            b"\x80\x2e\x01\x00\x02" + b"\x00" * 44,
        ),
        ("CONNECT ip", f"CONNECT 127.0.0.1:{P} HTTP/1.1\r\n\r\n".encode(), b""),
        ("CONNECT no port", b"CONNECT files.test HTTP/1.1\r\n\r\n", b""),
        (
            "CONNECT host hdr",
            f"CONNECT files.test:{P} HTTP/1.1\r\nHost: evil.test:{P}\r\n\r\n".encode(),
            b"",
        ),
        ("CONNECT v6 bracket name", f"CONNECT [files.test]:{P} HTTP/1.1\r\n\r\n".encode(), b""),
        ("bare LF", f"GET http://files.test:{P}/ HTTP/1.1\nHost: evil\n\n".encode(), b""),
        (
            "obs-fold",
            f"GET http://files.test:{P}/ HTTP/1.1\r\nX: a\r\n Host: evil\r\n\r\n".encode(),
            b"",
        ),
        ("origin form", b"GET / HTTP/1.1\r\nHost: files.test\r\n\r\n", b""),
        ("HTTP/0.9", f"GET http://files.test:{P}/\r\n\r\n".encode(), b""),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b""),
        ("https via GET", f"GET https://files.test:{P}/ HTTP/1.1\r\n\r\n".encode(), b""),
    ]
    for name, data, after in cases:
        RECEIVED.clear()
        got = await send(port, data, after)
        await asyncio.sleep(0.05)
        first = got.split(b"\r\n", 1)[0]
        reason = [x for x in got.split(b"\r\n") if x.lower().startswith(b"x-airlock-egress")]
        upstream_got = RECEIVED[0][:160] if RECEIVED else None
        print(
            f"{name:32} client: {first!r} {reason[:1]!r} {got[-20:] if got.startswith(b'HTTP/1.1 200 Connection') else b''!r}"
        )
        print(f"{'':32} upstream: {upstream_got!r}")
    await asyncio.sleep(0.3)
    print("records:", len(records))
    for r in records[-12:]:
        print("  ", r.method, r.host, r.port, r.decision, repr(r.reason)[:90])
    server.close()
    up.close()


if __name__ == "__main__":
    asyncio.run(main())
