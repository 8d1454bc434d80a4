"""The exec agent confining a command of a session with egress, on this machine's
kernel: TCP connect reaches the granted port (the proxy's, in a session) and no other;
no bind, no listen, no UDP, no SCTP, no fast-open send. Real listeners on 127.0.0.1.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import confine_exec, landlock
from tests.unit.sandbox.test_confined_agent import agent  # noqa: F401 (a fixture)
from tests.unit.sandbox.test_exec_agent import Client

pytestmark = pytest.mark.timeout(30)

PROBE = r"""
import socket, sys
allowed, other = int(sys.argv[1]), int(sys.argv[2])
def attempt(name, act):
    try:
        print(name, act())
    except OSError as exc:
        print(name, exc.errno)
def fetch(host, port, family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))
        return s.recv(16).decode() or "empty"
def bound():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "ok"
def listening():
    with socket.socket() as s:
        s.listen()
        return "ok"
def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"q", ("127.0.0.1", 53))
        return "ok"
def sctp():
    socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132).close()
    return "ok"
def fast_open():
    with socket.socket() as s:
        s.sendto(b"x", socket.MSG_FASTOPEN, ("127.0.0.1", other))
        return "ok"
attempt("allowed", lambda: fetch("127.0.0.1", allowed))
attempt("other", lambda: fetch("127.0.0.1", other))
attempt("bind", bound)
attempt("listen", listening)
attempt("udp", udp)
attempt("sctp", sctp)
attempt("fastopen", fast_open)
"""


class Listener:
    """A TCP server on 127.0.0.1 that greets every connection, and counts them."""

    def __init__(self, greeting: bytes) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.sendall(self.greeting)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    pair = Listener(b"proxy"), Listener(b"other")
    yield pair
    for listener in pair:
        listener.close()


def egress_confine(*programs: str, ports: list[int], required: bool = False) -> dict[str, Any]:
    return {"confine": {"programs": list(programs), "required": required, "connect_ports": ports}}


def outcome(stdout: bytes) -> dict[str, str]:
    return dict(line.split(None, 1) for line in stdout.decode().splitlines())


def test_tcp_connect_reaches_the_granted_port_and_nothing_else(
    agent: Client,  # noqa: F811
    listeners: tuple[Listener, Listener],
) -> None:
    proxy, other = listeners
    argv = ["python3", "-c", PROBE, str(proxy.port), str(other.port)]
    result = agent.run(argv, **egress_confine("python3", ports=[proxy.port]))
    report = result.exit["confinement"]
    assert report["confined"] and report["network"] and report["syscall_filter"], report
    assert report["connect_ports"] == [proxy.port]
    denied = str(errno.EACCES)
    assert outcome(result.stdout) == {
        "allowed": "proxy", "other": denied, "bind": denied, "listen": denied,
        "udp": denied, "sctp": denied, "fastopen": denied,
    }, result.stderr  # fmt: skip
    assert other.accepted == 0 and proxy.accepted == 1
    # control: unconfined, the same program reaches the other listener
    free = agent.run(argv, xid=2)
    assert outcome(free.stdout)["other"] == "other", free.stderr


def test_without_connect_ports_no_tcp_socket_is_made_as_before(
    agent: Client,  # noqa: F811
    listeners: tuple[Listener, Listener],
) -> None:
    proxy, other = listeners
    argv = ["python3", "-c", PROBE, str(proxy.port), str(other.port)]
    result = agent.run(argv, confine={"programs": ["python3"], "required": False})
    report = result.exit["confinement"]
    assert report["confined"] and report["connect_ports"] == []
    denied = str(errno.EACCES)
    assert set(outcome(result.stdout).values()) == {denied}, result.stdout
    assert proxy.accepted == 0 and other.accepted == 0


def test_no_ipv6_socket_is_made_the_proxy_is_on_ipv4(agent: Client) -> None:  # noqa: F811
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with server:
        port = server.getsockname()[1]
        script = (
            "import socket, sys\n"
            "try:\n"
            "    socket.socket(socket.AF_INET6).connect(('::1', int(sys.argv[1])))\n"
            "    print('connected')\n"
            "except OSError as exc:\n    print(exc.errno)\n"
        )
        argv = ["python3", "-c", script, str(port)]
        # the listener's own port granted: the socket itself is refused
        result = agent.run(argv, **egress_confine("python3", ports=[port]))
        assert result.stdout.decode().strip() == str(errno.EACCES), result.stderr
        free = agent.run(argv, xid=2)  # control: unconfined it connects
        assert free.stdout.decode().strip() == "connected", free.stderr


def test_invalid_connect_ports_are_an_error_and_nothing_runs(agent: Client) -> None:  # noqa: F811
    for bad in ("3128", [0], [65536], [True], ["3128"], list(range(1, 20))):
        agent.send({"type": "exec", "id": 9, "argv": ["true"],
                    "confine": {"programs": ["true"], "connect_ports": bad}})  # fmt: skip
        header = agent.next_for(9)[0]
        assert header["type"] == "error" and "connect_ports" in header["message"], bad
        assert agent.next_for(9)[0]["exit_code"] == 126, bad  # refused, and ended


def test_a_landlock_that_cannot_limit_connect_runs_unconfined_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the kernel's ABI is the input here (this machine's is newer): ABI 3 handles no TCP
    monkeypatch.setattr(landlock, "abi_version", lambda: 3)
    request = {"programs": ["curl"], "required": False, "connect_ports": [3128]}
    plan = confine_exec.prepare(request, ["bash", "-c", "curl"], "/", {})
    assert plan.report["confined"] is False
    assert "cannot limit TCP connect" in plan.report["reason"]
    with pytest.raises(confine_exec.Refused, match="required"):
        confine_exec.prepare({**request, "required": True}, ["bash"], "/", {})
    # without egress ABI 3 still confines, as before
    plain = confine_exec.prepare({"programs": ["ls"], "required": False}, ["ls"], "/", {})
    try:
        assert plain.report["confined"] and plain.report["network"] is False
    finally:
        plain.finish()
