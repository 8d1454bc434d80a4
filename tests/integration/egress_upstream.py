"""What egress tests put at both ends: an echo upstream on the host's loopback, a tiny
forwarding handler standing in for the proxy, and a stdlib client for the sandbox.

The handler reads ``CONNECT <port>`` and connects to 127.0.0.1:<port> only, never
anywhere else; a refused upstream makes it raise, which resets the sandbox's
connection. The echo server sends back every byte, then ``<eof>`` once its client
half-closed, so a client sees that its half-close reached the upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

EOF_MARK = b"<eof>"


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        writer.write(EOF_MARK)
        await writer.drain()
    finally:
        writer.close()


async def echo_server() -> asyncio.Server:
    """An echo server on 127.0.0.1 (a free port)."""
    return await asyncio.start_server(_echo, "127.0.0.1", 0)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy to EOF, then pass the half-close on."""
    while data := await reader.read(1 << 18):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """``CONNECT <port>\\n``, then relay both ways to 127.0.0.1:<port>."""
    line = await reader.readline()
    verb, _, port = line.decode().strip().partition(" ")
    if verb != "CONNECT" or not port.isdigit():
        raise ValueError(f"not a CONNECT line: {line!r}")
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port))
    try:
        writer.write(b"OK\n")
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        up_writer.close()
        with contextlib.suppress(OSError):
            await up_writer.wait_closed()


# Runs in the sandbox: python3 -c CLIENT EGRESS_PORT UPSTREAM_PORT SIZE [CONNS]. Each of
# CONNS connections sends SIZE seeded bytes, half-closes, and must get them all back, then
# <eof>. Prints "ok" per connection, or what went wrong: "reset" (the handler refused),
# "refused" (nothing listens on the port in the sandbox).
CLIENT = r"""
import hashlib, random, socket, sys, threading
egress, upstream, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
conns = int(sys.argv[4]) if len(sys.argv) > 4 else 1

def send(sock, data, seen):
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except ConnectionResetError:
        seen.append("reset")  # a reset is reported once: to the sender, or to the reader
    except OSError:
        pass

def one(i, results):
    data = random.Random(i).randbytes(size)
    try:
        sock = socket.create_connection(("127.0.0.1", egress), timeout=120)
        sock.sendall(b"CONNECT %d\n" % upstream)
        got, seen = bytearray(), []
        sender = threading.Thread(target=send, args=(sock, data, seen))
        sender.start()
        while chunk := sock.recv(1 << 16):
            got += chunk
        sender.join()
        sock.close()
        want = b"OK\n" + data + b"<eof>"
        if seen:
            results[i] = seen[0]
        else:
            results[i] = "ok" if bytes(got) == want else "wrong: %d bytes, %s" % (
                len(got), hashlib.sha256(got).hexdigest()[:12])
    except ConnectionResetError:
        results[i] = "reset"
    except ConnectionRefusedError:
        results[i] = "refused"
    except OSError as exc:
        results[i] = "error: %r" % exc

results = [None] * conns
threads = [threading.Thread(target=one, args=(i, results)) for i in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
print(" ".join(results))
"""
