"""Red team (simulation): one session's slow name lookups stalled every other session.

Found: `system_lookup` ran getaddrinfo through ``loop.getaddrinfo``, i.e. in the event
loop's *default* executor (min(32, cpus + 4) threads: 6 on a 2-core host), shared by
every session's proxy and by every ``asyncio.to_thread`` of the orchestrator (docker API
calls such as container removal, copy-out spooling). The resolver's 10 s timeout
cancels the await, not the thread: a lookup the system resolver takes long to answer
keeps its thread. A session whose policy has a wildcard entry (``*.example.com``) can
ask for 64 random subdomains at once; with an authoritative server that answers slowly
(the attacker's own zone under the wildcard, or any name that times out), each holds a
thread for the resolver's full retry time (resolv.conf: 5 s x 2 attempts x servers).
Another session's ``to_thread`` waited 11.8 s.

Fixed: lookups run on a pool of their own (`sandbox.egress.lookup_pool`), at most
`LOOKUPS_PER_RESOLVER` per session. This script drives the same attack through that
pool with a blocking call standing in for getaddrinfo (no DNS is sent), and times
another session's `to_thread` call (what ``DockerSession.close`` does) and another
session's lookup while session A's 64 tunnels wait.

Run: .venv/bin/python -m tests.redteam_pending.shared_executor_stall (exit 1: broken)
"""

from __future__ import annotations

import asyncio
import sys
import time

from sandbox.egress import EgressProxy, PooledLookup, Resolver
from security import NetworkPolicy

SLOW_S = 2.0  # what one slow getaddrinfo takes (real resolvers: 5-30 s)


def slow_getaddrinfo(name: str, port: int) -> list[str]:
    """A getaddrinfo stuck in the system's resolver: blocks its thread, then fails."""
    time.sleep(SLOW_S)
    raise OSError("no such name")


def fast_getaddrinfo(name: str, port: int) -> list[str]:
    return ["93.184.215.14"]


async def main() -> int:
    proxy = EgressProxy(
        NetworkPolicy(allow=["*.example.com"]),
        Resolver(lookup=PooledLookup(slow_getaddrinfo), timeout=3),
        audit=lambda record: None,
    )
    server = await proxy.listen_tcp()
    port = server.sockets[0].getsockname()[1]

    async def tunnel(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"CONNECT r{i}.example.com:443 HTTP/1.1\r\n\r\n".encode())
        await writer.drain()
        await reader.read()
        writer.close()

    attack = [asyncio.create_task(tunnel(i)) for i in range(64)]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await asyncio.to_thread(lambda: None)  # session B: e.g. its container's removal
    waited = time.monotonic() - started
    print(f"another session's to_thread call waited {waited:.2f} s")
    started = time.monotonic()
    other = Resolver(lookup=PooledLookup(fast_getaddrinfo))
    await other.resolve("pypi.org", 443)  # session C: a lookup of its own
    looked_up = time.monotonic() - started
    print(f"another session's lookup took {looked_up:.2f} s")
    await asyncio.gather(*attack)
    server.close()
    return 1 if waited > 1 or looked_up > 1 else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
