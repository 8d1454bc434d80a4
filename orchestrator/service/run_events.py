"""A run's events as server-sent events, read from its audit log.

The run's ``events.jsonl`` is the one copy of its events: the service keeps none in
memory, so a run's stream has no cap of its own and survives a restart unchanged. An
event's id is its record's ``seq`` (from 1); ``Last-Event-ID`` resumes after it. A
follower reads the records written so far, then waits for the run's next event (or a
short poll) and reads on; when the run has ended it reads to the end and sends a last
``run_end`` event (id: the last record's plus one) with the run's state and summary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from orchestrator.service.exec_log import Event

POLL_S = 0.5  # a follower looks again this often, told or not
READ_BYTES = 1 << 20


class RunSignal:
    """Wakes the followers of one run; `bump` may be called from any thread."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self._loop.call_soon_threadsafe(self._changed.set)

    async def wait(self, timeout: float = POLL_S) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return
        self._changed.clear()


async def follow_run(
    log: Path,
    after: int,
    ended: Callable[[], bool],
    signal: RunSignal | None,
    last: Callable[[], Awaitable[dict[str, Any]]],
) -> AsyncIterator[bytes]:
    """The run's events after id ``after`` as SSE bytes, live until ``ended()``, then
    ``run_end`` with ``last()``'s data."""
    offset, pending, seq = 0, b"", 0
    while True:
        over = ended()  # read before the file: a run that ends now is read once more
        chunk = await asyncio.to_thread(_read, log, offset)
        offset += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            seq = int(record["seq"])
            if seq > after:
                event = record["event"]
                yield Event(seq, str(event.get("type", "event")), event).sse()
        if len(chunk) == READ_BYTES:
            continue  # more is there already
        if over:
            break
        if signal is None:
            await asyncio.sleep(POLL_S)
        else:
            await signal.wait()
    end_id = seq + 1
    if end_id > after:
        yield Event(end_id, "run_end", await last()).sse()


def _read(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read(READ_BYTES)
    except FileNotFoundError:
        return b""
