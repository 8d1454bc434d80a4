# ruff: noqa: E501  (in-container probes read best on one line)
"""Red team: what a command (uid 1000) can do with the root processes' /proc entries
(tini, the shell and `timeout` wrapper, the exec agent) and with the egress socket.

Reads: environ, cmdline, maps, mem, stack, syscall, io, auxv, fd/, fdinfo/, map_files/,
cwd, root (and ``root/run/airlock-egress``), ns/*. Writes: oom_score_adj, timerslack_ns,
comm, loginuid, attr/current, clear_refs, coredump_filter, sched_autogroup. Signals:
0, SIGSTOP, SIGKILL, SIGCONT. Connect: /run/airlock-egress/proxy.sock directly and
through /proc/<root pid>/root and cwd, and any other unix socket found. Also
process_vm_readv, ptrace attach, prlimit and setpriority on the agent.

Broken when any write, signal, ptrace, prlimit, priority change, open of a root-owned fd
or socket connect succeeds; a read of environ, maps, auxv or mem, or a listing of fd/ is
counted too (information about root's processes: under runsc these are readable, as
gVisor's /proc ignores dumpability). cmdline/stat/status reads are expected (ps works).
The command's own pipes, which the agent holds, open (uid 1000): expected.

Run: .venv/bin/python -m tests.redteam_pending.root_proc [runc|runsc]
Exit status 1 when the attack worked (the promise is broken).
"""

from __future__ import annotations

import asyncio
import os
import sys

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy

PROBE = r"""
import ctypes, errno, os, signal, socket, sys, glob
libc = ctypes.CDLL(None, use_errno=True)
roots = []
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            uid = [l for l in open(f"/proc/{p}/status") if l.startswith("Uid:")][0].split()[1]
            cmd = open(f"/proc/{p}/cmdline", "rb").read()[:60]
        except OSError:
            continue
        if uid == "0":
            roots.append(int(p))
            print("root process", p, cmd, flush=True)
bad = []
def note(what, ok, detail=""):
    print(("BREAK " if ok else "ok    ") + what, detail, flush=True)
    if ok:
        bad.append(what)
READS = ["environ", "maps", "mem", "stack", "syscall", "io", "auxv", "personality", "smaps", "pagemap", "numa_maps", "timerslack_ns", "sched", "wchan", "mountinfo", "attr/current", "limits", "cgroup", "oom_score_adj", "comm", "loginuid", "sessionid", "status"]
EXPECTED_READS = {"status", "sched", "wchan", "limits", "cgroup", "oom_score_adj", "comm", "loginuid", "sessionid", "attr/current", "mountinfo", "personality", "timerslack_ns"}
for pid in roots:
    for name in READS:
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                data = f.read(200)
            note(f"read /proc/{pid}/{name}", name not in EXPECTED_READS, repr(data[:60]))
        except OSError as e:
            print("ok    read", pid, name, e.strerror, flush=True)
    for name in ["fd", "fdinfo", "map_files", "cwd", "root", "root/run/airlock-egress", "cwd/.", "ns"]:
        try:
            listed = os.listdir(f"/proc/{pid}/{name}")
            note(f"list /proc/{pid}/{name}", name not in ("ns",), repr(listed[:40]))
        except OSError as e:
            print("ok    list", pid, name, e.strerror, flush=True)
    for fd in range(0, 12):
        for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
            try:
                h = os.open(f"/proc/{pid}/fd/{fd}", flags)
                os.close(h)
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    st = os.stat(f"/proc/{pid}/fd/{fd}")
                    link += f" uid={st.st_uid} mode={oct(st.st_mode)}"
                except OSError as e:
                    link = repr(e)
                owner = os.stat(f"/proc/{pid}/fd/{fd}").st_uid
                # the command's own pipes (uid 1000, held by the agent) are expected
                note(f"open /proc/{pid}/fd/{fd} flags={flags}", owner != 1000, link)
            except OSError as e:
                if e.errno not in (errno.ENOENT,):
                    pass
    for name, value in [("oom_score_adj", b"1000"), ("timerslack_ns", b"100000000"), ("comm", b"pwned"), ("clear_refs", b"1"), ("coredump_filter", b"0x7f"), ("sched_autogroup", b"19"), ("attr/current", b"x"), ("loginuid", b"5")]:
        try:
            with open(f"/proc/{pid}/{name}", "wb", buffering=0) as f:
                f.write(value)
            note(f"write /proc/{pid}/{name}", True)
        except OSError as e:
            print("ok    write", pid, name, e.strerror, flush=True)
    for sig in (0, signal.SIGCONT, signal.SIGSTOP):
        try:
            os.kill(pid, sig)
            note(f"kill({pid}, {sig})", sig != 0)
            if sig == signal.SIGSTOP:
                os.kill(pid, signal.SIGCONT)
        except OSError as e:
            print("ok    kill", pid, sig, e.strerror, flush=True)
    # ptrace attach (PTRACE_ATTACH=16), PTRACE_SEIZE=0x4206
    for req in (16, 0x4206):
        r = libc.ptrace(req, pid, 0, 0)
        note(f"ptrace({req:#x}, {pid})", r == 0, os.strerror(ctypes.get_errno()))
        if r == 0:
            libc.ptrace(17, pid, 0, 0)
    # process_vm_readv
    class iovec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    buf = ctypes.create_string_buffer(16)
    local = iovec(ctypes.cast(buf, ctypes.c_void_p), 16)
    remote = iovec(0x400000, 16)
    r = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    e = ctypes.get_errno()
    note(f"process_vm_readv({pid})", r >= 0 or e == errno.EFAULT, os.strerror(e))
    # prlimit: lower the agent's RLIMIT_NOFILE (7)
    class rlim(ctypes.Structure):
        _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]
    new = rlim(4, 4)
    r = libc.prlimit(pid, 7, ctypes.byref(new), None)
    note(f"prlimit({pid}, NOFILE)", r == 0, os.strerror(ctypes.get_errno()))
    try:
        os.setpriority(os.PRIO_PROCESS, pid, 19)
        note(f"setpriority({pid}, 19)", True, f"now {os.getpriority(os.PRIO_PROCESS, pid)}")
    except OSError as e:
        print("ok    setpriority", pid, e.strerror, flush=True)
    # pidfd_getfd (438) via pidfd_open (434)
    pfd = libc.syscall(434, pid, 0)
    if pfd >= 0:
        for fd in range(0, 10):
            r = libc.syscall(438, pfd, fd, 0)
            if r >= 0:
                note(f"pidfd_getfd({pid}, {fd})", True)
        os.close(pfd)
    else:
        print("ok    pidfd_open", pid, os.strerror(ctypes.get_errno()), flush=True)
paths = ["/run/airlock-egress/proxy.sock"] + [f"/proc/{p}/root/run/airlock-egress/proxy.sock" for p in roots] + [f"/proc/{p}/cwd/../run/airlock-egress/proxy.sock" for p in roots]
try:
    print("ls /run/airlock-egress:", os.listdir("/run/airlock-egress"), flush=True)
except OSError as e:
    print("ls /run/airlock-egress:", e, flush=True)
try:
    st = os.stat("/run/airlock-egress")
    print("stat /run/airlock-egress", oct(st.st_mode), st.st_uid, flush=True)
except OSError as e:
    print("stat /run/airlock-egress", e, flush=True)
for path in paths:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        note(f"connect {path}", True)
    except OSError as e:
        print("ok    connect", path, e, flush=True)
    s.close()
# abstract and other unix sockets listed in /proc/net/unix
try:
    for line in open("/proc/net/unix").read().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 8:
            name = parts[7]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(1)
            target = "\0" + name[1:] if name.startswith("@") else name
            try:
                s.connect(target)
                note(f"connect unix {name}", True)
            except OSError as e:
                print("ok    connect unix", name, e, flush=True)
            s.close()
except OSError as e:
    print("/proc/net/unix", e)
print("SUMMARY", len(bad), bad, flush=True)
"""


async def attack(runtime: str) -> bool:
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    async with DockerBackend().session(spec) as s:
        r = await s.exec(["python3", "-c", PROBE], timeout=60)
        print(r.stdout.decode())
        print(r.stderr.decode()[-2000:])
        alive = await s.exec(["echo", "alive"], timeout=10)
        print("after: alive =", alive.exit_code, alive.stdout)
        return b"BREAK" in r.stdout or alive.exit_code != 0


if __name__ == "__main__":
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runc"
    broken = asyncio.run(attack(runtime))
    print("BROKEN" if broken else "held")
    sys.exit(1 if broken else 0)
