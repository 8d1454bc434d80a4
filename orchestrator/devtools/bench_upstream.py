"""The upstream `airlock bench egress` downloads from: generated bodies on 127.0.0.1.

``GET /bytes/N`` answers ``N`` bytes (at most `MAX_BODY`) with a Content-Length, sent
from one block in memory, so a 100 MB download needs no file and no 100 MB buffer. One
request per connection (HTTP/1.0), a thread per connection, Nagle off, a listen backlog
large enough for a burst. It binds loopback only and serves nothing else.

`BenchUpstream` runs it in a process of its own (``python -m`` this module), as a real
upstream would be: in a thread of the bench it would share the interpreter lock with
the session's proxy, which runs in the bench's process, on the proxied path only. (On
a loaded 2-core machine, alternating downloads and requests in one session showed no
clear difference either way.) The process prints its port, and ends when its stdin
closes, so it never outlives the bench.
"""

from __future__ import annotations

import re
import select
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

BLOCK = bytes(range(256)) * 4096  # 1 MiB, written again and again
MAX_BODY = 16 * 1024**3
BACKLOG = 512
START_TIMEOUT = 30.0
_PATH = re.compile(r"/bytes/([0-9]{1,12})")


class UpstreamUnavailable(Exception):
    """The upstream's process did not start."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection
    disable_nagle_algorithm = True  # the head and the body go out at once

    def do_GET(self) -> None:
        match = _PATH.fullmatch(self.path)
        size = int(match.group(1)) if match else -1
        if not 0 <= size <= MAX_BODY:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        block = memoryview(BLOCK)
        while size:
            piece = min(size, len(block))
            self.wfile.write(block[:piece])
            size -= piece

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a bench prints its figures only."""


class _Server(ThreadingHTTPServer):
    request_queue_size = BACKLOG
    daemon_threads = True


def serve() -> None:
    """Serve on a free loopback port until stdin closes; the port goes to stdout first."""
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write(f"{server.server_address[1]}\n")
    sys.stdout.flush()
    sys.stdin.buffer.read()  # until the bench closes it (or goes away)
    server.shutdown()
    server.server_close()


class BenchUpstream:
    """The server's process while the context is open: ``url(size)`` names a body."""

    def __init__(self) -> None:
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, size: int, host: str = "127.0.0.1") -> str:
        """Where a body of ``size`` bytes is served, by the name ``host``."""
        return f"http://{host}:{self.port}/bytes/{size}"

    def __enter__(self) -> BenchUpstream:
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        stdout = self._process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], START_TIMEOUT)
        line = stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self._stop()
            raise UpstreamUnavailable("the bench's upstream server did not start")
        self.port = int(line)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    serve()
