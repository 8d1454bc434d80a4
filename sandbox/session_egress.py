"""One session's egress, end to end: its proxy, the port it is served on, its records.

A session whose spec allows hosts (``spec.egress.allow``) gets its own `EgressProxy`,
served through the session's transport (`DockerSession.serve_egress`: connections to
127.0.0.1:`EGRESS_PORT` inside the sandbox reach the proxy over the exec channel). No
other session's traffic ever reaches it, and the sandbox keeps no interface but
loopback. The container's environment names the proxy (`proxy_environment`), so pip,
npm, git and curl use it; a client that ignores the variables reaches nothing.

Each request's `EgressRecord` goes to the listeners `watch` registered; records that
come before any listener wait in a bounded buffer (`PENDING_RECORDS`; past it the
oldest go, and the next listener is told how many).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Mapping

from sandbox.egress import EgressProxy, EgressRecord, Resolver
from sandbox.egress_transport import EgressHandler
from sandbox.spec import EGRESS_PORT
from security.network_policy import NetworkPolicy

PENDING_RECORDS = 1024
Listener = Callable[[EgressRecord], None]


def proxy_environment(port: int = EGRESS_PORT) -> dict[str, str]:
    """The variables that send a session's HTTP(S) clients to its proxy. Loopback
    stays direct: a server the agent starts in the session is reached as it is."""
    url = f"http://127.0.0.1:{port}"
    local = "localhost,127.0.0.1,::1"
    return {
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "http_proxy": url,
        "https_proxy": url,
        "NO_PROXY": local,
        "no_proxy": local,
    }


class SessionEgress:
    """The proxy of one session and where its records go."""

    def __init__(self, policy: NetworkPolicy, environ: Mapping[str, str] | None = None) -> None:
        """``environ`` (the orchestrator's, by default) may map names for tests with
        ``AIRLOCK_EGRESS_RESOLVE``; a malformed value raises `ResolveSpecError`."""
        resolver = Resolver.from_environment(os.environ if environ is None else environ)
        self.proxy = EgressProxy(policy, resolver, audit=self._record)
        self._listeners: list[Listener] = []
        self._pending: deque[EgressRecord] = deque(maxlen=PENDING_RECORDS)
        self._dropped = 0

    @property
    def listeners(self) -> list[Listener]:
        """Who receives this session's records."""
        return list(self._listeners)

    @property
    def handler(self) -> EgressHandler:
        """What the transport hands each connection to."""
        return self.proxy.serve

    def watch(self, listener: Listener) -> int:
        """Send every record to ``listener`` from now on, the buffered ones first;
        returns how many records were dropped before anyone listened."""
        self._listeners.append(listener)
        while self._pending:
            listener(self._pending.popleft())
        dropped, self._dropped = self._dropped, 0
        return dropped

    def _record(self, record: EgressRecord) -> None:
        if not self._listeners:
            if len(self._pending) == self._pending.maxlen:
                self._dropped += 1
            self._pending.append(record)
            return
        for listener in self._listeners:
            listener(record)

    async def aclose(self) -> None:
        """End the connections still open (their records say so)."""
        await self.proxy.aclose()
