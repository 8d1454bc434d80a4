"""Credential brokering with real package managers: pip against a private simple index
and npm against a private registry, each behind a token the session never holds.

Both upstreams are HTTPS on the host's loopback with the test CA and answer 401 unless
the request carries the real secret. The proxy (in this process) trusts the test CA
through ``SSL_CERT_FILE``; the session trusts only what it trusts by default, its
bundle (the image's roots plus the session CA), named by ``PIP_CERT`` and
``NODE_EXTRA_CA_CERTS`` among others. npm comes from the host (node and npm copied
into the session's /tmp): airlock/dev has none.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import ssl
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sandbox import DockerBackend, EgressRecord, ResourceLimits, SessionSpec
from security import Credential, NetworkPolicy
from tests.integration.egress_hosts import build_index
from tests.unit.sandbox.egress.loopback import Certificates, make_certificates

pytestmark = pytest.mark.integration
NAMES = ("pypi.test", "npm.test")
PIP_VARIABLE = "PIP_BROKER_TEST_TOKEN"
PIP_SECRET = "pypi-broker-test-secret-7d20"  # noqa: S105 (a test value)
NPM_VARIABLE = "NPM_BROKER_TEST_TOKEN"
NPM_SECRET = "npm_broker-test-secret-c41e"  # noqa: S105 (a test value)
POLICY = NetworkPolicy(
    allow=list(NAMES),
    credentials=[
        Credential(env=PIP_VARIABLE, hosts=["pypi.test"]),
        Credential(env=NPM_VARIABLE, hosts=["npm.test"]),
    ],
)
BUNDLE = "/tmp/airlock-egress/ca-bundle.pem"
NODE = Path("/usr/bin/node")
NPM = Path("/usr/lib/node_modules/npm")
PACKAGE = "tiny-pkg"
TARBALL = f"{PACKAGE}-1.0.0.tgz"
ANSWER = "tiny answer 42"


class Guarded(BaseHTTPRequestHandler):
    """Answers 401 unless ``Authorization`` is ``expected``; records every request's
    path, Authorization and the status it got."""

    expected: str
    seen: list[tuple[str, str, int]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        if given == self.expected:
            return True
        self.seen.append((self.path, given, 401))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="private"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False


class PrivateIndex(Guarded, SimpleHTTPRequestHandler):
    """The simple index of `build_index`, for ``__token__`` and the secret alone."""

    def do_GET(self) -> None:
        if self.authorized():
            self.seen.append((self.path, self.headers.get("Authorization", ""), 200))
            super().do_GET()


class PrivateRegistry(Guarded):
    """A registry of one package: its document and its tarball, for the bearer alone."""

    documents: dict[str, tuple[str, bytes]]

    def do_GET(self) -> None:
        if not self.authorized():
            return
        found = self.documents.get(self.path.split("?", 1)[0])
        status = 200 if found else 404
        self.seen.append((self.path, self.headers.get("Authorization", ""), status))
        kind, body = found or ("application/json", b'{"error":"not found"}')
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: Any, certs: Certificates) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certs.cert, certs.key)
        self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.port = int(self.server_address[1])
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that gives up mid-handshake is not the test's concern."""

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def build_tarball() -> bytes:
    """``tiny-pkg`` 1.0.0 as npm packs it: package/package.json and package/index.js."""
    files = {
        "package/package.json": json.dumps(
            {"name": PACKAGE, "version": "1.0.0", "main": "index.js"}
        ).encode(),
        "package/index.js": f"module.exports = {json.dumps(ANSWER)};\n".encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def registry_documents(port: int) -> dict[str, tuple[str, bytes]]:
    """The registry's paths: the package document, its tarball named back at the
    registry's name and port, with sha1 ``shasum`` and sha512 ``integrity``."""
    tarball = build_tarball()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    version = {
        "name": PACKAGE,
        "version": "1.0.0",
        "main": "index.js",
        "dist": {
            "tarball": f"https://npm.test:{port}/{PACKAGE}/-/{TARBALL}",
            "shasum": hashlib.sha1(tarball).hexdigest(),  # noqa: S324 (npm's field)
            "integrity": integrity,
        },
    }
    document = {"name": PACKAGE, "dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": version}}
    return {
        f"/{PACKAGE}": ("application/json", json.dumps(document).encode()),
        f"/{PACKAGE}/-/{TARBALL}": ("application/octet-stream", tarball),
    }


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("clients-ca"), NAMES)


@pytest.fixture(scope="module")
def index(certs: Certificates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    root = tmp_path_factory.mktemp("clients-index")
    build_index(root)
    basic = base64.b64encode(f"__token__:{PIP_SECRET}".encode()).decode()
    handler = type(
        "Index",
        (PrivateIndex,),
        {"expected": f"Basic {basic}", "seen": []},
    )
    server = Upstream(partial(handler, directory=str(root)), certs)
    server.seen = handler.seen  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def registry(certs: Certificates) -> Iterator[Upstream]:
    handler: Any = type(
        "Registry", (PrivateRegistry,), {"expected": f"Bearer {NPM_SECRET}", "seen": []}
    )
    server = Upstream(handler, certs)
    handler.documents = registry_documents(server.port)
    server.seen = handler.seen  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def node_archive() -> bytes:
    """The host's node and npm as one tar: node/bin/node, node/lib/node_modules/npm."""
    if not (NODE.is_file() and (NPM / "bin" / "npm-cli.js").is_file()):
        pytest.skip(f"the host has no node at {NODE} with npm at {NPM}")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(NODE, "node/bin/node")
        tar.add(NPM, "node/lib/node_modules/npm")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def orchestrator_env(monkeypatch: pytest.MonkeyPatch, certs: Certificates) -> None:
    monkeypatch.setenv("AIRLOCK_EGRESS_RESOLVE", ",".join(f"{n}=127.0.0.1" for n in NAMES))
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))  # the proxy verifies the test upstream
    monkeypatch.setenv(PIP_VARIABLE, PIP_SECRET)
    monkeypatch.setenv(NPM_VARIABLE, NPM_SECRET)


def _skip_unregistered(runtime: str, runtimes: list[str]) -> None:
    if runtime not in runtimes:
        pytest.skip(f"the engine has no {runtime} runtime")


async def _sh(session: Any, script: str, timeout: float = 120) -> tuple[int, str, str]:
    result = await session.exec(["sh", "-c", script], timeout=timeout)
    return result.exit_code, result.stdout.decode(), result.stderr.decode()


def _placeholder(env: str, variable: str) -> str:
    return next(
        line.split("=", 1)[1] for line in env.splitlines() if line.startswith(f"{variable}=")
    )


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_pip_installs_from_a_private_index_with_a_brokered_token(
    index: Upstream, runtime: str, runtimes: list[str]
) -> None:
    """pip sends the index URL's userinfo as Basic auth on every request (it does not
    wait for a 401); the proxy puts the secret inside its base64. pip trusts the session
    CA through the session's bundle alone: without the variables that name it, the
    terminated tunnel fails verification and nothing reaches the index."""
    _skip_unregistered(runtime, runtimes)
    seen: list[tuple[str, str, int]] = index.seen  # type: ignore[attr-defined]
    seen.clear()
    records: list[EgressRecord] = []
    shown: dict[str, str] = {}
    url = f"https://__token__:${PIP_VARIABLE}@pypi.test:{index.port}/simple/"
    pip = (
        "python3 -m pip install --disable-pip-version-check --no-cache-dir --retries 0 "
        f'--target /tmp/site --index-url "{url}" demo-pkg'
    )
    untrusting = "env -u PIP_CERT -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE -u SSL_CERT_FILE "

    async def main() -> None:
        spec = SessionSpec(runtime=runtime, egress=POLICY)
        async with DockerBackend().session(spec) as session:
            session.watch_egress(records.append)
            code, shown["env"], _ = await _sh(session, "env")
            code, out, err = await _sh(session, untrusting + pip)
            assert code != 0 and "CERTIFICATE_VERIFY_FAILED" in out + err, out + err
            shown["untrusted"] = str(len(seen))
            code, out, err = await _sh(session, pip)
            assert code == 0, out + err
            code, out, err = await _sh(
                session, "PYTHONPATH=/tmp/site python3 -c 'import demo_pkg; print(demo_pkg.VALUE)'"
            )
            assert (code, out) == (0, "42\n"), err

    asyncio.run(main())
    env = shown["env"]
    placeholder = _placeholder(env, PIP_VARIABLE)
    assert placeholder.startswith(f"airlock-credential-{PIP_VARIABLE}-")
    assert PIP_SECRET not in env and NPM_SECRET not in env
    assert f"PIP_CERT={BUNDLE}" in env and f"REQUESTS_CA_BUNDLE={BUNDLE}" in env
    assert shown["untrusted"] == "0"
    basic = "Basic " + base64.b64encode(f"__token__:{PIP_SECRET}".encode()).decode()
    assert seen == [
        ("/simple/demo-pkg/", basic, 200),
        ("/packages/demo_pkg-1.0-py3-none-any.whl", basic, 200),
    ], seen
    _check_records(records, "pypi.test", PIP_VARIABLE, PIP_SECRET, served=len(seen))


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_npm_installs_from_a_private_registry_with_a_brokered_token(
    registry: Upstream, node_archive: bytes, runtime: str, runtimes: list[str]
) -> None:
    """npm expands ``${NPM_TOKEN}`` in .npmrc, sends it as a bearer token through
    HTTPS_PROXY, and trusts the session CA through NODE_EXTRA_CA_CERTS (without it:
    SELF_SIGNED_CERT_IN_CHAIN, and nothing reaches the registry)."""
    _skip_unregistered(runtime, runtimes)
    seen: list[tuple[str, str, int]] = registry.seen  # type: ignore[attr-defined]
    seen.clear()
    records: list[EgressRecord] = []
    shown: dict[str, str] = {}
    port = registry.port
    npmrc = (
        f"registry=https://npm.test:{port}/\n//npm.test:{port}/:_authToken=${{{NPM_VARIABLE}}}\n"
    )
    npm = (
        "/tmp/node/bin/node /tmp/node/lib/node_modules/npm/bin/npm-cli.js install "
        "--no-audit --no-fund --no-update-notifier --fetch-retries 0 --userconfig /tmp/npmrc "
        f"--cache /tmp/npm-cache --prefix /tmp/proj {PACKAGE}"
    )

    async def main() -> None:
        limits = ResourceLimits(tmp_mb=512)
        spec = SessionSpec(runtime=runtime, egress=POLICY, limits=limits)
        async with DockerBackend().session(spec) as session:
            session.watch_egress(records.append)
            result = await session.exec(
                ["tar", "-x", "-f", "-", "-C", "/tmp"], stdin=node_archive, timeout=120
            )
            assert result.exit_code == 0, result.stderr
            await session.put_file("/tmp/npmrc", npmrc.encode())
            code, shown["env"], _ = await _sh(session, "mkdir /tmp/proj && env")
            code, out, err = await _sh(session, f"env -u NODE_EXTRA_CA_CERTS {npm}")
            assert code != 0 and "SELF_SIGNED_CERT_IN_CHAIN" in out + err, out + err
            shown["untrusted"] = str(len(seen))
            code, out, err = await _sh(session, npm)
            assert code == 0, out + err
            code, out, err = await _sh(
                session, f"/tmp/node/bin/node -p \"require('/tmp/proj/node_modules/{PACKAGE}')\""
            )
            assert (code, out) == (0, f"{ANSWER}\n"), err

    asyncio.run(main())
    env = shown["env"]
    placeholder = _placeholder(env, NPM_VARIABLE)
    assert placeholder.startswith(f"airlock-credential-{NPM_VARIABLE}-")
    assert NPM_SECRET not in env and PIP_SECRET not in env
    assert f"NODE_EXTRA_CA_CERTS={BUNDLE}" in env
    assert shown["untrusted"] == "0"
    bearer = f"Bearer {NPM_SECRET}"
    assert seen == [(f"/{PACKAGE}", bearer, 200), (f"/{PACKAGE}/-/{TARBALL}", bearer, 200)], seen
    _check_records(records, "npm.test", NPM_VARIABLE, NPM_SECRET, served=len(seen))


def _check_records(
    records: list[EgressRecord], host: str, variable: str, secret: str, served: int
) -> None:
    """Every tunnel went to ``host`` and was terminated; those the client dropped in
    the handshake (it did not trust the session CA) are refusals that carried nothing
    up; each of the others carried one request with the secret brokered in."""
    assert records and all(r.host == host and r.terminated for r in records), records
    dropped = [r for r in records if r.bytes_up == 0]
    assert dropped, records  # the untrusting run's handshakes
    # pip's ssl ends the handshake with an unknown_ca alert, node by closing the
    # connection with no alert: both are refusals
    assert all(r.decision == "refused" and r.brokered == [] for r in dropped), dropped
    reason = "TLS handshake with the client failed ("
    assert all(r.reason.startswith(reason) and r.error is None for r in dropped), dropped
    carried = [r for r in records if r.bytes_up > 0]
    assert len(carried) == served, records  # one request per tunnel
    assert all(r.brokered == [variable] and r.error is None for r in carried), carried
    assert all(secret not in r.model_dump_json() for r in records)
