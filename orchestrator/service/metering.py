"""A backend that counts the CPU time of the sessions it hands out: a run's use, for
its tenant's daily cap (`quotas`). Each session's time is read as it ends, before its
sandbox goes (a sub-agent's forked sandboxes are not counted)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sandbox import Backend, Session, SessionSpec


class MeteredBackend:
    """``inner``, counting the CPU-seconds of the sessions its ``session()`` gives."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.cpu_s = 0.0

    @contextlib.asynccontextmanager
    async def session(self, spec: SessionSpec | None = None) -> AsyncIterator[Session]:
        async with self.inner.session(spec) as session:
            try:
                yield session
            finally:
                with contextlib.suppress(Exception):
                    self.cpu_s += await session.cpu_seconds() or 0.0

    async def start(self, spec: SessionSpec, parent: str | None = None) -> Session:
        return await self.inner.start(spec, parent)
