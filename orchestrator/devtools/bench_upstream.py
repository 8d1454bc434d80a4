"""The upstream `airlock bench egress` downloads from: generated bodies on 127.0.0.1.

``GET /bytes/N`` answers ``N`` bytes (at most `MAX_BODY`) with a Content-Length, sent
from one block in memory, so a 100 MB download needs no file and no 100 MB buffer. One
request per connection (HTTP/1.0), a thread per connection, Nagle off, a listen backlog
large enough for a burst. It binds loopback only and serves nothing else.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

BLOCK = bytes(range(256)) * 4096  # 1 MiB, written again and again
MAX_BODY = 16 * 1024**3
BACKLOG = 512
_PATH = re.compile(r"/bytes/([0-9]{1,12})")


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


class BenchUpstream:
    """The server, run in a thread while the context is open: ``url(size)`` names a body."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bench-upstream", daemon=True
        )

    def url(self, size: int, host: str = "127.0.0.1") -> str:
        """Where a body of ``size`` bytes is served, by the name ``host``."""
        return f"http://{host}:{self.port}/bytes/{size}"

    def __enter__(self) -> BenchUpstream:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
