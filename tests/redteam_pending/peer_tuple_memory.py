"""Red team: a forged ``tcp_open`` keeps an unbounded ``peer`` on the host.

`EgressTunnel._open` stores ``tuple(peer)`` for every connection when ``peer`` is any
JSON list, whatever its length. A frame may be 16 MiB, so one ``tcp_open`` whose peer is
``[0, 0, ...]`` (8 M elements) costs the host a 64 MiB tuple, kept as long as the
connection lives (a CONNECT tunnel held open: up to the 300 s idle timeout, renewed by a
trickle). 64 connections: about 4 GiB, where the transport's docstring promises
``max_conns`` x ``up_window`` (64 MiB). The frames come from the container, which can
write them (see channel_forgery.py: the channel is reachable through /proc/1/fd/1).

Here the frames are fed to a real `EgressTunnel` in-process (what `AgentChannel`
does with each decoded frame), the handler holding each connection open.
Run: .venv/bin/python -m tests.redteam_pending.peer_tuple_memory  (exit 1: broken)
"""

from __future__ import annotations

import asyncio
import json
import sys
import tracemalloc
from typing import Any

from sandbox.egress_transport import EgressTunnel
from sandbox.exec_agent import FRAME_CREDIT

CONNS = 8
PEER_ITEMS = 2_000_000  # ~6 MB of JSON each; the frame limit allows ~8 M


async def main() -> int:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    async def send(header: dict[str, Any], body: bytes) -> None:
        return None

    tunnel = EgressTunnel(hold, send, lambda header: None, frame_credit=FRAME_CREDIT)
    raw = json.dumps({"type": "tcp_open", "conn": 0, "peer": [0] * PEER_ITEMS})
    print(f"one frame: {len(raw) / 2**20:.1f} MiB of JSON")
    tracemalloc.start()
    for conn in range(1, CONNS + 1):
        header = json.loads(raw)  # what FrameDecoder hands the channel
        header["conn"] = conn
        tunnel.frame("tcp_open", header, b"")
        del header
    await asyncio.sleep(0)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{CONNS} connections hold {held / 2**20:.0f} MiB on the host")
    await tunnel.close()
    return 1 if held > CONNS * 2 * 2**20 else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
