"""Egress by name, in real sessions under runc and runsc, with real clients.

Upstreams listen on the host's loopback (`egress_hosts`); the session's policy allows
``files.test``, ``pypi.test`` and ``git.test``, which ``AIRLOCK_EGRESS_RESOLVE`` maps
to 127.0.0.1. pip, git, curl and urllib inside the sandbox reach them through the
session's proxy; every other way out is refused, and each refusal is shown. Nothing
leaves loopback: the sandboxes have no interface but ``lo``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox import DockerBackend, EgressRecord, EgressUnavailable, SessionSpec, egress_socket
from sandbox.labels import OWNER_PID
from security import NetworkPolicy
from tests.integration.egress_hosts import GREETING, NAMES, RESOLVE, Upstreams

pytestmark = pytest.mark.integration
ALLOWED = NetworkPolicy(allow=list(NAMES))
CA = "/tmp/egress-test-ca.pem"
FORCE_PROXY = ["--proxy", "http://127.0.0.1:3128", "--noproxy", ""]


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    servers = Upstreams(tmp_path_factory.mktemp("egress-upstreams"))
    yield servers
    servers.stop()


@pytest.fixture(autouse=True)
def mapped_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRLOCK_EGRESS_RESOLVE", RESOLVE)


UNIX_REQUEST = (  # a request for evil.test straight to the mounted proxy socket
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX); s.connect('/run/airlock-egress/proxy.sock')\n"
    "s.sendall(f'GET http://evil.test:{sys.argv[1]}/ HTTP/1.1\\r\\n"
    "Host: evil.test:{sys.argv[1]}\\r\\n\\r\\n'.encode())\n"
    "print(s.recv(100).split(b' ')[1].decode())\n"
)
TRANSPORTS = ["socket", "channel"]  # the proxy's Unix socket mounted in, or the exec channel


def _run(
    runtime: str, policy: NetworkPolicy, steps: object, transport: str = "auto"
) -> list[EgressRecord]:
    """Start a session with ``policy``; ``steps(session)`` runs in it; the records."""
    records: list[EgressRecord] = []

    async def main() -> None:
        spec = SessionSpec(
            runtime=runtime,  # type: ignore[arg-type]
            egress=policy,
            egress_transport=transport,  # type: ignore[arg-type]
        )
        async with DockerBackend().session(spec) as session:
            session.watch_egress(records.append)
            await steps(session)  # type: ignore[operator]

    asyncio.run(main())
    return records


async def _sh(session: object, argv: list[str], timeout: float = 120) -> tuple[int, str, str]:
    result = await session.exec(argv, timeout=timeout)  # type: ignore[attr-defined]
    return result.exit_code, result.stdout.decode(), result.stderr.decode()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_real_clients_reach_allowed_hosts_through_the_proxy(
    upstreams: Upstreams, runtime: str, transport: str
) -> None:
    http, https, git = upstreams.http.port, upstreams.https.port, upstreams.git.port

    async def steps(session: object) -> None:
        await session.put_file(CA, upstreams.certs.ca.read_bytes())  # type: ignore[attr-defined]
        code, out, err = await _sh(session, ["curl", "-sS", f"http://files.test:{http}/hello.txt"])
        assert (code, out) == (0, GREETING.decode()), err
        for url in (f"http://files.test:{http}/big.bin", f"https://files.test:{https}/big.bin"):
            fetch_big = f'curl -sS --cacert {CA} "$1" | sha256sum'
            code, out, err = await _sh(session, ["sh", "-c", fetch_big, "sh", url])
            assert (code, out.split()[0]) == (0, upstreams.big_sha256), (url, err)
        code, out, err = await _sh(
            session, ["curl", "-sS", "--cacert", CA, f"https://files.test:{https}/hello.txt"]
        )
        assert (code, out) == (0, GREETING.decode()), err
        fetch = (
            "import ssl, sys, urllib.request\n"
            "context = ssl.create_default_context(cafile=sys.argv[2])\n"
            "print(urllib.request.urlopen(sys.argv[1], context=context).read().decode(), end='')"
        )
        url = f"https://files.test:{https}/hello.txt"
        code, out, err = await _sh(session, ["python3", "-c", fetch, url, CA])
        assert (code, out) == (0, GREETING.decode()), err
        index = f"https://pypi.test:{https}/simple/"  # the test CA trusted with --cert
        code, out, err = await _sh(
            session,
            ["python3", "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
             "--cert", CA, "--target", "/tmp/site", "--index-url", index, "demo-pkg"],
        )  # fmt: skip
        assert code == 0, out + err
        code, out, err = await _sh(
            session,
            [
                "env",
                "PYTHONPATH=/tmp/site",
                "python3",
                "-c",
                "import demo_pkg; print(demo_pkg.VALUE)",
            ],
        )
        assert (code, out.strip()) == (0, "42"), err
        code, out, err = await _sh(
            session,
            ["env", f"GIT_SSL_CAINFO={CA}", "git", "clone", "-q",
             f"https://git.test:{git}/repo.git", "/tmp/clone"],
        )  # fmt: skip
        assert code == 0, out + err
        code, out, _ = await _sh(session, ["cat", "/tmp/clone/README"])
        assert out == "cloned through the proxy\n"
        bridge = session.egress.socket  # type: ignore[attr-defined]
        if bridge is not None:  # under runc the agent passed every connection to the proxy
            assert (bridge.handoff.received >= 8) == (runtime == "runc"), bridge.handoff.received

    records = _run(runtime, ALLOWED, steps, transport)
    allowed = [r for r in records if r.decision == "allowed"]
    hosts = {(r.host, r.method) for r in allowed}
    assert {("files.test", "GET"), ("files.test", "CONNECT"), ("pypi.test", "CONNECT"),
            ("git.test", "CONNECT")} <= hosts, hosts  # fmt: skip
    assert all(r.decision == "allowed" for r in records), records
    assert all(r.bytes_down > 0 for r in allowed)
    assert sum(r.bytes_down for r in records if r.host == "pypi.test") > 1000  # index + wheel


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_every_other_way_out_is_refused_and_said_why(
    upstreams: Upstreams, runtime: str, transport: str
) -> None:
    http, https = upstreams.http.port, upstreams.https.port
    seen: dict[str, tuple[int, str, str]] = {}

    async def steps(session: object) -> None:
        async def attempt(name: str, argv: list[str]) -> None:
            seen[name] = await _sh(session, argv, timeout=60)

        curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}"]
        await attempt("another host", [*curl, f"http://evil.test:{http}/"])
        await attempt("an IP literal", [*curl, *FORCE_PROXY, f"http://127.0.0.1:{http}/"])
        await attempt("a decimal IP", [*curl, *FORCE_PROXY, f"http://2130706433:{http}/"])
        await attempt("no proxy", [*curl, "--noproxy", "*", f"http://files.test:{http}/"])
        await attempt("localhost", [*curl, *FORCE_PROXY, f"http://localhost:{http}/"])
        sni = (
            "import socket, ssl, sys\n"
            "s = socket.create_connection(('127.0.0.1', 3128), timeout=20)\n"
            "s.sendall(f'CONNECT files.test:{sys.argv[1]} HTTP/1.1\\r\\n"
            "Host: files.test:{sys.argv[1]}\\r\\n\\r\\n'.encode())\n"
            "assert s.recv(4096).startswith(b'HTTP/1.1 200'), 'no tunnel'\n"
            "context = ssl.create_default_context(); context.check_hostname = False\n"
            "context.verify_mode = ssl.CERT_NONE\n"
            "try:\n"
            "    context.wrap_socket(s, server_hostname='fronted.example')\n"
            "    print('handshake completed')\n"
            "except (ssl.SSLError, OSError) as exc:\n"
            "    print('refused:', exc)\n"
        )
        await attempt("another SNI", ["python3", "-c", sni, str(https)])
        direct = (  # to the host's upstream port: the sandbox's loopback is its own
            "import socket, sys\n"
            "try:\n"
            "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('failed', exc.errno)\n"
        )
        await attempt("a direct socket", ["python3", "-c", direct, str(http)])
        dns = (
            "import socket\n"
            "try:\n"
            "    print(socket.getaddrinfo('files.test', 80))\n"
            "except OSError as exc:\n"
            "    print('no dns', exc)\n"
        )
        await attempt("dns", ["python3", "-c", dns])
        interfaces = (
            "import json, socket; print(json.dumps(sorted(n for _, n in socket.if_nameindex())))"
        )
        await attempt("interfaces", ["python3", "-c", interfaces])
        # no route anywhere: read, never tried (nothing is sent to find out)
        await attempt("routes", ["sh", "-c", "tail -n +2 /proc/net/route; echo end"])
        if transport == "socket":  # the mounted socket is root's: the agent's alone
            unix = (
                "import socket, sys\n"
                "try:\n"
                "    socket.socket(socket.AF_UNIX).connect('/run/airlock-egress/proxy.sock')\n"
                "    print('connected')\n"
                "except OSError as exc:\n"
                "    print('refused', exc.strerror)\n"
            )
            await attempt("the socket directly", ["python3", "-c", unix, str(http)])
            await attempt("the socket's folder", ["touch", "/run/airlock-egress/x"])

    # localhost is allowed by name: it is refused for what it resolves to (/etc/hosts on
    # the host: 127.0.0.1), since AIRLOCK_EGRESS_RESOLVE does not map it
    records = _run(runtime, NetworkPolicy(allow=[*NAMES, "localhost"]), steps, transport)
    assert seen["another host"][1] == "403", seen["another host"]
    assert seen["an IP literal"][1] == "403" and seen["a decimal IP"][1] == "403"
    code, out, err = seen["no proxy"]  # direct: no resolver, no route, nothing reached
    assert code != 0 and out in ("", "000"), (code, out, err)
    assert seen["localhost"][1] == "403"  # resolves to loopback, and it is not mapped
    assert seen["another SNI"][1].startswith("refused:"), seen["another SNI"]
    assert seen["a direct socket"][1] == "failed 111\n", seen["a direct socket"]  # refused
    assert seen["routes"][1] == "end\n", seen["routes"]
    assert seen["dns"][1].startswith("no dns"), seen["dns"]
    assert json.loads(seen["interfaces"][1]) == ["lo"]
    refused = {r.host: r for r in records if r.decision == "refused"}
    assert "not in the allow list" in refused["evil.test"].reason
    assert "IP literal" in refused["127.0.0.1"].reason
    assert "localhost" in refused and "loopback" in refused["localhost"].reason
    fronted = [r for r in records if r.method == "CONNECT" and r.decision == "refused"]
    assert fronted and "fronted.example" in fronted[0].reason, fronted
    if transport == "socket":
        # (an orchestrator not root shares it: the same proxy then answers, 403 here)
        assert seen["the socket directly"][1] == "refused Permission denied\n", seen
        code, _, err = seen["the socket's folder"]
        # root's folder (runc says so first) on a read-only mount (gVisor says so first)
        assert code != 0 and ("Permission denied" in err or "Read-only" in err), err


def test_a_socket_shared_with_every_user_meets_the_same_proxy(
    upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An orchestrator that is not root cannot keep the socket to the container's root:
    a command may connect then, and gets what port 3128 gives it."""
    monkeypatch.setattr(egress_socket, "socket_modes", lambda: egress_socket.SHARED_MODES)
    seen: list[str] = []

    async def steps(session: object) -> None:
        seen.append((await _sh(session, ["python3", "-c", UNIX_REQUEST, "80"]))[1])

    records = _run("runc", ALLOWED, steps, "socket")
    assert seen == ["403\n"], seen
    assert [r.host for r in records if r.decision == "refused"] == ["evil.test"], records


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_auto_takes_the_socket_which_is_the_sessions_alone_and_goes_with_it(
    runtime: str,
) -> None:
    async def main() -> None:
        spec = SessionSpec(runtime=runtime, egress=ALLOWED)  # type: ignore[arg-type]
        async with DockerBackend().session(spec) as session:
            assert session.egress is not None and session.egress.socket is not None
            folder = session.egress.socket.folder
            sockets = sorted(folder.iterdir())
            assert [p.name for p in sockets] == ["handoff.sock", "proxy.sock"]
            assert all((p.stat().st_mode & 0o777, p.stat().st_uid) == (0o600, 0) for p in sockets)
            assert session.channel is not None and session.channel.bridged_port == 3128
            assert session.channel.egress is None  # no frame of egress on the channel
            assert (folder.stat().st_mode & 0o777, folder.stat().st_uid) == (0o700, 0)
            listing = "import os; print(os.listdir('/run/airlock-egress'))"
            listed = await session.exec(["python3", "-c", listing], timeout=30)
            assert b"PermissionError" in listed.stderr, listed  # root's: the agent's alone
        assert not folder.exists()

    asyncio.run(main())


def test_each_session_has_its_own_proxy(upstreams: Upstreams) -> None:
    """A session allowing only other.test cannot use files.test, however it asks: its
    port 3128 is its own proxy, serving its own policy."""
    http = upstreams.http.port
    outcome: dict[str, str] = {}

    async def main() -> None:
        backend = DockerBackend()
        wide = SessionSpec(egress=ALLOWED)
        narrow = SessionSpec(egress=NetworkPolicy(allow=["other.test"]))
        async with backend.session(wide) as first, backend.session(narrow) as second:
            for name, session in (("wide", first), ("narrow", second)):
                argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        f"http://files.test:{http}/hello.txt"]  # fmt: skip
                _, outcome[name], _ = await _sh(session, argv)

    asyncio.run(main())
    assert outcome == {"wide": "200", "narrow": "403"}


def test_a_run_logs_each_request_and_exec_says_each_refusal(
    upstreams: Upstreams, tmp_path: Path
) -> None:
    """`airlock exec --allow-host`: the client's 403 says why, and so does stderr."""
    import os
    import shutil
    import subprocess
    import sys

    airlock = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"
    env = dict(os.environ, AIRLOCK_EGRESS_RESOLVE=RESOLVE)
    url = f"http://files.test:{upstreams.http.port}/hello.txt"
    ok = subprocess.run(
        [airlock, "exec", "--allow-host", "files.test", "--", "curl", "-sS", url],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (ok.returncode, ok.stdout) == (0, GREETING.decode()), ok.stderr
    refused = subprocess.run(
        [airlock, "exec", "--allow-host", "pypi.test", "--", "curl", "-sS", url],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "files.test:" in refused.stdout and "not in the allow list" in refused.stdout
    assert "airlock: egress refused: GET files.test:" in refused.stderr
    unjudged = subprocess.run(
        [airlock, "exec", "--allow-host", "10.0.0.1", "--", "true"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert unjudged.returncode == 64 and "IP literals are always refused" in unjudged.stderr


def test_an_image_without_python3_is_refused_plainly_and_leaves_nothing(
    docker_client: docker.DockerClient,
) -> None:
    """airlock/minimal has no exec agent to carry connections: starting a session with
    egress on it fails with the reason, and its container is gone. (Only this process's
    containers are compared: other test workers start sessions meanwhile.)"""
    mine = {"label": f"{OWNER_PID}={os.getpid()}"}
    before = {c.id for c in docker_client.containers.list(all=True, filters=mine)}

    async def main() -> None:
        spec = SessionSpec(image="airlock/minimal", egress=ALLOWED)
        with pytest.raises(EgressUnavailable, match="has no python3"):
            await DockerBackend().start(spec)

    asyncio.run(main())
    after = {c.id for c in docker_client.containers.list(all=True, filters=mine)}
    assert after <= before
