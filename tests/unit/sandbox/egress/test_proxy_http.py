"""Plain HTTP through the egress proxy: real clients (urllib, curl, raw sockets) against a
loopback upstream. Allowed hosts are carried with their bodies, everything else is a
403 that says why, and each request is one audit record."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from ipaddress import ip_address

import pytest

from sandbox.egress import REASON_HEADER, Resolver, parse_resolve_spec
from security import NetworkPolicy
from tests.unit.sandbox.egress.loopback import (
    SPLICE_MODES,
    WAIT_S,
    ProxyThread,
    Upstream,
    connect_tunnel,
    exchange,
    parse_response,
)

pytestmark = pytest.mark.timeout(120)
Start = Callable[..., ProxyThread]


def opener(proxy: ProxyThread) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy.url, "https": proxy.url})
    )


def get(port: int, target: str, *headers: str) -> bytes:
    """A raw proxy request for ``target`` (absolute form), Host taken from it."""
    authority = target.split("/")[2]
    lines = [f"GET {target} HTTP/1.1", f"Host: {authority}", *headers, "", ""]
    return exchange(port, "\r\n".join(lines).encode())


@SPLICE_MODES
def test_urllib_reaches_an_allowed_host(
    start_proxy: Start, upstream: Upstream, splice_after: int | None
) -> None:
    proxy = start_proxy(splice_after=splice_after)
    with opener(proxy).open(f"http://pypi.test:{upstream.port}/hello", timeout=WAIT_S) as reply:
        assert reply.status == 200
        assert reply.read() == b"hello from upstream\n"
    (record,) = proxy.wait_records(1)
    assert (record.host, record.port, record.method) == ("pypi.test", upstream.port, "GET")
    assert record.decision == "allowed"
    assert record.reason == "allowed by policy (pypi.test)"
    assert record.status is None and record.error is None
    assert record.bytes_up > 0 and record.bytes_down > len(b"hello from upstream\n")


def test_the_upstream_sees_origin_form_without_proxy_headers(
    start_proxy: Start, upstream: Upstream
) -> None:
    proxy = start_proxy()
    raw = get(
        proxy.port,
        f"http://pypi.test:{upstream.port}/echo",
        "Proxy-Authorization: Basic c2VjcmV0",
        "Proxy-Connection: keep-alive",
        "Connection: keep-alive, X-Drop-Me",
        "X-Drop-Me: 1",
        "Keep-Alive: timeout=5",
        "X-Kept: yes",
    )
    response = parse_response(raw)
    assert response.status == 200
    seen = response.body.decode().lower()
    assert seen.startswith("get /echo http/1.1\r\n")
    assert "x-kept: yes" in seen
    assert "connection: close" in seen
    for dropped in ("proxy-authorization", "proxy-connection", "keep-alive", "x-drop-me"):
        assert dropped not in seen


def test_another_host_is_refused_with_the_reason(start_proxy: Start, upstream: Upstream) -> None:
    proxy = start_proxy()
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener(proxy).open(f"http://other.test:{upstream.port}/hello", timeout=WAIT_S)
    assert caught.value.code == 403
    reason = f"other.test:{upstream.port} is not in the allow list"
    assert caught.value.headers[REASON_HEADER] == reason
    (record,) = proxy.wait_records(1)
    assert (record.decision, record.status, record.bytes_up) == ("refused", 403, 0)
    assert proxy.connected == []  # refused before any connection


@pytest.mark.parametrize(
    "authority",
    ["127.0.0.1:{port}", "127.1:{port}", "2130706433:{port}", "0x7f.1:{port}", "0177.0.0.1:{port}",
     "[::1]:{port}", "[::ffff:127.0.0.1]:{port}", "127.0.0.1.:{port}"],
)  # fmt: skip
def test_ip_literals_are_refused(start_proxy: Start, upstream: Upstream, authority: str) -> None:
    proxy = start_proxy(NetworkPolicy(allow=["pypi.test"]))
    target = f"http://{authority.format(port=upstream.port)}/hello"
    response = parse_response(get(proxy.port, target))
    assert response.status == 403
    assert response.headers[REASON_HEADER.lower()] == "IP literal"
    assert b"IP literal" in response.body
    assert proxy.connected == []


def test_an_ip_literal_is_refused_through_urllib(start_proxy: Start, upstream: Upstream) -> None:
    proxy = start_proxy()
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener(proxy).open(f"http://127.0.0.1:{upstream.port}/hello", timeout=WAIT_S)
    assert caught.value.code == 403
    assert caught.value.headers[REASON_HEADER] == "IP literal"


def test_a_host_header_that_disagrees_is_refused(start_proxy: Start, upstream: Upstream) -> None:
    proxy = start_proxy(NetworkPolicy(allow=["pypi.test", "other.test"]))
    port = upstream.port
    for host in (f"other.test:{port}", "pypi.test", f"pypi.test:{port + 1}", "127.0.0.1"):
        data = f"GET http://pypi.test:{port}/ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        response = parse_response(exchange(proxy.port, data))
        assert response.status == 403, host
        assert response.headers["x-airlock-egress"] == "Host header differs from the request target"
    agreeing = f"GET http://pypi.test:{port}/ HTTP/1.1\r\nHost: PyPI.test.:{port}\r\n\r\n"
    assert parse_response(exchange(proxy.port, agreeing.encode())).status == 200
    assert proxy.connected == ["127.0.0.1"]


def test_wildcards_cover_subdomains_only_and_deny_wins(
    start_proxy: Start, upstream: Upstream
) -> None:
    proxy = start_proxy(NetworkPolicy(allow=["*.pypi.test"], deny=["bad.pypi.test"]))
    port = upstream.port
    assert parse_response(get(proxy.port, f"http://files.pypi.test:{port}/")).status == 200
    apex = parse_response(get(proxy.port, f"http://pypi.test:{port}/"))
    assert apex.status == 403
    assert apex.headers["x-airlock-egress"] == f"pypi.test:{port} is not in the allow list"
    denied = parse_response(get(proxy.port, f"http://bad.pypi.test:{port}/"))
    assert denied.status == 403
    assert denied.headers["x-airlock-egress"] == "denied by policy (bad.pypi.test)"
    decisions = [(r.host, r.decision) for r in proxy.wait_records(3)]
    assert sorted(decisions) == [
        ("bad.pypi.test", "refused"),
        ("files.pypi.test", "allowed"),
        ("pypi.test", "refused"),
    ]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("internal.test", "private"),
        ("metadata.test", "cloud metadata"),
        ("azure.test", "cloud metadata"),
        ("mixed.test", "private"),
        ("ula.test", "private"),
        ("v4mapped.test", "loopback"),
        ("cgnat.test", "shared (CGNAT)"),
        ("localhost.test", "loopback"),
    ],
)
def test_a_name_resolving_to_a_forbidden_address_is_refused(
    start_proxy: Start, name: str, kind: str
) -> None:
    proxy = start_proxy(NetworkPolicy(allow=[name]))
    response = parse_response(get(proxy.port, f"http://{name}:8080/"))
    assert response.status == 403
    assert response.headers["x-airlock-egress"] == f"{name} resolves to a {kind} address"
    assert proxy.connected == []


def test_the_real_resolver_refuses_localhost(start_proxy: Start) -> None:
    """``localhost`` resolves (from /etc/hosts, no packet) to loopback: refused."""
    proxy = start_proxy(NetworkPolicy(allow=["localhost"]), resolver=Resolver())
    response = parse_response(get(proxy.port, "http://localhost:9/"))
    assert response.status == 403
    assert response.headers["x-airlock-egress"] == "localhost resolves to a loopback address"


def test_a_name_that_does_not_resolve_is_a_502(start_proxy: Start) -> None:
    proxy = start_proxy(NetworkPolicy(allow=["nowhere.test"]))
    response = parse_response(get(proxy.port, "http://nowhere.test/"))
    assert response.status == 502
    assert response.headers["x-airlock-egress"] == "name does not resolve"


def test_the_proxy_connects_to_the_address_it_checked(start_proxy: Start) -> None:
    """DNS rebinding: the name is looked up once, and the connection goes to that
    address (here a public one, which the test guard refuses to dial: a 502)."""
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    asked: list[str] = []

    async def rebinding(name: str, port: int) -> list[str]:
        asked.append(name)
        return next(answers)

    proxy = start_proxy(NetworkPolicy(allow=["rebind.test"]), resolver=Resolver(lookup=rebinding))
    response = parse_response(get(proxy.port, "http://rebind.test:8080/"))
    assert response.status == 502
    assert response.headers["x-airlock-egress"].startswith("upstream unreachable")
    assert asked == ["rebind.test"]
    assert proxy.connected == ["93.184.215.14"]
    proxy.off_loopback.clear()  # the guard did its job
    (record,) = proxy.wait_records(1)
    assert (record.decision, record.status) == ("allowed", 502)
    assert record.error is not None and record.error.startswith("upstream unreachable")


def test_a_mapping_allows_only_the_names_it_maps(start_proxy: Start, upstream: Upstream) -> None:
    resolver = Resolver({"pypi.test": ip_address("127.0.0.1")}, lookup=_no_dns)
    proxy = start_proxy(NetworkPolicy(allow=["pypi.test", "other.test"]), resolver=resolver)
    assert parse_response(get(proxy.port, f"http://pypi.test:{upstream.port}/")).status == 200
    other = parse_response(get(proxy.port, f"http://other.test:{upstream.port}/"))
    assert other.status == 502  # not mapped, so looked up, and it does not resolve


def test_a_pinned_mapping_opens_its_port_alone(start_proxy: Start, upstream: Upstream) -> None:
    """``pypi.test:PORT=127.0.0.1`` with ``allow: [pypi.test]`` (any port): that port
    is reached, another loopback port through the same name is not (request or
    CONNECT)."""
    other = Upstream()
    try:
        resolver = Resolver(
            parse_resolve_spec(f"pypi.test:{upstream.port}=127.0.0.1"), lookup=_no_dns
        )
        proxy = start_proxy(NetworkPolicy(allow=["pypi.test"]), resolver=resolver)
        assert parse_response(get(proxy.port, f"http://pypi.test:{upstream.port}/")).status == 200
        refused = parse_response(get(proxy.port, f"http://pypi.test:{other.port}/"))
        assert refused.status == 502
        assert refused.headers["x-airlock-egress"] == "name does not resolve"
        tunnel, answer = connect_tunnel(proxy.port, f"pypi.test:{other.port}")
        tunnel.close()
        assert answer.status == 502
        tunnel, answer = connect_tunnel(proxy.port, f"pypi.test:{upstream.port}")
        tunnel.close()
        assert answer.status == 200
        assert proxy.connected == ["127.0.0.1", "127.0.0.1"]  # the pinned port's alone
    finally:
        other.stop()


async def _no_dns(name: str, port: int) -> list[str]:
    raise OSError("no DNS in tests")


@pytest.mark.parametrize(
    ("request_line", "status", "reason"),
    [
        ("GET /hello HTTP/1.1", 400, "not a proxy request"),
        ("GET https://pypi.test/ HTTP/1.1", 400, "https:// through a plain request"),
        ("GET ftp://pypi.test/ HTTP/1.1", 400, "ftp://"),
        ("GET http://user@pypi.test/ HTTP/1.1", 400, "user info"),
        ("GET http://pyp%69.test/ HTTP/1.1", 403, "invalid host name"),
        ("GET http://pypi.test:99999/ HTTP/1.1", 400, "invalid port"),
        ("GET http://pypi.test:0/ HTTP/1.1", 400, "invalid port"),
        ("GET http://pypi.test:x/ HTTP/1.1", 400, "malformed port"),
        ("GET http://pypi.test/ HTTP/2.0", 505, "unsupported HTTP version"),
        ("GET  http://pypi.test/ HTTP/1.1", 400, "malformed request line"),
    ],
)
def test_malformed_requests_are_refused(
    start_proxy: Start, request_line: str, status: int, reason: str
) -> None:
    proxy = start_proxy()
    response = parse_response(exchange(proxy.port, f"{request_line}\r\n\r\n".encode()))
    assert response.status == status
    assert reason in response.headers["x-airlock-egress"]
    (record,) = proxy.wait_records(1)
    assert record.decision == "refused"
    assert reason in record.reason


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Content-Length: 3\r\nTransfer-Encoding: chunked", "both Content-Length"),
        ("Content-Length: 3\r\nContent-Length: 3", "Content-Length given twice"),
        ("Content-Length: +3", "malformed Content-Length"),
        ("Transfer-Encoding: gzip, chunked", "unsupported Transfer-Encoding"),
        ("Host: a\r\nHost: b", "Host header given twice"),
        ("X-Folded: a\r\n  b", "malformed header line"),
        ("X-Nul: a\x00b", "control character"),
    ],
)
def test_ambiguous_framing_is_refused_before_anything_goes_upstream(
    start_proxy: Start, upstream: Upstream, headers: str, reason: str
) -> None:
    proxy = start_proxy()
    data = f"POST http://pypi.test:{upstream.port}/upload HTTP/1.1\r\n{headers}\r\n\r\nabc"
    response = parse_response(exchange(proxy.port, data.encode("latin-1")))
    assert response.status in (400, 501)
    assert reason in response.headers["x-airlock-egress"]
    assert proxy.connected == []


def test_a_bare_lf_head_is_refused(start_proxy: Start, upstream: Upstream) -> None:
    proxy = start_proxy()
    data = f"GET http://pypi.test:{upstream.port}/ HTTP/1.1\nHost: pypi.test\n\n".encode()
    response = parse_response(exchange(proxy.port, data))
    assert response.status == 400
    assert response.headers["x-airlock-egress"] == "bare LF in request head"


def test_a_pipelined_second_request_never_reaches_the_upstream(
    start_proxy: Start, upstream: Upstream
) -> None:
    """One request per connection: what follows the first request's body is not sent
    anywhere (it could name another host)."""
    proxy = start_proxy()
    port = upstream.port
    first = f"POST http://pypi.test:{port}/upload HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    second = f"GET http://pypi.test:{port}/echo HTTP/1.1\r\n\r\n"
    response = parse_response(exchange(proxy.port, (first + second).encode()))
    assert response.status == 200
    assert response.body.startswith(f"5 {hashlib.sha256(b'hello').hexdigest()}\n".encode())
    assert b"GET /echo" not in response.body
    (record,) = proxy.wait_records(1)
    assert record.method == "POST"


def test_chunked_bodies_are_reframed(start_proxy: Start, upstream: Upstream) -> None:
    proxy = start_proxy()
    body = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    data = (
        f"POST http://pypi.test:{upstream.port}/upload HTTP/1.1\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n{body}"
    )
    response = parse_response(exchange(proxy.port, data.encode()))
    assert response.status == 200
    digest = hashlib.sha256(b"hello world").hexdigest()
    assert response.body.startswith(f"11 {digest}\n".encode())
    (record,) = proxy.wait_records(1)
    reframed = len(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")  # no extension, no trailer
    head = len("POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n")
    assert head + reframed < record.bytes_up < head + reframed + 64  # + the added Host line
    assert record.bytes_down > len(response.body)


def test_a_malformed_chunk_ends_the_exchange(start_proxy: Start, upstream: Upstream) -> None:
    proxy = start_proxy()
    data = (
        f"POST http://pypi.test:{upstream.port}/upload HTTP/1.1\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"
    )
    exchange(proxy.port, data.encode())
    (record,) = proxy.wait_records(1)
    assert record.decision == "allowed"
    assert record.error == "malformed chunk size"


@SPLICE_MODES
def test_a_large_body_streams_both_ways_and_is_counted(
    start_proxy: Start, upstream: Upstream, splice_after: int | None
) -> None:
    proxy = start_proxy(splice_after=splice_after)
    body = os.urandom(20 * 1024 * 1024)
    request = urllib.request.Request(
        f"http://pypi.test:{upstream.port}/upload", data=body, method="POST"
    )
    with opener(proxy).open(request, timeout=WAIT_S * 3) as reply:
        answer = reply.read()
    assert answer.startswith(f"{len(body)} {hashlib.sha256(body).hexdigest()}\n".encode())
    size = 20 * 1024 * 1024
    with opener(proxy).open(f"http://pypi.test:{upstream.port}/bytes/{size}") as reply:
        downloaded = reply.read()
    assert len(downloaded) == size
    upload, download = proxy.wait_records(2)
    assert len(body) < upload.bytes_up < len(body) + 1024
    assert upload.bytes_down > len(answer)
    assert size < download.bytes_down < size + 1024
    assert download.bytes_up < 1024


@pytest.fixture
def curl_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed on this host")
    home = tmp_path_factory.mktemp("curl-home")
    yield {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}


def curl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "20", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_curl_through_the_proxy(
    start_proxy: Start, upstream: Upstream, curl_env: dict[str, str]
) -> None:
    proxy = start_proxy()
    ok = curl(curl_env, "-x", proxy.url, f"http://pypi.test:{upstream.port}/hello")
    assert (ok.returncode, ok.stdout) == (0, "hello from upstream\n")
    refused = curl(curl_env, "-i", "-x", proxy.url, f"http://other.test:{upstream.port}/")
    assert refused.stdout.startswith("HTTP/1.1 403 Forbidden")
    assert f"X-Airlock-Egress: other.test:{upstream.port} is not in the allow list" in (
        refused.stdout
    )
    literal = curl(curl_env, "-i", "-x", proxy.url, f"http://127.0.0.1:{upstream.port}/")
    assert "X-Airlock-Egress: IP literal" in literal.stdout
