# ruff: noqa: E501  (in-container probes read best on one line)
"""Where the runsc socket-transport corruption (`bridge_stress.py runsc 1 200000 nohold`)
comes from: the bridge's `_spliced` loop run inside a session between sockets the
command makes itself (no host socket): a Unix socketpair or a loopback TCP connection
as the source, a loopback TCP connection or a Unix socketpair as the target, with the
1 MiB pipe the bridge asks for and with the default pipe. 512 kB of counted words go
through each; what comes out must be the same.

Run: .venv/bin/python -m tests.redteam_pending.splice_runsc [runc|runsc]
Exit 1 when any combination changes the bytes.
"""

from __future__ import annotations

import asyncio
import sys

from sandbox import DockerBackend, SessionSpec

PROBE = r"""
import errno, fcntl, os, select, socket, struct, threading
SIZE = 512 * 1024
data = b"".join(struct.pack(">Q", k) for k in range(SIZE // 8))
def tcp_pair():
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
    c = socket.create_connection(l.getsockname()); s, _ = l.accept(); l.close()
    return c, s
def unix_pair():
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
def run(src_kind, dst_kind, big_pipe):
    src_w, src_r = (tcp_pair() if src_kind == "tcp" else unix_pair())
    dst_w, dst_r = (tcp_pair() if dst_kind == "tcp" else unix_pair())
    got = bytearray()
    def feed():
        src_w.sendall(data); src_w.shutdown(socket.SHUT_WR)
    def drain():
        while True:
            d = dst_r.recv(65536)
            if not d: break
            got.extend(d)
    tf, td = threading.Thread(target=feed), threading.Thread(target=drain)
    tf.start(); td.start()
    src_r.setblocking(False); dst_w.setblocking(False)
    pout, pin = os.pipe2(os.O_NONBLOCK)
    if big_pipe:
        try:
            fcntl.fcntl(pin, 1031, 1 << 20)
        except OSError as e:
            print("F_SETPIPE_SZ", e)
    while True:
        try:
            n = os.splice(src_r.fileno(), pin, 1 << 20, flags=1)
        except BlockingIOError:
            select.select([src_r], [], []); continue
        if n == 0: break
        while n:
            try:
                n -= os.splice(pout, dst_w.fileno(), n, flags=1)
            except BlockingIOError:
                select.select([], [dst_w], [])
    dst_w.shutdown(socket.SHUT_WR)
    tf.join(); td.join()
    ok = bytes(got) == data
    where = ""
    if not ok:
        bad = next((k for k in range(0, min(len(got), len(data)), 8) if got[k:k+8] != data[k:k+8]), None)
        where = f" len {len(got)} first bad byte {bad} found word {struct.unpack('>Q', bytes(got[bad:bad+8]))[0] if bad is not None else None}"
    print(f"{src_kind}->pipe({'1MiB' if big_pipe else 'default'})->{dst_kind}: {'same' if ok else 'DIFFERENT'}{where}", flush=True)
for s in ("unix", "tcp"):
    for d in ("tcp", "unix"):
        for big in (True, False):
            run(s, d, big)
"""


async def probe(runtime: str) -> bool:
    async with DockerBackend().session(SessionSpec(runtime=runtime)) as s:
        r = await s.exec(["python3", "-c", PROBE], timeout=120)
        print(r.stdout.decode(), r.stderr.decode()[-1500:])
        return b"DIFFERENT" in r.stdout or r.exit_code != 0


if __name__ == "__main__":
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runsc"
    broken = asyncio.run(probe(runtime))
    print("BROKEN" if broken else "held")
    sys.exit(1 if broken else 0)
