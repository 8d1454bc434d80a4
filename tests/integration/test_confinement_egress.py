"""Proven read-only commands in sessions with egress run confined, and reach the
session's egress proxy and nothing else (real airlock/dev sessions, runc and runsc).

The session allows ``files.test`` (mapped to the host's 127.0.0.1 by
``AIRLOCK_EGRESS_RESOLVE``; the upstreams are `egress_hosts`). A confined ``curl`` to
it succeeds and is reported confined with TCP connect limited to the proxy's port; a
confined command cannot reach a listener another exec of the session opened on
loopback, cannot bind or listen, and opens no UDP socket (no DNS). Each refusal has its
unconfined control. Under gVisor (no Landlock) the fetch works and is honestly reported
unconfined. Nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.tools.base import ReadLedger, ToolContext
from orchestrator.tools.bash import Bash, BashInput
from orchestrator.tools.remember import MEMORY_FILE, Remember, RememberInput
from sandbox import EGRESS_PORT
from sandbox.confinement import Confinement
from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.spec import SessionSpec
from security import NetworkPolicy
from tests.integration.egress_hosts import GREETING, RESOLVE, Upstreams

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FILES = NetworkPolicy(allow=["files.test"])
LISTEN_PORT = 4555  # a listener another exec of the session opens on its loopback
PROXY_NOTE = f"TCP connect only to the egress proxy (port {EGRESS_PORT})"

Body = Callable[[DockerSession], Awaitable[None]]

# Opened by an unconfined exec (not read-only: it listens): greets each connection,
# says it is ready with a file, and ends when /tmp/listener-stop appears or after 60 s.
LISTENER = rf"""
import os, socket, time
server = socket.create_server(("127.0.0.1", {LISTEN_PORT}))
server.settimeout(0.2)
open("/tmp/listener-ready", "w").close()
end = time.monotonic() + 60
while time.monotonic() < end and not os.path.exists("/tmp/listener-stop"):
    try:
        conn, _ = server.accept()
    except socket.timeout:
        continue
    with conn:
        conn.sendall(b"listener\n")
"""

# Code inside the domain: what a read-only command could do if it were made to run code.
PROBE = r"""
import socket, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def attempt(name, act):
    try:
        print(name, act())
    except OSError as exc:
        print(name, exc.errno)
def proxied():
    where = f"{host}:{port}"
    with socket.create_connection(("127.0.0.1", 3128), timeout=10) as s:
        s.sendall(f"GET http://{where}{path} HTTP/1.0\r\nHost: {where}\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()[1].decode()
    return status + ":" + body.decode().strip().replace(" ", "_")
def listener():
    with socket.create_connection(("127.0.0.1", 4555), timeout=10) as s:
        return s.recv(64).decode().strip()
def bound():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 4556))
        return "ok"
def listening():
    with socket.socket() as s:
        s.listen()
        return "ok"
def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"\0" * 12, ("127.0.0.1", 53))
        return "ok"
attempt("proxy", proxied)
attempt("listener", listener)
attempt("bind", bound)
attempt("listen", listening)
attempt("udp", udp)
"""


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    servers = Upstreams(tmp_path_factory.mktemp("egress-confine-upstreams"))
    yield servers
    servers.stop()


@pytest.fixture(autouse=True)
def mapped_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_EGRESS_RESOLVE", RESOLVE)


def in_session(body: Body, runtime: str = "runc") -> None:
    spec = SessionSpec(runtime=runtime, egress=FILES)  # type: ignore[arg-type]

    async def main() -> None:
        async with DockerBackend().session(spec) as s:
            await body(s)

    asyncio.run(main())


async def start_listener(s: DockerSession) -> asyncio.Task[object]:
    """The listener, running in its own (unconfined) exec until told to stop."""
    task: asyncio.Task[object] = asyncio.create_task(
        s.exec(["python3", "-c", LISTENER], timeout=90)
    )
    for _ in range(100):
        ready = await s.exec(["test", "-e", "/tmp/listener-ready"])
        if ready.exit_code == 0:
            return task
        await asyncio.sleep(0.1)
    raise AssertionError("the listener did not start")


async def stop_listener(s: DockerSession, task: asyncio.Task[object]) -> None:
    await s.exec(["touch", "/tmp/listener-stop"])
    await task


def outcome(stdout: bytes) -> dict[str, str]:
    return dict(line.split(None, 1) for line in stdout.decode().splitlines())


def test_a_confined_fetch_through_the_bash_tool_reaches_the_proxy_only(
    upstreams: Upstreams,
) -> None:
    url = f"http://files.test:{upstreams.http.port}/hello.txt"

    async def body(s: DockerSession) -> None:
        ctx = ToolContext(session=s, reads=ReadLedger())
        tool = Bash()
        fetched = await tool.run(BashInput(command=f"curl -s {url}"), ctx)
        assert fetched.content == GREETING.decode().strip() and not fetched.is_error, fetched
        report = fetched.confinement
        assert report is not None and report.confined and report.syscall_filter, report
        assert report.network and report.connect_ports == (EGRESS_PORT,)
        assert PROXY_NOTE in report.summary()
        tmp = await tool.run(BashInput(command=f'curl -s {url} && echo "tmp=$TMPDIR"'), ctx)
        assert re.search(r"tmp=/tmp/airlock-ro-\w+$", tmp.content), tmp.content
        task = await start_listener(s)
        try:
            # proven read-only under egress, and NO_PROXY sends it straight to loopback:
            # the kernel refuses the connect
            direct = await tool.run(
                BashInput(command=f"curl -s http://127.0.0.1:{LISTEN_PORT}/"), ctx
            )
            assert direct.confinement is not None and direct.confinement.confined
            assert direct.is_error and "listener" not in direct.content, direct.content
            assert direct.content.startswith("Exit code 7"), direct.content  # connect failed
            # control: unconfined, curl reaches it (HTTP/0.9 reply: --http0.9)
            control = await s.exec(
                ["curl", "-s", "--http0.9", f"http://127.0.0.1:{LISTEN_PORT}/"], timeout=30
            )
            assert control.stdout == b"listener\n", control
        finally:
            await stop_listener(s, task)

    in_session(body)


def test_code_inside_the_domain_reaches_the_proxy_and_nothing_else(upstreams: Upstreams) -> None:
    argv = ["python3", "-c", PROBE, "files.test", str(upstreams.http.port), "/hello.txt"]
    with_egress = Confinement(programs=("python3",), connect_ports=(EGRESS_PORT,))
    without = Confinement(programs=("python3",))
    denied = str(errno.EACCES)

    async def body(s: DockerSession) -> None:
        task = await start_listener(s)
        try:
            confined = await s.exec(argv, timeout=60, confinement=with_egress)
            assert confined.confined and confined.confinement is not None, confined
            assert confined.confinement.connect_ports == (EGRESS_PORT,)
            assert outcome(confined.stdout) == {
                "proxy": "200:" + GREETING.decode().strip().replace(" ", "_"),
                "listener": denied, "bind": denied, "listen": denied, "udp": denied,
            }, confined.stderr  # fmt: skip
            # without egress in the confinement: no TCP at all, as before
            closed = await s.exec(argv, timeout=60, confinement=without)
            assert closed.confined and set(outcome(closed.stdout).values()) == {denied}, closed
            # control: unconfined, the same code reaches the listener and binds
            free = await s.exec(argv, timeout=60)
            seen = outcome(free.stdout)
            assert seen["listener"] == "listener" and seen["bind"] == "ok", free
            assert seen["listen"] == "ok" and seen["proxy"].startswith("200:"), free
        finally:
            await stop_listener(s, task)

    in_session(body)


def test_remember_verifies_a_fetch_confined(upstreams: Upstreams) -> None:
    url = f"http://files.test:{upstreams.http.port}/hello.txt"

    async def body(s: DockerSession) -> None:
        ctx = ToolContext(session=s, reads=ReadLedger())
        done = await Remember().run(
            RememberInput(note="files.test serves hello.txt", verify=f"curl -sf {url}"), ctx
        )
        assert MEMORY_FILE in done.content and not done.is_error, done.content
        report = done.confinement
        assert report is not None and report.confined and report.connect_ports == (EGRESS_PORT,)

    in_session(body)


def test_under_gvisor_the_fetch_works_and_says_it_ran_unconfined(upstreams: Upstreams) -> None:
    url = f"http://files.test:{upstreams.http.port}/hello.txt"

    async def body(s: DockerSession) -> None:
        ctx = ToolContext(session=s, reads=ReadLedger())
        fetched = await Bash().run(BashInput(command=f"curl -s {url}"), ctx)
        assert fetched.content == GREETING.decode().strip(), fetched
        report = fetched.confinement
        assert report is not None and not report.confined
        assert "does not implement Landlock" in (report.reason or ""), report

    in_session(body, runtime="runsc")


AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


def test_airlock_exec_allow_host_runs_a_fetch_confined(upstreams: Upstreams) -> None:
    url = f"http://files.test:{upstreams.http.port}/hello.txt"
    env = dict(os.environ, AIRLOCK_EGRESS_RESOLVE=RESOLVE)
    line = f'curl -s {url} && echo "tmp=$TMPDIR"'
    ran = subprocess.run(
        [AIRLOCK, "exec", "--policy", "read-only", "--allow-host", "files.test", "--", line],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran
    assert ran.stdout.startswith(GREETING.decode()), ran.stdout
    assert re.search(r"tmp=/tmp/airlock-ro-\w+\n$", ran.stdout), ran.stdout  # confined
    assert "not confined" not in ran.stderr, ran.stderr
    # the same line without egress: not proven (curl reaches the network), refused
    refused = subprocess.run(
        [AIRLOCK, "exec", "--policy", "read-only", "--", line],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert refused.returncode == 126, refused


WILDCARD = "0.0.0.0"  # noqa: S104 (inside a session whose only interface is loopback)
TAKE_PORT = r"""
import socket, sys
for address in sys.argv[2:]:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, int(sys.argv[1])))
            s.listen()
            print(address, "listening")
        except OSError as exc:
            print(address, exc.errno)
"""


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_no_other_process_listens_on_the_proxy_port_of_any_loopback_address(
    runtime: str,
) -> None:
    """Landlock's port rule holds on every address: the relay holds the port on all."""

    async def body(s: DockerSession) -> None:
        addresses = ["127.0.0.1", "127.0.0.2", WILDCARD]
        taken = await s.exec(["python3", "-c", TAKE_PORT, str(EGRESS_PORT), *addresses])
        busy = str(errno.EADDRINUSE)
        assert outcome(taken.stdout) == dict.fromkeys(addresses, busy), taken
        other = await s.exec(["python3", "-c", TAKE_PORT, "4557", "127.0.0.2"], timeout=30)
        assert outcome(other.stdout) == {"127.0.0.2": "listening"}, other  # control

    in_session(body, runtime)
