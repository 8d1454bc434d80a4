"""One exec's events, kept for replay and followed live: what `POST .../exec` streams
and `GET .../execs/{exec_id}/events` reads again from any event id.

Events are numbered from 1. An exec keeps at most `MAX_OUTPUT_BYTES` of output (and a
session `SESSION_OUTPUT_BYTES`, its oldest ended execs dropped first); past
it, one ``truncated`` event says how much the cap dropped from then on (counted until
the exit, whose event says it too), so a reader is always told. The exit event is last.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

MAX_OUTPUT_BYTES = 8 * 1024 * 1024  # output kept per exec, both streams together
MAX_EXECS_PER_SESSION = 256  # finished execs kept for replay; the oldest go first
# output a session keeps in memory, its execs together (a running one counts its whole
# cap): so at most 8 run at once, and the service holds at most this per sandbox
SESSION_OUTPUT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # "output", "truncated" or "exit"
    data: dict[str, Any]

    def sse(self) -> bytes:
        """The event in text/event-stream form."""
        payload = json.dumps(self.data, separators=(",", ":"))
        return f"id: {self.id}\nevent: {self.kind}\ndata: {payload}\n\n".encode()


class ExecLog:
    """The events of one exec, appended by its runner and read by any number of
    followers."""

    def __init__(self, exec_id: str, max_output: int = MAX_OUTPUT_BYTES) -> None:
        self.exec_id = exec_id
        self.max_output = max_output
        self.events: list[Event] = []
        self.kept = 0  # output bytes kept
        self.dropped = 0  # output bytes the cap dropped
        self.changed = asyncio.Condition()
        self.ended = False  # its exit event is in

    @property
    def held(self) -> int:
        """Output bytes it counts for in its session: its whole cap until it ends."""
        return self.kept if self.ended else self.max_output

    async def output(self, stream: str, data: bytes) -> None:
        """Keep ``data`` of ``stream``, within the cap."""
        room = max(0, self.max_output - self.kept)
        kept, lost = data[:room], len(data) - min(room, len(data))
        if kept:
            self.kept += len(kept)
            encoded = base64.b64encode(kept).decode()
            await self._add("output", {"stream": stream, "data_b64": encoded})
        if lost:
            if not self.dropped:
                await self._add("truncated", {"max_output_bytes": self.max_output})
            self.dropped += lost

    async def exit(self, data: dict[str, Any]) -> None:
        """The last event: how the exec ended (and what the cap dropped, if anything)."""
        await self._add("exit", {**data, "output_dropped_bytes": self.dropped})

    async def _add(self, kind: str, data: dict[str, Any]) -> None:
        async with self.changed:
            self.events.append(Event(len(self.events) + 1, kind, data))
            self.ended = kind == "exit"
            self.changed.notify_all()

    def _past(self, seen: int) -> bool:
        return len(self.events) > seen or self.ended

    async def follow(self, after: int = 0) -> AsyncIterator[Event]:
        """Every event after id ``after``, then each new one as it comes, until the exit."""
        position = max(0, after)
        while True:
            async with self.changed:
                await self.changed.wait_for(functools.partial(self._past, position))
                fresh = self.events[position:]
            for event in fresh:
                yield event
            position += len(fresh)
            if self.ended and position >= len(self.events):
                return
