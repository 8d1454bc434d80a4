"""An exec's events as a ``text/event-stream`` response (`exec_log` keeps them).

A plain ASGI response rather than `StreamingResponse`: no task group and no async
generator per request, the exit event goes out with the end of the body (one write
with a server that joins them), and a follower that only replays an ended exec needs
no watcher at all. While the exec is live, one task watches the connection: when the
client goes away, the follower stops at once instead of waiting for the exec's next
event (the exec itself goes on; its log stays readable).
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from orchestrator.service.exec_log import ExecLog


class ExecEventStream(Response):
    """The events of ``log`` after id ``after``, live until its exit event."""

    media_type = "text/event-stream"

    def __init__(self, log: ExecLog, after: int = 0) -> None:
        self.log = log
        self.after = after
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Airlock-Exec-Id": log.exec_id})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if self.log.ended:  # a replay only: bounded, nothing to wait for
            await self._send_events(send)
            return
        stream = asyncio.current_task()
        assert stream is not None  # an ASGI app runs in a task
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            stream.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await self._send_events(send)
        except asyncio.CancelledError:
            # Ours (the client went away) ends the response quietly; any other goes on.
            if not gone or stream.uncancel() > 0:
                raise
        finally:
            watcher.cancel()

    async def _send_events(self, send: Send) -> None:
        ended = False  # the exit is the last event: it ends the body too
        async for event in self.log.follow(self.after):
            ended = event.kind == "exit"
            await send({"type": "http.response.body", "body": event.sse(), "more_body": not ended})
        if not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
