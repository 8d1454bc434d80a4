"""The hook credential brokering will fill: a later step, not built yet.

A broker names the hosts it serves. Toward those alone the proxy lets it rewrite a
plain HTTP request's headers (a placeholder in, the real secret out) and hand a TLS
tunnel to it after the SNI check, to be terminated with a per-run CA. Every other
request is carried as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from sandbox.egress.tls_hello import ClientHello

StreamPair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class CredentialBroker(Protocol):
    """What the proxy asks of a credential broker."""

    def brokers(self, host: str, port: int) -> bool:
        """Whether requests to ``host:port`` (a normalised, allowed name) go through
        this broker."""
        ...

    def rewrite_headers(
        self, host: str, headers: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """A plain HTTP request's headers toward ``host``, as they should go upstream."""
        ...

    async def tunnel(
        self,
        host: str,
        port: int,
        hello: ClientHello,
        client: StreamPair,
        upstream: StreamPair,
        up: Callable[[int], None],
        down: Callable[[int], None],
    ) -> str | None:
        """Carry a checked tunnel to ``host`` (``hello`` already read, not yet sent);
        count bytes through ``up`` and ``down``; return what ended it badly, if anything."""
        ...
