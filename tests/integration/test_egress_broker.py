"""Credential brokering in real sessions: the session holds a placeholder, and curl's
``Authorization: Bearer $TOKEN`` reaches the brokered host with the real secret, while
another allowed host gets the placeholder through an untouched tunnel.

The upstream is HTTPS on the host's loopback with the test CA; the proxy (in this
process) trusts it through ``SSL_CERT_FILE``, the session trusts its own CA only.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sandbox import DockerBackend, EgressRecord, SandboxError, SessionSpec
from security import Credential, NetworkPolicy
from tests.integration.egress_hosts import GitHandler, Server, build_repository
from tests.unit.sandbox.egress.loopback import Certificates, make_certificates

pytestmark = pytest.mark.integration
NAMES = ("api.test", "other.test", "git.test")
VARIABLE = "BROKER_TEST_TOKEN"
SECRET = "ghp_broker-test-secret-5f1c"  # noqa: S105 (a test value)
POLICY = NetworkPolicy(
    allow=list(NAMES), credentials=[Credential(env=VARIABLE, hosts=["api.test", "git.test"])]
)
TEST_CA = "/tmp/egress-test-ca.pem"
BUNDLE = "/tmp/airlock-egress/ca-bundle.pem"


class Recording(BaseHTTPRequestHandler):
    """Records each request's Host and Authorization; answers ``ok``."""

    seen: list[tuple[str, str]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append((self.headers.get("Host", ""), self.headers.get("Authorization", "")))
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, certs: Certificates) -> None:
        self.seen: list[tuple[str, str]] = []
        handler = type("Handler", (Recording,), {"seen": self.seen})
        super().__init__(("127.0.0.1", 0), handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certs.cert, certs.key)
        self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.port = int(self.server_address[1])
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a refused handshake is expected in some tests."""


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder: Path = tmp_path_factory.mktemp("broker-ca")
    return make_certificates(folder, NAMES)


@pytest.fixture(scope="module")
def upstream(certs: Certificates) -> Iterator[Upstream]:
    server = Upstream(certs)
    yield server
    server.shutdown()
    server.server_close()


class GuardedGit(GitHandler):
    """`git http-backend` behind HTTP Basic auth: ``x-access-token`` and the secret."""

    expected = (
        "Basic " + __import__("base64").b64encode(f"x-access-token:{SECRET}".encode()).decode()
    )

    def _backend(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        super()._backend()


@pytest.fixture(scope="module")
def git_upstream(certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("broker-git")
    build_repository(root)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certs.cert, certs.key)
    server = Server(type("Git", (GuardedGit,), {"root": root}), tls)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def orchestrator_env(monkeypatch: pytest.MonkeyPatch, certs: Certificates) -> None:
    monkeypatch.setenv("AIRLOCK_EGRESS_RESOLVE", ",".join(f"{n}=127.0.0.1" for n in NAMES))
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))  # the proxy verifies the test upstream
    monkeypatch.setenv(VARIABLE, SECRET)


async def _sh(session: Any, script: str) -> tuple[int, str, str]:
    result = await session.exec(["sh", "-c", script], timeout=120)
    return result.exit_code, result.stdout.decode(), result.stderr.decode()


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_the_secret_reaches_its_host_and_never_the_session(
    upstream: Upstream, certs: Certificates, runtime: str
) -> None:
    upstream.seen.clear()
    records: list[EgressRecord] = []
    port = upstream.port
    shown: dict[str, str] = {}

    async def main() -> None:
        spec = SessionSpec(runtime=runtime, egress=POLICY)  # type: ignore[arg-type]
        async with DockerBackend().session(spec) as session:
            session.watch_egress(records.append)
            code, env, _ = await _sh(session, "env")
            shown["env"] = env
            code, out, err = await _sh(
                session,
                f'curl -sS -H "Authorization: Bearer ${VARIABLE}" https://api.test:{port}/',
            )
            assert (code, out) == (0, "ok\n"), (err, records)
            fetch = (  # Python's default trust: SSL_CERT_FILE, the session's bundle
                "import os, urllib.request\n"
                f"request = urllib.request.Request('https://api.test:{port}/py')\n"
                f"request.add_header('Authorization', 'token ' + os.environ['{VARIABLE}'])\n"
                "print(urllib.request.urlopen(request).read().decode(), end='')"
            )
            code, out, err = await _sh(session, f'python3 -c "{fetch}"')
            assert (code, out) == (0, "ok\n"), (err, records)
            await session.put_file(TEST_CA, certs.ca.read_bytes())
            code, out, err = await _sh(
                session,
                f'curl -sS --cacert {TEST_CA} -H "Authorization: Bearer ${VARIABLE}" '
                f"https://other.test:{port}/",
            )
            assert (code, out) == (0, "ok\n"), err  # the real certificate: not intercepted
            owners = (  # stat(1)'s statx is refused under gVisor
                "import os, sys\n"
                "for path in sys.argv[1:]:\n"
                "    found = os.stat(path)\n"
                "    print(f'{found.st_uid}:{found.st_mode & 0o777:o}')"
            )
            code, out, err = await _sh(
                session,
                f'python3 -c "{owners}" {BUNDLE} $(dirname {BUNDLE}); echo x >> {BUNDLE}',
            )
            assert out.split() == ["0:644", "0:755"], out + err
            assert code != 0  # the session cannot change what it trusts

    asyncio.run(main())
    env = shown["env"]
    placeholder = next(
        line.split("=", 1)[1] for line in env.splitlines() if line.startswith(f"{VARIABLE}=")
    )
    assert placeholder.startswith(f"airlock-credential-{VARIABLE}-")
    assert SECRET not in env
    assert f"SSL_CERT_FILE={BUNDLE}" in env
    assert upstream.seen == [
        (f"api.test:{port}", f"Bearer {SECRET}"),
        (f"api.test:{port}", f"token {SECRET}"),
        (f"other.test:{port}", f"Bearer {placeholder}"),
    ]
    brokered = [r for r in records if r.host == "api.test"]
    assert len(brokered) == 2
    assert all(r.terminated and r.brokered == [VARIABLE] for r in brokered), brokered
    (other,) = [r for r in records if r.host == "other.test"]
    assert not other.terminated and other.brokered == []
    assert all(SECRET not in r.model_dump_json() for r in records)


def test_a_missing_secret_stops_the_session_before_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(VARIABLE)

    async def main() -> None:
        async with DockerBackend().session(SessionSpec(egress=POLICY)):
            pass

    with pytest.raises(SandboxError, match=f"{VARIABLE}: not set"):
        asyncio.run(main())


def test_a_brokering_run_leaves_neither_secret_nor_placeholder_behind(tmp_path: Path) -> None:
    """The demo run with a brokered credential: its patch is the demo's, with no
    placeholder; its audit log never holds the secret."""
    from orchestrator.devtools.demo import TASK
    from orchestrator.devtools.package_data import examples_dir
    from orchestrator.events.bus import EventBus
    from orchestrator.runs.run import RunRequest, run_task

    examples = examples_dir()
    out = tmp_path / "out"
    request = RunRequest(
        task=TASK,
        repo=examples / "calc",
        replay=examples / "replays" / "demo.yaml",
        out=out,
        allow_hosts=["api.test"],
        credentials=[f"{VARIABLE}=api.test"],
    )
    summary = asyncio.run(run_task(request, EventBus(), backend=DockerBackend()))
    assert summary.outcome == "end_turn" and summary.files_changed == 1
    patch = (out / "patch.diff").read_text()
    assert "+    return sum(values) / len(values)" in patch
    assert "airlock-credential-" not in patch
    for name in ("events.jsonl", "summary.json", "patch.diff"):
        assert SECRET not in (out / name).read_text(), name


def test_airlock_exec_brokers_with_the_credential_option(
    upstream: Upstream, certs: Certificates
) -> None:
    import os
    import shutil
    import subprocess
    import sys

    airlock = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"
    upstream.seen.clear()
    url = f"https://api.test:{upstream.port}/cli"
    line = f'curl -sS -H "Authorization: Bearer ${VARIABLE}" {url} && echo "${VARIABLE}"'
    ran = subprocess.run(
        [airlock, "exec", "--policy", "dev", "--allow-host", "api.test",
         "--credential", f"{VARIABLE}=api.test", "--", line],
        env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    ok, placeholder = ran.stdout.splitlines()
    assert ok == "ok" and placeholder.startswith(f"airlock-credential-{VARIABLE}-")
    assert SECRET not in ran.stdout + ran.stderr
    assert upstream.seen == [(f"api.test:{upstream.port}", f"Bearer {SECRET}")]
    unallowed = subprocess.run(
        [airlock, "exec", "--credential", f"{VARIABLE}=api.test", "--", "true"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert unallowed.returncode == 64
    assert "'api.test' is not in the allow list" in unallowed.stderr


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_git_clones_with_a_brokered_token(git_upstream: Server, runtime: str) -> None:
    """git sends the token as Basic auth (after the server's 401); the proxy puts the
    secret inside its base64. Each request is a tunnel of its own."""
    records: list[EgressRecord] = []
    url = f"https://x-access-token:${VARIABLE}@git.test:{git_upstream.port}/repo.git"

    async def main() -> None:
        spec = SessionSpec(runtime=runtime, egress=POLICY)  # type: ignore[arg-type]
        async with DockerBackend().session(spec) as session:
            session.watch_egress(records.append)
            code, out, err = await _sh(session, f'git clone -q "{url}" /tmp/clone')
            assert code == 0, out + err
            code, out, _ = await _sh(session, "cat /tmp/clone/README")
            assert out == "cloned through the proxy\n"

    asyncio.run(main())
    assert any(r.brokered == [VARIABLE] for r in records), records
    assert all(r.host == "git.test" and r.terminated for r in records)
    assert all(SECRET not in r.model_dump_json() for r in records)
