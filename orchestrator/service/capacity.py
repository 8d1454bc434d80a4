"""How many sandboxes this machine can hold: the service's default capacity.

Each sandbox may use its spec's memory limit (swap included), so the machine holds as
many as three quarters of its memory allows, the rest left to the host, the engine
and the service; never fewer than one, never more than `MAX_DEFAULT`.
"""

from __future__ import annotations

import os

from sandbox import SessionSpec

HOST_SHARE = 0.75
MAX_DEFAULT = 64


def machine_capacity(memory_bytes: int | None = None) -> int:
    """Sandboxes of the default spec that fit in ``memory_bytes`` (this machine's)."""
    if memory_bytes is None:
        memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    each = SessionSpec().limits.memory_mb * 1024 * 1024
    return max(1, min(MAX_DEFAULT, int(memory_bytes * HOST_SHARE // each)))
