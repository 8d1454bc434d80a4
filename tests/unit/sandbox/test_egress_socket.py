"""The socket transport's folders on the host: what the reaper's sweep removes."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from sandbox.egress_socket import STALE_AFTER_S, remove_stale_folders


def test_stale_socket_folders_go_and_live_ones_stay(tmp_path: Path) -> None:
    """The reaper's sweep: a crashed orchestrator's folder (no socket, or nobody
    listening) goes once old enough; a listening one, or a young one, stays."""
    now = time.time()
    gone, dead, live, young = (tmp_path / f"airlock-egress-{n}" for n in "abcd")
    for folder in (gone, dead, live, young):
        folder.mkdir()
    dead_socket = socket.socket(socket.AF_UNIX)
    dead_socket.bind(str(dead / "proxy.sock"))  # bound, never listening: refused
    dead_socket.close()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(live / "proxy.sock"))
    listener.listen(1)
    old = now - STALE_AFTER_S - 5
    for folder in (gone, dead, live):
        os.utime(folder, (old, old))
    try:
        removed = remove_stale_folders(str(tmp_path), now=now)
    finally:
        listener.close()
    assert sorted(removed) == [gone, dead]
    assert live.exists() and young.exists() and not gone.exists() and not dead.exists()
