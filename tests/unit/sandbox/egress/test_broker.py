"""Credential brokering through the proxy, with real TLS on loopback: the secret goes to
its hosts alone (HTTPS terminated with the session CA, plain HTTP rewritten), every
other tunnel is spliced untouched, the SNI check holds on terminated tunnels, the real
server is verified, and no record holds the secret."""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator

import pytest

from sandbox.egress import EgressRecord
from sandbox.egress.broker import SessionBroker
from sandbox.egress.credentials import PLACEHOLDER_PREFIX
from security import Credential, NetworkPolicy
from tests.unit.sandbox.egress.loopback import (
    Certificates,
    ProxyThread,
    Response,
    Upstream,
    client_hello,
    client_tls,
    connect_tunnel,
    exchange,
    parse_response,
    read_all,
)

SECRET = "ghp_the-real-token-0123456789"  # noqa: S105 (a test value)
POLICY = NetworkPolicy(
    allow=["pypi.test", "other.test"],
    credentials=[Credential(env="TOKEN", hosts=["pypi.test"])],
)


def make_broker(certs: Certificates, upstream_trusts_test_ca: bool = True) -> SessionBroker:
    upstream = client_tls(certs) if upstream_trusts_test_ca else ssl.create_default_context()
    broker = SessionBroker.for_policy(POLICY, {"TOKEN": SECRET}, upstream=upstream)
    assert broker is not None
    return broker


@pytest.fixture
def brokered(certs: Certificates) -> Iterator[tuple[ProxyThread, SessionBroker]]:
    broker = make_broker(certs)
    proxy = ProxyThread(POLICY)
    proxy.proxy.broker = broker
    yield proxy, broker
    proxy.close()


def session_trust(broker: SessionBroker) -> ssl.SSLContext:
    """What a client in the session trusts: the session CA (the test CA is not in it)."""
    return ssl.create_default_context(cadata=broker.authority.pem.decode())


def https_request(
    proxy: ProxyThread,
    host: str,
    port: int,
    request: str,
    trust: ssl.SSLContext,
    server_name: str | None = None,
) -> Response:
    sock, answer = connect_tunnel(proxy.port, f"{host}:{port}")
    assert answer.status == 200
    with trust.wrap_socket(sock, server_hostname=server_name or host) as tls:
        tls.sendall(request.encode())
        return parse_response(read_all(tls))


def get(path: str, host: str, port: int, *headers: str) -> str:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    return "\r\n".join(lines)


def assert_no_secret(records: list[EgressRecord]) -> None:
    for record in records:
        assert SECRET not in record.model_dump_json()


def test_https_to_the_brokered_host_carries_the_secret(
    brokered: tuple[ProxyThread, SessionBroker], tls_upstream: Upstream
) -> None:
    proxy, broker = brokered
    placeholder = broker.environment()["TOKEN"]
    port = tls_upstream.port
    request = get("/echo", "pypi.test", port, f"Authorization: Bearer {placeholder}")
    response = https_request(proxy, "pypi.test", port, request, session_trust(broker))
    assert response.status == 200
    received = response.body.decode()  # /echo: the head the upstream received
    assert f"Authorization: Bearer {SECRET}" in received
    assert placeholder not in received
    (record,) = proxy.wait_records(1)
    assert record.decision == "allowed" and record.terminated
    assert record.brokered == ["TOKEN"] and record.withheld == []
    assert record.bytes_up > 0 and record.bytes_down > 0
    assert_no_secret(proxy.records)


def test_a_basic_authorization_carries_the_secret_too(
    brokered: tuple[ProxyThread, SessionBroker], tls_upstream: Upstream
) -> None:
    proxy, broker = brokered
    placeholder = broker.environment()["TOKEN"]
    given = base64.b64encode(f"x-access-token:{placeholder}".encode()).decode()
    port = tls_upstream.port
    request = get("/echo", "pypi.test", port, f"Authorization: Basic {given}")
    received = https_request(proxy, "pypi.test", port, request, session_trust(broker)).body
    sent = base64.b64encode(f"x-access-token:{SECRET}".encode()).decode()
    assert f"Authorization: Basic {sent}" in received.decode()


def test_another_allowed_host_is_spliced_untouched(
    brokered: tuple[ProxyThread, SessionBroker], tls_upstream: Upstream, certs: Certificates
) -> None:
    proxy, broker = brokered
    placeholder = broker.environment()["TOKEN"]
    port = tls_upstream.port
    request = get("/echo", "other.test", port, f"Authorization: Bearer {placeholder}")
    with pytest.raises(ssl.SSLCertVerificationError):  # not the session CA's certificate
        https_request(proxy, "other.test", port, request, session_trust(broker))
    # the real server's certificate: the tunnel was spliced, the placeholder went as it was
    response = https_request(proxy, "other.test", port, request, client_tls(certs))
    assert f"Authorization: Bearer {placeholder}" in response.body.decode()
    assert SECRET not in response.body.decode()
    records = proxy.wait_records(2)
    assert not any(record.terminated or record.brokered for record in records)
    assert_no_secret(records)


def test_plain_http_is_rewritten_toward_the_brokered_host_alone(
    brokered: tuple[ProxyThread, SessionBroker], upstream: Upstream
) -> None:
    proxy, broker = brokered
    placeholder = broker.environment()["TOKEN"]
    seen = {}
    for host in ("pypi.test", "other.test"):
        data = (
            f"GET http://{host}:{upstream.port}/echo HTTP/1.1\r\n"
            f"X-Token: token {placeholder}\r\n\r\n"
        )
        seen[host] = parse_response(exchange(proxy.port, data.encode())).body.decode()
    assert f"X-Token: token {SECRET}" in seen["pypi.test"]
    assert f"X-Token: token {placeholder}" in seen["other.test"]
    assert SECRET not in seen["other.test"]
    to_pypi, to_other = sorted(proxy.wait_records(2), key=lambda r: r.host)[::-1]
    assert to_pypi.host == "pypi.test" and to_pypi.brokered == ["TOKEN"]
    assert to_other.brokered == [] and to_other.withheld == ["TOKEN"]
    assert_no_secret(proxy.records)


@pytest.mark.parametrize("server_name", ["other.test", None])
def test_a_terminated_tunnel_still_checks_the_sni(
    brokered: tuple[ProxyThread, SessionBroker],
    tls_upstream: Upstream,
    server_name: str | None,
) -> None:
    proxy, broker = brokered
    trust = session_trust(broker)
    trust.check_hostname = False  # the client would refuse the name itself otherwise
    sock, answer = connect_tunnel(proxy.port, f"pypi.test:{tls_upstream.port}")
    assert answer.status == 200
    with pytest.raises((ssl.SSLError, ConnectionError)), sock:
        tls = trust.wrap_socket(sock, server_hostname=server_name)
        tls.sendall(b"GET /echo HTTP/1.1\r\nHost: pypi.test\r\n\r\n")
        tls.recv(1)
    (record,) = proxy.wait_records(1)
    assert record.decision == "refused"
    assert record.reason == "SNI missing or differs from the CONNECT host"
    assert record.bytes_up == 0


@pytest.mark.parametrize("ending", ["alert", "hang-up"])
def test_a_client_that_rejects_the_session_ca_is_a_failed_handshake(
    brokered: tuple[ProxyThread, SessionBroker], tls_upstream: Upstream, ending: str
) -> None:
    """A client that does not trust the session CA ends the handshake with an alert
    (Python's ssl: unknown_ca) or by closing its socket with none (node, npm): the
    same record either way."""
    proxy, _ = brokered
    sock, answer = connect_tunnel(proxy.port, f"pypi.test:{tls_upstream.port}")
    assert answer.status == 200
    with sock:
        if ending == "alert":
            with pytest.raises(ssl.SSLCertVerificationError):
                ssl.create_default_context().wrap_socket(sock, server_hostname="pypi.test")
        else:
            sock.sendall(client_hello("pypi.test"))
            assert sock.recv(1 << 16)  # the server's flight, its certificate unread
            sock.shutdown(socket.SHUT_WR)
            read_all(sock)
    (record,) = proxy.wait_records(1)
    assert (record.decision, record.status, record.error) == ("refused", 403, None), record
    assert record.reason.startswith("TLS handshake with the client failed (")
    assert record.terminated and record.bytes_up == 0 and record.brokered == []


def test_the_real_server_is_verified(certs: Certificates, tls_upstream: Upstream) -> None:
    broker = make_broker(certs, upstream_trusts_test_ca=False)
    proxy = ProxyThread(POLICY)
    proxy.proxy.broker = broker
    try:
        port = tls_upstream.port
        request = get("/echo", "pypi.test", port, "Authorization: Bearer x")
        response = https_request(proxy, "pypi.test", port, request, session_trust(broker))
    finally:
        proxy.close()
    assert response.status == 502
    assert "upstream TLS failed" in response.headers["x-airlock-egress"]
    assert "certificate" in response.headers["x-airlock-egress"]


def test_a_request_inside_must_name_the_connect_host(
    brokered: tuple[ProxyThread, SessionBroker], tls_upstream: Upstream
) -> None:
    proxy, broker = brokered
    port = tls_upstream.port
    request = get("/echo", "other.test", port, f"Authorization: Bearer {SECRET}")
    response = https_request(proxy, "pypi.test", port, request, session_trust(broker))
    assert response.status == 403
    assert "Host header differs" in response.headers["x-airlock-egress"]


def test_the_session_sees_placeholders_only(certs: Certificates) -> None:
    first, second = make_broker(certs), make_broker(certs)
    (name, placeholder), *_ = first.environment().items()
    assert name == "TOKEN" and placeholder.startswith(f"{PLACEHOLDER_PREFIX}TOKEN-")
    assert SECRET not in placeholder
    assert placeholder != second.environment()["TOKEN"]  # new for every session
