"""Credential brokering: what the proxy asks of a broker, and the session's broker.

A broker names the hosts it serves (`CredentialBroker.brokers`). Toward those alone the
proxy has it rewrite a request's headers (a placeholder in, the real secret out), and
terminates their TLS tunnels with a certificate from the session's own CA, so that it
can rewrite the requests inside; it then connects to the real server over TLS verified
against the orchestrator's trust store. Every other request is carried as it is, every
other tunnel spliced untouched. A plain HTTP request to a brokered host is rewritten
too: its secret then crosses the network in plain text.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping, Sequence
from typing import Protocol

from sandbox.egress.authority import SessionAuthority
from sandbox.egress.credentials import Credentials, HeaderRewrite
from security.network_policy import NetworkPolicy

StreamPair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class CredentialBroker(Protocol):
    """What the proxy asks of a credential broker."""

    def brokers(self, host: str, port: int) -> bool:
        """Whether TLS tunnels to ``host:port`` (a normalised, allowed name) are
        terminated, for this broker to see their requests."""
        ...

    def rewrite(self, host: str, port: int, headers: Sequence[tuple[str, str]]) -> HeaderRewrite:
        """A request's headers toward ``host:port`` as they should go upstream."""
        ...

    def client_context(self, host: str) -> ssl.SSLContext:
        """The server-side context that terminates the session's TLS toward ``host``;
        its handshake fails unless the client's SNI is ``host``."""
        ...

    def upstream_context(self) -> ssl.SSLContext:
        """The client-side context for the real server (verified, hostname checked)."""
        ...


class SessionBroker:
    """The broker of one session: its credentials and its CA."""

    def __init__(
        self,
        credentials: Credentials,
        authority: SessionAuthority,
        upstream: ssl.SSLContext | None = None,
    ) -> None:
        """``upstream`` verifies real servers (default: `ssl.create_default_context`,
        the orchestrator's trust store; tests give one trusting their CA)."""
        self.credentials = credentials
        self.authority = authority
        self._upstream = upstream

    @classmethod
    def for_policy(
        cls,
        policy: NetworkPolicy,
        environ: Mapping[str, str],
        upstream: ssl.SSLContext | None = None,
    ) -> SessionBroker | None:
        """The broker of ``policy``'s credentials (None when it names none); a
        `CredentialError` when a secret is missing from ``environ``."""
        if not policy.credentials:
            return None
        credentials = Credentials.from_policy(policy, environ)
        patterns = [pattern for c in policy.credentials for pattern in c.patterns()]
        return cls(credentials, SessionAuthority(patterns), upstream)

    def environment(self) -> dict[str, str]:
        """The placeholders, by variable: what the session holds instead of secrets."""
        return self.credentials.environment()

    def brokers(self, host: str, port: int) -> bool:
        return self.credentials.brokers(host, port)

    def rewrite(self, host: str, port: int, headers: Sequence[tuple[str, str]]) -> HeaderRewrite:
        return self.credentials.rewrite(host, port, headers)

    def client_context(self, host: str) -> ssl.SSLContext:
        return self.authority.server_context(host)

    def upstream_context(self) -> ssl.SSLContext:
        if self._upstream is None:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._upstream = context
        return self._upstream
