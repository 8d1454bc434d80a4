"""Egress over a Unix socket: the session's proxy listens on a socket of its own, which
the container sees through a bind mount.

The other transport (`sandbox/egress_transport.py`) carries every byte as frames over
the exec channel, through the engine's attach stream: it works with any engine, local or
not, but the engine's copies bound it (about 170 MB/s). Here the agent bridges each
loopback connection to the socket (`sandbox/egress_bridge.py`) and the bytes go through
the kernel alone. The proxy serves the socket on a loop of its own (`proxy_loop`). The
folder holding the socket is the session's alone, and only its container mounts it
(read-only; connecting needs no write), where only the agent may use it
(`socket_modes`). Beside it, under runc, the agent passes the connections themselves
(`sandbox/egress_handoff.py`), and then bridges none. Under gVisor the runtime must be
allowed to connect to host sockets (``runsc --host-uds=open``, which
`scripts/ensure-engine.sh` sets).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from sandbox.egress import run_on_proxy_loop
from sandbox.egress_handoff import HANDOFF_NAME, HandoffServer
from sandbox.egress_transport import EgressHandler

SOCKET_DIR = "/run/airlock-egress"  # where the container sees the folder
SOCKET_NAME = "proxy.sock"
SOCKET_PATH = f"{SOCKET_DIR}/{SOCKET_NAME}"
HANDOFF_PATH = f"{SOCKET_DIR}/{HANDOFF_NAME}"  # where the agent passes connections (runc)
FOLDER_PREFIX = "airlock-egress-"
STALE_AFTER_S = 60.0  # younger folders may be an orchestrator's, setting its socket up
# Root's folder and socket (an orchestrator running as root): in the container only its
# root, the agent, may connect, so a confined command whose Landlock rule forbids every
# TCP port cannot reach the proxy through the socket instead. An orchestrator that is
# not root cannot give them to root: then any user of the container may connect (the
# agent, root without DAC capabilities, must), and meets the same proxy and policy.
PRIVATE_MODES = (0o700, 0o600)
SHARED_MODES = (0o755, 0o666)


def socket_modes() -> tuple[int, int]:
    """The folder's and the socket's modes for this orchestrator."""
    return PRIVATE_MODES if os.geteuid() == 0 else SHARED_MODES


class EgressSocket:
    """One session's proxy socket on the host and the mount that shows it inside."""

    def __init__(
        self, folder: Path, server: asyncio.AbstractServer, handoff: HandoffServer
    ) -> None:
        self.folder = folder
        self.server = server
        self.handoff = handoff

    @classmethod
    async def open(cls, handler: EgressHandler, prefix: str = FOLDER_PREFIX) -> EgressSocket:
        """Listen for ``handler`` on a new socket in a new private folder."""
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            folder_mode, socket_mode = socket_modes()
            folder.chmod(folder_mode)
            path = folder / SOCKET_NAME
            server = await run_on_proxy_loop(
                asyncio.start_unix_server(_quiet(handler), path=str(path))
            )
            path.chmod(socket_mode)
            try:
                handoff = await run_on_proxy_loop(
                    HandoffServer.start(folder / HANDOFF_NAME, handler)
                )
                (folder / HANDOFF_NAME).chmod(socket_mode)
            except BaseException:
                await run_on_proxy_loop(_stop(server))
                raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return cls(folder, server, handoff)

    async def aclose(self) -> None:
        """Stop listening and remove the folder (connections in flight end with the proxy)."""
        await run_on_proxy_loop(_stop(self.server))
        await run_on_proxy_loop(self.handoff.close())
        with contextlib.suppress(OSError):
            shutil.rmtree(self.folder)


async def _stop(server: asyncio.AbstractServer) -> None:
    server.close()


def _quiet(handler: EgressHandler) -> EgressHandler:
    """``handler`` as a connection's task whose cancellation (the proxy closing) ends it
    quietly: asyncio would otherwise log the cancelled task as an error."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except asyncio.CancelledError:
            writer.transport.abort()

    return serve


def remove_stale_folders(parent: str | None = None, now: float | None = None) -> list[Path]:
    """Remove the socket folders whose proxy is gone (a crashed orchestrator's): no
    socket, or one nobody listens on. Returns the folders removed."""
    now = time.time() if now is None else now
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        try:
            if not folder.is_dir() or folder.is_symlink() or folder.lstat().st_uid != os.geteuid():
                continue
            if now - folder.lstat().st_mtime < STALE_AFTER_S or _listening(folder / SOCKET_NAME):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _listening(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    except OSError:
        return True  # busy or unreadable: not known to be gone
    finally:
        probe.close()
    return True
