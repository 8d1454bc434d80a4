"""Upstreams for the egress tests, all on the host's loopback: files over HTTP and
HTTPS, a PyPI-style simple index serving a wheel built here, and `git http-backend`
serving a repository over HTTPS. The test CA signs one certificate for every name.

Names map to 127.0.0.1 with ``AIRLOCK_EGRESS_RESOLVE`` (`RESOLVE`); nothing here
resolves or reaches anything but loopback.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import subprocess
import threading
import zipfile
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.unit.sandbox.egress.loopback import Certificates, make_certificates

NAMES = ("files.test", "pypi.test", "git.test")
RESOLVE = ",".join(f"{name}=127.0.0.1" for name in NAMES)
WHEEL = "demo_pkg-1.0-py3-none-any.whl"
GREETING = b"hello through the proxy\n"
BIG_FILE_BYTES = 3 * 1024 * 1024 + 12345


class _Quiet:
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the test's stderr."""


class FileHandler(_Quiet, SimpleHTTPRequestHandler):
    pass


class GitHandler(_Quiet, BaseHTTPRequestHandler):
    """CGI for `git http-backend`: the smart protocol, for clones."""

    root: Path

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        )
        head, _, content = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(content)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: Any, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.port = int(self.server_address[1])
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: refused tunnels end in failed handshakes here, as they should."""

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def build_wheel(folder: Path) -> Path:
    """A pure-Python wheel of ``demo-pkg`` 1.0 whose module holds ``VALUE = 42``."""
    files = {
        "demo_pkg/__init__.py": b"VALUE = 42\n",
        "demo_pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n",
        "demo_pkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: airlock-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    record += "demo_pkg-1.0.dist-info/RECORD,,\n"
    path = folder / WHEEL
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr("demo_pkg-1.0.dist-info/RECORD", record)
    return path


def build_index(root: Path) -> None:
    """``root`` as a simple index: /simple/demo-pkg/ links /packages/WHEEL."""
    (root / "packages").mkdir(parents=True)
    wheel = build_wheel(root / "packages")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    project = root / "simple" / "demo-pkg"
    project.mkdir(parents=True)
    (project / "index.html").write_text(
        f'<html><body><a href="../../packages/{WHEEL}#sha256={digest}">{WHEEL}</a></body></html>\n'
    )
    (root / "hello.txt").write_bytes(GREETING)


def build_repository(root: Path) -> Path:
    """A bare repository ``root/repo.git`` with one commit holding README."""
    work = root / "work"
    work.mkdir(parents=True)
    (work / "README").write_text("cloned through the proxy\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "README"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "one"], check=True)
    bare = root / "repo.git"
    subprocess.run([*git, "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


class Upstreams:
    """Every upstream the egress tests use, started together."""

    def __init__(self, folder: Path) -> None:
        self.certs: Certificates = make_certificates(folder / "ca", NAMES)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.certs.cert, self.certs.key)
        build_index(folder / "www")
        # random bytes past any pipe or buffer size: a relay that repeats or drops a
        # piece shows in the digest, not only in the length
        big = os.urandom(BIG_FILE_BYTES)
        (folder / "www" / "big.bin").write_bytes(big)
        self.big_sha256 = hashlib.sha256(big).hexdigest()
        build_repository(folder / "git")
        files = partial(FileHandler, directory=str(folder / "www"))
        git_handler = type("Git", (GitHandler,), {"root": folder / "git"})
        self.http = Server(files)
        self.https = Server(files, tls)
        self.git = Server(git_handler, tls)

    def stop(self) -> None:
        for server in (self.http, self.https, self.git):
            server.stop()
