"""One session's egress, end to end: its proxy, the port it is served on, its records.

A session whose spec allows hosts (``spec.egress.allow``) gets its own `EgressProxy`,
served through the session's transport (`DockerSession.serve_egress`: connections to
127.0.0.1:`EGRESS_PORT` inside the sandbox reach the proxy over the exec channel). No
other session's traffic ever reaches it, and the sandbox keeps no interface but
loopback. The container's environment names the proxy (`proxy_environment`), so pip,
npm, git and curl use it; a client that ignores the variables reaches nothing.

A policy naming credentials gives the session a `SessionBroker`: the environment holds
placeholders (`environment`), the secrets are read from the orchestrator's environment
when the session starts, and the session trusts its own CA through `CA_BUNDLE`, a file
the backend writes as root (`trust_bundle`) and the variables of `trust_environment`.

Each request's `EgressRecord` goes to the listeners `watch` registered; records that
come before any listener wait in a bounded buffer (`PENDING_RECORDS`; past it the
oldest go, and the next listener is told how many).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
from collections import deque
from collections.abc import Callable, Mapping

from sandbox.egress import EgressProxy, EgressRecord, Resolver, SessionBroker, run_on_proxy_loop
from sandbox.egress_socket import EgressSocket
from sandbox.egress_transport import EgressHandler
from sandbox.spec import EGRESS_PORT
from security.network_policy import NetworkPolicy

PENDING_RECORDS = 1024
CA_BUNDLE = "/tmp/airlock-egress/ca-bundle.pem"  # noqa: S108 (in the sandbox, root's)
"""Where a brokering session finds the CAs it trusts: its image's bundle plus the
session CA. Root's file in root's folder in the sticky /tmp: the session reads it and
can neither change nor replace it."""
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's, in the image
TRUST_VARIABLES = (
    "SSL_CERT_FILE",  # OpenSSL clients, Python's ssl: replaces the default bundle
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "NODE_EXTRA_CA_CERTS",  # added to node's own
)
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


def trust_environment(path: str = CA_BUNDLE) -> dict[str, str]:
    """The variables that make a session's clients trust the bundle at ``path``."""
    return dict.fromkeys(TRUST_VARIABLES, path)


class SessionEgress:
    """The proxy of one session and where its records go."""

    def __init__(
        self,
        policy: NetworkPolicy,
        environ: Mapping[str, str] | None = None,
        *,
        upstream_tls: ssl.SSLContext | None = None,
    ) -> None:
        """``environ`` (the orchestrator's, by default) holds the secrets the policy's
        credentials name (a `CredentialError` names those missing) and may map names
        for tests with ``AIRLOCK_EGRESS_RESOLVE`` (a malformed value raises
        `ResolveSpecError`). ``upstream_tls`` verifies the servers of brokered hosts
        (default: the orchestrator's trust store)."""
        environ = os.environ if environ is None else environ
        resolver = Resolver.from_environment(environ)
        self.broker = SessionBroker.for_policy(policy, environ, upstream_tls)
        self.proxy = EgressProxy(policy, resolver, audit=self._record, broker=self.broker)
        self.socket: EgressSocket | None = None  # the Unix socket transport's, if used
        self._home: tuple[asyncio.AbstractEventLoop, int] | None = None  # its loop, thread
        self._listeners: list[Listener] = []
        self._pending: deque[EgressRecord] = deque(maxlen=PENDING_RECORDS)
        self._dropped = 0

    def environment(self, port: int = EGRESS_PORT) -> dict[str, str]:
        """The session's variables: the proxy's, and with credentials the placeholders
        and the CA bundle's."""
        variables = proxy_environment(port)
        if self.broker is not None:
            variables |= self.broker.environment() | trust_environment()
        return variables

    def trust_bundle(self, system_bundle: bytes) -> bytes:
        """What `CA_BUNDLE` holds: the image's CAs (``system_bundle``), then the
        session CA; empty when nothing is brokered."""
        if self.broker is None:
            return b""
        system = (
            system_bundle
            if not system_bundle or system_bundle.endswith(b"\n")
            else (system_bundle + b"\n")
        )
        return system + self.broker.authority.pem

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
        if self._home is not None and threading.get_ident() != self._home[1]:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody listens
                self._home[0].call_soon_threadsafe(self._record_here, record)
            return
        self._record_here(record)

    def _record_here(self, record: EgressRecord) -> None:
        if not self._listeners:
            if len(self._pending) == self._pending.maxlen:
                self._dropped += 1
            self._pending.append(record)
            return
        for listener in self._listeners:
            listener(record)

    async def open_socket(self) -> EgressSocket:
        """Serve the proxy on a Unix socket of its own (the socket transport): on the
        proxy loop (`sandbox/egress/proxy_loop.py`), its records coming back to this
        loop, in order, to the listeners."""
        if self.socket is None:
            self._home = asyncio.get_running_loop(), threading.get_ident()
            self.socket = await EgressSocket.open(self.handler)
        return self.socket

    async def aclose(self) -> None:
        """Stop listening and end the connections still open (their records say so)."""
        if self.socket is None:
            await self.proxy.aclose()
            return
        await self.socket.aclose()
        await run_on_proxy_loop(self.proxy.aclose())
