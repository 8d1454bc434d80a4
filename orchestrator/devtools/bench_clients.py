"""The client programs `airlock bench egress` runs, the same in a session and on the host.

Each one times its own requests (``time.perf_counter``, or curl's ``time_total``), so a
figure never includes the cost of starting the program or of the exec that ran it. In a
session the clients find the proxy through ``HTTP_PROXY`` like any client; on the host
they run with no proxy variable at all, straight to the upstream.

- `download_argv`: one download to /dev/null; prints ``<http code> <bytes> <seconds>``
  (curl when both ends have it, else the Python client: the same program both ways);
- `requests_argv`: ``count`` requests in a row, one connection each (urllib sends
  ``Connection: close``), after ``warmup`` untimed ones; prints their times, in ms;
- `burst_argv`: ``count`` requests at once, one thread each, released together;
  prints how many got the whole body and the wall time from release to the last end.

The Python program is a constant written here; nothing but URLs and numbers the bench
makes is ever passed to it, and never through a shell.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ValidationError

DownloadClient = Literal["curl", "python"]

CLIENT = r"""
import json, sys, threading, time, urllib.request

def fetch(opener, url, size):
    got = 0
    with opener.open(url, timeout=120) as response:
        status = response.status
        buffer = bytearray(1 << 20)
        while True:
            n = response.readinto(buffer)
            if not n:
                break
            got += n
    if status != 200 or (size >= 0 and got != size):
        raise OSError("status %d, %d bytes of %d" % (status, got, size))
    return got

def main():
    mode, url, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    opener = urllib.request.build_opener()  # the proxy from HTTP_PROXY, if set
    if mode == "download":
        start = time.perf_counter()
        got = fetch(opener, url, size)
        print("200 %d %.6f" % (got, time.perf_counter() - start))
    elif mode == "requests":
        count, warmup = int(sys.argv[4]), int(sys.argv[5])
        times = []
        for i in range(warmup + count):
            start = time.perf_counter()
            fetch(opener, url, size)
            if i >= warmup:
                times.append(round((time.perf_counter() - start) * 1000, 4))
        print(json.dumps({"ms": times}))
    elif mode == "burst":
        count = int(sys.argv[4])
        ok, errors = [], []
        gate = threading.Barrier(count + 1)
        def one():
            gate.wait()
            try:
                fetch(opener, url, size)
                ok.append(1)
            except Exception as exc:
                errors.append("%s: %s" % (type(exc).__name__, exc))
        threads = [threading.Thread(target=one) for _ in range(count)]
        for thread in threads:
            thread.start()
        gate.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = (time.perf_counter() - start) * 1000
        print(json.dumps({"ok": len(ok), "wall_ms": round(wall, 3), "errors": errors[:3]}))

main()
"""

CURL_FORMAT = "%{http_code} %{size_download} %{time_total}"

# Runs where the session's curl runs: serves ``size`` zero bytes on 127.0.0.1 there and
# downloads them with curl ``rounds`` times, printing curl's CURL_FORMAT line each time.
# What that network stack moves at all, with no proxy: gVisor's own under runsc.
LOOPBACK = r"""
import socket, subprocess, sys, threading
curl, size, rounds, form = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
listener = socket.create_server(("127.0.0.1", 0))
piece = bytes(1 << 20)
def serve():
    while True:
        conn, _ = listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                more = conn.recv(65536)
                if not more:
                    break
                head += more
            status = b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
            conn.sendall(status + b"Content-Length: %d\r\n\r\n" % size)
            left = size
            while left:
                left -= conn.send(memoryview(piece)[: min(left, len(piece))])
threading.Thread(target=serve, daemon=True).start()
url = "http://127.0.0.1:%d/" % listener.getsockname()[1]
for _ in range(rounds):
    done = subprocess.run([curl, "-sS", "--fail", "-o", "/dev/null", "-w", form, url],
                          capture_output=True, text=True, check=True)
    print(done.stdout)
"""


class ClientError(Exception):
    """A client program failed or printed what the bench cannot read."""


class RequestTimes(BaseModel):
    """What `requests_argv` prints."""

    ms: list[float]


class BurstResult(BaseModel):
    """What `burst_argv` prints."""

    ok: int
    wall_ms: float
    errors: list[str]


def download_argv(client: DownloadClient, program: str, url: str, size: int) -> list[str]:
    """One download of ``size`` bytes from ``url`` with ``client``, started as
    ``program`` (its path or name where it runs)."""
    if client == "curl":
        return [program, "-sS", "--fail", "-o", "/dev/null", "-w", CURL_FORMAT, url]
    return [program, "-c", CLIENT, "download", url, str(size)]


def loopback_argv(python: str, curl: str, size: int, rounds: int) -> list[str]:
    """``rounds`` curl downloads of ``size`` bytes from a server beside it (`LOOPBACK`)."""
    return [python, "-c", LOOPBACK, curl, str(size), str(rounds), CURL_FORMAT]


def requests_argv(python: str, url: str, size: int, count: int, warmup: int) -> list[str]:
    """``count`` timed requests of a ``size``-byte body, one after another."""
    return [python, "-c", CLIENT, "requests", url, str(size), str(count), str(warmup)]


def burst_argv(python: str, url: str, size: int, count: int) -> list[str]:
    """``count`` requests of a ``size``-byte body, all at once."""
    return [python, "-c", CLIENT, "burst", url, str(size), str(count)]


def download_seconds(output: str, size: int) -> float:
    """The time a download took, by the client's own clock; a `ClientError` unless it
    got status 200 and exactly ``size`` bytes."""
    try:
        status, got, seconds = output.split()
        if status != "200" or int(got) != size:
            raise ClientError(f"the download got status {status} and {got} of {size} bytes")
        return float(seconds)
    except ValueError:
        raise ClientError(f"unexpected download output: {output[:200]!r}") from None


def request_times(output: str) -> list[float]:
    """Each request's time in ms, as `requests_argv` printed them."""
    try:
        return RequestTimes.model_validate(json.loads(output)).ms
    except (ValueError, ValidationError):
        raise ClientError(f"unexpected requests output: {output[:200]!r}") from None


def burst_result(output: str) -> BurstResult:
    """How a burst went, as `burst_argv` printed it."""
    try:
        return BurstResult.model_validate(json.loads(output))
    except (ValueError, ValidationError):
        raise ClientError(f"unexpected burst output: {output[:200]!r}") from None
