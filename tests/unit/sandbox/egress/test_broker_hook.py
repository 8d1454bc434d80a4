"""The credential brokering hook (brokering itself is a later step): a broker sees only
the hosts it names, rewrites plain HTTP headers toward those alone, and takes over
their checked tunnels; every other request is carried untouched."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence

from sandbox.egress import ClientHello, EgressProxy
from sandbox.egress.broker import StreamPair
from sandbox.egress.splice import splice
from security import NetworkPolicy
from tests.unit.sandbox.egress.loopback import (
    ProxyThread,
    Upstream,
    connect_tunnel,
    exchange,
    mapped_resolver,
    parse_response,
    read_all,
    sni_extension,
    synthetic_hello,
)

PLACEHOLDER = "airlock-placeholder-1"
SECRET = "the-real-token"  # noqa: S105 (a test value)


class SubstitutingBroker:
    """Puts ``SECRET`` where ``PLACEHOLDER`` is, toward pypi.test only."""

    def __init__(self) -> None:
        self.tunnels: list[tuple[str, int, str | None]] = []

    def brokers(self, host: str, port: int) -> bool:
        return host == "pypi.test"

    def rewrite_headers(
        self, host: str, headers: Sequence[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        return [(k, v.replace(PLACEHOLDER, SECRET)) for k, v in headers]

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
        self.tunnels.append((host, port, hello.server_name))
        return await splice(client, upstream, piece=1 << 16, idle=10, up=up, down=down)


def brokered_proxy(broker: SubstitutingBroker) -> ProxyThread:
    proxy = ProxyThread(NetworkPolicy(allow=["pypi.test", "other.test"]))
    proxy.proxy.broker = broker
    return proxy


def test_headers_are_rewritten_toward_the_brokered_host_only(upstream: Upstream) -> None:
    proxy = brokered_proxy(SubstitutingBroker())
    try:
        seen = {}
        for host in ("pypi.test", "other.test"):
            data = (
                f"GET http://{host}:{upstream.port}/echo HTTP/1.1\r\n"
                f"Authorization: Bearer {PLACEHOLDER}\r\n\r\n"
            )
            seen[host] = parse_response(exchange(proxy.port, data.encode())).body.decode()
    finally:
        proxy.close()
    assert f"Authorization: Bearer {SECRET}" in seen["pypi.test"]
    assert PLACEHOLDER not in seen["pypi.test"]
    assert f"Authorization: Bearer {PLACEHOLDER}" in seen["other.test"]
    assert SECRET not in seen["other.test"]


def test_a_brokered_host_s_checked_tunnel_goes_to_the_broker(upstream: Upstream) -> None:
    broker = SubstitutingBroker()
    proxy = brokered_proxy(broker)
    try:
        for host in ("pypi.test", "other.test"):
            sock, response = connect_tunnel(proxy.port, f"{host}:{upstream.port}")
            with sock:
                assert response.status == 200
                sock.sendall(synthetic_hello([sni_extension(host.encode())]))
                sock.shutdown(socket.SHUT_WR)  # the upstream (not TLS) answers at EOF
                read_all(sock)
        wrong_sni, _ = connect_tunnel(proxy.port, f"pypi.test:{upstream.port}")
        with wrong_sni:
            wrong_sni.sendall(synthetic_hello([sni_extension(b"other.test")]))
            read_all(wrong_sni)
    finally:
        proxy.close()
    assert broker.tunnels == [("pypi.test", upstream.port, "pypi.test")]


def test_the_proxy_takes_a_broker_in_its_constructor() -> None:
    async def build() -> EgressProxy:
        return EgressProxy(NetworkPolicy(), mapped_resolver(), print, broker=SubstitutingBroker())

    assert isinstance(asyncio.run(build()).broker, SubstitutingBroker)
