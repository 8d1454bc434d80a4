"""Labels on every sandbox container, so the reaper can tell whose it is and until when."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from pydantic import BaseModel

MANAGED = "airlock.managed"
SESSION = "airlock.session"
OWNER_PID = "airlock.owner.pid"
OWNER_START = "airlock.owner.start"
OWNER_HOST = "airlock.owner.host"
CREATED = "airlock.created"
EXPIRES = "airlock.expires"
PARENT = "airlock.parent"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), to survive pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its end
    return stat.rsplit(")", 1)[1].split()[19]


class Owner(BaseModel):
    """The orchestrator process a container belongs to."""

    pid: int
    start: str | None
    host: str

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(pid=pid, start=process_start_time(pid), host=socket.gethostname())

    def checkable(self) -> bool:
        """Whether this machine can tell if the owner runs (only on its own host)."""
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """Whether this owner still runs; True when that cannot be checked from here."""
        if not self.checkable():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return self.start is None or process_start_time(self.pid) == self.start


def session_labels(
    session_id: str, ttl_seconds: int, owner: Owner, parent: str | None = None
) -> dict[str, str]:
    now = time.time()
    labels = {
        MANAGED: "1",
        SESSION: session_id,
        OWNER_PID: str(owner.pid),
        OWNER_START: owner.start or "",
        OWNER_HOST: owner.host,
        CREATED: f"{now:.3f}",
        EXPIRES: f"{now + ttl_seconds:.3f}",
    }
    if parent:
        labels[PARENT] = parent
    return labels


def owner_of(labels: dict[str, str]) -> Owner | None:
    try:
        return Owner(
            pid=int(labels[OWNER_PID]),
            start=labels.get(OWNER_START) or None,
            host=labels[OWNER_HOST],
        )
    except (KeyError, ValueError):
        return None
