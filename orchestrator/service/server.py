"""The HTTP server under `airlock serve`: uvicorn, draining the service as a signal comes.

uvicorn's graceful shutdown waits for open connections before the application's own
shutdown runs; a stream that follows a run or an exec would hold it until that run
ends. So the signal also starts the service's drain at once (`create_app`'s
``app.state.drain``): running runs stop and write their summaries, sessions end and
their execs say so, the streams that followed them close, and the shutdown goes on.
`GRACE_S` bounds what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn

from orchestrator.service.app import ServiceConfig, create_app

GRACE_S = 60  # after a signal, how long open connections may take before they are cut


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which starts ``drain`` when the first exit signal comes."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._draining: asyncio.Future[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._draining is None:
            with contextlib.suppress(RuntimeError):  # no loop yet: the lifespan drains
                asyncio.get_running_loop().call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain())


def serve_forever(config: ServiceConfig, access_log: bool = True) -> None:
    """Serve ``config`` until a signal ends it (then exit by that signal, as uvicorn does)."""
    app = create_app(config)

    async def drain() -> None:
        await app.state.drain()

    settings = uvicorn.Config(app, host=config.host, port=config.port, log_level="info",
                              access_log=access_log, timeout_graceful_shutdown=GRACE_S)  # fmt: skip
    DrainingServer(settings, drain).run()
