"""HTTPS through the egress proxy: CONNECT is judged by host and port, and the tunnel
opens only for a ClientHello whose SNI is the CONNECT host (no domain fronting).
Real TLS against a loopback HTTPS upstream with a CA made for the test."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from sandbox.egress import EgressLimits
from security import NetworkPolicy
from tests.unit.sandbox.egress.loopback import (
    SPLICE_MODES,
    WAIT_S,
    Certificates,
    ProxyThread,
    TLSClient,
    Upstream,
    client_hello,
    client_tls,
    connect_tunnel,
    read_all,
    reframed,
    sni_extension,
    synthetic_hello,
)

pytestmark = pytest.mark.timeout(120)
Start = Callable[..., ProxyThread]
ACCESS_DENIED = bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31])


def https_opener(proxy: ProxyThread, certs: Certificates) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": proxy.url}),
        urllib.request.HTTPSHandler(context=client_tls(certs)),
    )


@SPLICE_MODES
def test_urllib_reaches_an_allowed_host_over_https(
    start_proxy: Start, tls_upstream: Upstream, certs: Certificates, splice_after: int | None
) -> None:
    proxy = start_proxy(splice_after=splice_after)
    url = f"https://pypi.test:{tls_upstream.port}/hello"
    with https_opener(proxy, certs).open(url, timeout=WAIT_S) as reply:
        assert reply.read() == b"hello from upstream\n"
    (record,) = proxy.wait_records(1)
    assert (record.host, record.port, record.method) == ("pypi.test", tls_upstream.port, "CONNECT")
    assert (record.decision, record.status, record.error) == ("allowed", 200, None)
    assert record.bytes_up > 200  # the ClientHello at least
    assert record.bytes_down > 500  # the certificate at least


def test_curl_reaches_an_allowed_host_over_https(
    start_proxy: Start, tls_upstream: Upstream, certs: Certificates
) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed on this host")
    proxy = start_proxy()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(certs.ca.parent)}
    argv = ["curl", "-sS", "--max-time", "20", "--cacert", str(certs.ca), "-x", proxy.url]
    ok = subprocess.run(
        [*argv, f"https://pypi.test:{tls_upstream.port}/hello"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (ok.returncode, ok.stdout) == (0, "hello from upstream\n")
    refused = subprocess.run(
        [*argv, "-w", "%{http_connect}", f"https://other.test:{tls_upstream.port}/hello"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0
    assert refused.stdout == "403"


def test_connect_to_another_host_is_refused(
    start_proxy: Start, tls_upstream: Upstream, certs: Certificates
) -> None:
    proxy = start_proxy()
    with pytest.raises(urllib.error.URLError) as caught:
        https_opener(proxy, certs).open(f"https://other.test:{tls_upstream.port}/", timeout=WAIT_S)
    assert "403" in str(caught.value.reason)
    sock, response = connect_tunnel(proxy.port, f"other.test:{tls_upstream.port}")
    sock.close()
    assert response.status == 403
    assert response.headers["x-airlock-egress"] == (
        f"other.test:{tls_upstream.port} is not in the allow list"
    )
    assert proxy.connected == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::1]", "2130706433", "0x7f.1", "127.1", "[::ffff:7f00:1]"]
)
def test_connect_to_an_ip_literal_is_refused(
    start_proxy: Start, tls_upstream: Upstream, host: str
) -> None:
    proxy = start_proxy()
    sock, response = connect_tunnel(proxy.port, f"{host}:{tls_upstream.port}")
    sock.close()
    assert response.status == 403
    assert response.headers["x-airlock-egress"] == "IP literal"
    assert proxy.connected == []


def test_a_port_entry_in_deny_wins(start_proxy: Start, tls_upstream: Upstream) -> None:
    port = tls_upstream.port
    proxy = start_proxy(NetworkPolicy(allow=["pypi.test"], deny=[f"pypi.test:{port}"]))
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{port}")
    sock.close()
    assert response.status == 403
    assert response.headers["x-airlock-egress"] == f"denied by policy (pypi.test:{port})"


@pytest.mark.parametrize(
    ("target", "headers", "status", "reason"),
    [
        ("pypi.test", (), 400, "CONNECT needs host:port"),
        ("pypi.test:{port}", ("Host: other.test:{port}",), 403, "Host header differs"),
        ("pypi.test:{port}", ("Host: pypi.test:1",), 403, "Host header differs"),
    ],
)
def test_malformed_connects_are_refused(
    start_proxy: Start,
    tls_upstream: Upstream,
    target: str,
    headers: tuple[str, ...],
    status: int,
    reason: str,
) -> None:
    proxy = start_proxy()
    port = tls_upstream.port
    sock, response = connect_tunnel(
        proxy.port, target.format(port=port), *(h.format(port=port) for h in headers)
    )
    sock.close()
    assert response.status == status
    assert reason in response.headers["x-airlock-egress"]


def test_a_host_header_naming_the_same_host_is_fine(
    start_proxy: Start, tls_upstream: Upstream, certs: Certificates
) -> None:
    proxy = start_proxy()
    port = tls_upstream.port
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{port}", "Host: PYPI.test")
    with sock:
        assert response.status == 200
        client = TLSClient(sock, client_tls(certs), "pypi.test")
        sock.sendall(client.hello)
        client.finish_handshake()
        answer = client.request(b"GET /hello HTTP/1.1\r\nHost: pypi.test\r\n\r\n")
    assert answer.endswith(b"hello from upstream\n")


def sni_refused(proxy: ProxyThread, port: int, hello: bytes) -> bytes:
    """What the client gets back after sending ``hello`` into a tunnel to pypi.test."""
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{port}")
    with sock:
        assert response.status == 200
        sock.sendall(hello)
        return read_all(sock)


def test_a_different_sni_is_refused_with_a_tls_alert(
    start_proxy: Start, tls_upstream: Upstream
) -> None:
    proxy = start_proxy(NetworkPolicy(allow=["pypi.test", "other.test"]))
    assert sni_refused(proxy, tls_upstream.port, client_hello("other.test")) == ACCESS_DENIED
    (record,) = proxy.wait_records(1)
    assert record.decision == "refused"
    assert record.reason == "SNI 'other.test' differs from the CONNECT host"
    assert (record.status, record.bytes_up, record.bytes_down) == (403, 0, 0)


def test_a_real_client_fronting_another_name_fails_its_handshake(
    start_proxy: Start, tls_upstream: Upstream, certs: Certificates
) -> None:
    proxy = start_proxy()
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{tls_upstream.port}")
    assert response.status == 200
    with (
        pytest.raises(ssl.SSLError) as caught,
        client_tls(certs).wrap_socket(sock, server_hostname="other.test"),
    ):
        pass
    assert "ACCESS_DENIED" in str(caught.value).upper()


@pytest.mark.parametrize(
    ("hello", "reason"),
    [
        (client_hello(None), "no SNI in the ClientHello"),
        (synthetic_hello([]), "no SNI in the ClientHello"),
        (
            synthetic_hello([sni_extension(b"pypi.test"), (0xFE0D, b"\x00" * 8)]),
            "encrypted ClientHello (ECH) hides the server name",
        ),
        (synthetic_hello([sni_extension(b"pypi.test", b"other.test")]), "not exactly one"),
        (
            synthetic_hello([sni_extension(b"pypi.test"), sni_extension(b"other.test")]),
            "an extension repeated",
        ),
        (synthetic_hello([sni_extension(b"pypi.test")])[:-3], "closed before its ClientHello"),
        (b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", "not a ClientHello"),
    ],
)
def test_hellos_without_one_matching_name_are_refused(
    start_proxy: Start, tls_upstream: Upstream, hello: bytes, reason: str
) -> None:
    proxy = start_proxy()
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{tls_upstream.port}")
    with sock:
        assert response.status == 200
        sock.sendall(hello)
        if reason.startswith("closed"):
            sock.shutdown(socket.SHUT_WR)
        answer = read_all(sock)
    assert answer in (ACCESS_DENIED, b"")
    (record,) = proxy.wait_records(1)
    assert record.decision == "refused"
    assert reason in record.reason
    assert record.bytes_up == 0


def test_a_matching_synthetic_sni_passes_the_check(
    start_proxy: Start, tls_upstream: Upstream
) -> None:
    """The check reads the name the hello carries; a hello naming pypi.test goes upstream
    (where the real server rejects this fake one, which is not the proxy's business)."""
    proxy = start_proxy()
    hello = synthetic_hello([sni_extension(b"PyPI.test.")])
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{tls_upstream.port}")
    with sock:
        assert response.status == 200
        sock.sendall(hello)
        answer = read_all(sock)
    assert answer != ACCESS_DENIED
    (record,) = proxy.wait_records(1)
    assert record.decision == "allowed"
    assert record.bytes_up == len(hello)


def test_plain_text_after_connect_gets_a_403(start_proxy: Start, tls_upstream: Upstream) -> None:
    proxy = start_proxy()
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{tls_upstream.port}")
    with sock:
        assert response.status == 200
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: pypi.test\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"X-Airlock-Egress: not TLS after CONNECT\r\n" in answer
    (record,) = proxy.wait_records(1)
    assert (record.decision, record.reason, record.bytes_up) == (
        "refused",
        "not TLS after CONNECT",
        0,
    )


def test_a_hello_split_across_records_and_reads_still_connects(
    start_proxy: Start, tls_upstream: Upstream, certs: Certificates
) -> None:
    proxy = start_proxy()
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{tls_upstream.port}")
    with sock:
        assert response.status == 200
        client = TLSClient(sock, client_tls(certs), "pypi.test")
        split = reframed(client.hello, [1, 3, 40, 7])
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for at in range(0, len(split), 97):
            sock.sendall(split[at : at + 97])
            time.sleep(0.002)
        client.finish_handshake()
        answer = client.request(b"GET /hello HTTP/1.1\r\nHost: pypi.test\r\n\r\n")
    assert answer.endswith(b"hello from upstream\n")
    (record,) = proxy.wait_records(1)
    assert record.decision == "allowed"
    assert record.bytes_up >= len(split)


def test_a_silent_tunnel_is_closed_after_the_hello_timeout(
    start_proxy: Start, tls_upstream: Upstream
) -> None:
    proxy = start_proxy(limits=EgressLimits(hello_timeout_s=0.3))
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{tls_upstream.port}")
    started = time.monotonic()
    with sock:
        assert response.status == 200
        sock.sendall(b"\x16\x03")  # a start, then nothing
        assert read_all(sock) == b""
    assert time.monotonic() - started < 5
    (record,) = proxy.wait_records(1)
    assert (record.decision, record.reason) == ("refused", "no ClientHello in time")


def test_a_hello_beyond_the_bound_is_refused(start_proxy: Start, tls_upstream: Upstream) -> None:
    proxy = start_proxy(limits=EgressLimits(max_hello_bytes=1024))
    big = synthetic_hello([sni_extension(b"pypi.test"), (21, bytes(2000))])  # padding
    assert sni_refused(proxy, tls_upstream.port, big) == ACCESS_DENIED
    (record,) = proxy.wait_records(1)
    assert record.reason == "ClientHello too large"


def test_the_upstream_is_unreachable_is_a_502(start_proxy: Start) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    proxy = start_proxy()
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{port}")
    sock.close()
    assert response.status == 502
    assert response.headers["x-airlock-egress"].startswith("upstream unreachable")
    (record,) = proxy.wait_records(1)
    assert (record.decision, record.status) == ("allowed", 502)
