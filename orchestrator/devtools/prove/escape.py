"""The escape and abuse suite: what a hostile command tries from inside a session, one table.

Each case makes real attempts inside a sandbox (raw syscalls through python3's ctypes,
so that a missing tool cannot pass for a refusal) and judges an observable result: an
errno, a value read back, the uids the kernel reports for a setuid program, whether the
session still answers. A judge fails closed: output it cannot read is a violation.

No judgement depends on the machine's speed. Every probe's work is bounded by counts
(files, fds, processes, directory entries), never by a clock, and waits for events (a
child's exit, a program's first output), not for a sleep. Each attempt and follow-up gets
a generous budget that only a hung sandbox uses up; an attempt that runs out of it before
reporting is *undecided*: neither contained nor an escape, and never counted as contained.

Expectations that differ under gVisor (runsc) are written in each case's ``contained``
text and in its judge (see README, Known limits). Nothing here sends a packet: the
network case only reads /proc/net and /sys/class/net.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from docker.errors import DockerException
from pydantic import BaseModel, ConfigDict, model_validator
from rich.markup import escape
from rich.table import Table

from sandbox import Command, DockerBackend, DockerSession, SandboxError
from sandbox.exec_agent import KILL_GRACE
from sandbox.results import ExecResult
from sandbox.spec import SessionSpec

MAX_OUTPUT = 256 * 1024
REFUSED = {"EACCES", "EPERM", "EROFS", "ENOENT"}  # a write that did not get through
ENGINE_WORDS = ("docker", "containerd", "podman", "crio", "buildkit", "runsc", "runc", "shim")
ENGINE_WALK_ENTRIES = 1_000_000  # files and folders the socket search looks at, at most


# Budgets for liveness, not measurements: an honest probe ends long before them even on a
# slow, loaded machine (the slowest, the inode flood under runsc, takes about 30 s there).
ATTEMPT_BUDGET = 300.0  # seconds an attempt may run before it is undecided
FOLLOW_UP_BUDGET = 120.0  # seconds the session has to answer the follow-up


class Undecided(Exception):
    """A judge saw too little to decide either way (e.g. the probe ran out of time)."""


class CaseResult(BaseModel):
    """One case on one runtime: contained, an escape, or undecided; and what showed it."""

    model_config = ConfigDict(frozen=True)

    name: str
    runtime: str
    contained: bool
    evidence: str
    undecided: bool = False  # the judge could not decide: not contained, not an escape

    @model_validator(mode="after")
    def _one_outcome(self) -> CaseResult:
        if self.contained and self.undecided:
            raise ValueError("a result is contained or undecided, not both")
        return self

    @property
    def outcome(self) -> str:
        """contained, undecided or violation."""
        if self.contained:
            return "contained"
        return "undecided" if self.undecided else "violation"


@dataclass(frozen=True)
class Seen:
    """What one run of a case observed; its judge decides from this alone."""

    spec: SessionSpec
    attempt: ExecResult | None  # None: the session refused to run it
    after: ExecResult | None = None  # the follow-up command, once it exited 0 (or the last try)
    lost: str | None = None  # why the session refused a command, if it did
    seconds: float = 0.0  # wall-clock of the attempt, measured on the host

    @property
    def runtime(self) -> str:
        return self.spec.runtime

    def report(self) -> Any:
        """The attempt's last stdout line, as JSON (every probe ends with one).

        Raises `Undecided` if the probe ran out of time before it printed that line (a slow
        machine or a hung sandbox: no judgement either way), ValueError for anything else.
        """
        if self.attempt is None:
            raise ValueError(f"no attempt: {self.lost}")
        lines = self.attempt.stdout.decode("utf-8", "replace").strip().splitlines()
        try:
            if not lines:
                err = self.attempt.stderr.decode("utf-8", "replace").strip()[-300:]
                raise ValueError(f"no probe output ({self.attempt.status}): {err}")
            return json.loads(lines[-1])
        except ValueError as exc:
            if self.attempt.timed_out:
                raise Undecided(f"the probe ran out of time before it reported ({exc})") from exc
            raise

    def after_report(self) -> Any:
        if self.after is None or self.after.exit_code != 0:
            raise ValueError(f"the session did not answer afterwards: {self._after_why()}")
        return json.loads(self.after.stdout.decode().strip().splitlines()[-1])

    def answered(self) -> bool:
        return self.after is not None and self.after.exit_code == 0

    def _after_why(self) -> str:
        if self.lost:
            return self.lost
        if self.after is None:
            return "no follow-up ran"
        return f"{self.after.status}: {self.after.stderr.decode(errors='replace')[-200:]}"


Judge = Callable[[Seen], tuple[bool, str]]


@dataclass(frozen=True)
class Case:
    """One attempt: what it tries, what contained means, and the judge that decides."""

    name: str
    tries: str
    contained: str
    command: Command
    judge: Judge
    timeout: float = ATTEMPT_BUDGET  # the attempt's exec timeout
    after: Command | None = None  # a follow-up that must answer (retried until it exits 0)
    settle: float = FOLLOW_UP_BUDGET  # how long the follow-up may take to answer, in all
    own_session: bool = False  # may exhaust or kill its session: gets a fresh one

    async def run(self, session: DockerSession) -> CaseResult:
        """Run the attempt (and the follow-up) in ``session`` and judge what was seen."""
        began = time.monotonic()
        try:
            attempt = await session.exec(self.command, timeout=self.timeout, max_output=MAX_OUTPUT)
        except SandboxError as exc:
            seen = Seen(session.spec, None, lost=str(exc), seconds=time.monotonic() - began)
        else:
            seconds = time.monotonic() - began
            after, lost = await self._follow_up(session) if self.after else (None, None)
            seen = Seen(session.spec, attempt, after, lost, seconds)
        contained, undecided = False, False
        try:
            contained, evidence = self.judge(seen)
        except Undecided as exc:
            undecided, evidence = True, f"cannot judge: {exc}"
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            evidence = f"cannot judge: {exc}"  # fails closed: a violation
        return CaseResult(
            name=self.name,
            runtime=session.spec.runtime,
            contained=contained,
            undecided=undecided,
            evidence=evidence,
        )

    async def _follow_up(self, session: DockerSession) -> tuple[ExecResult | None, str | None]:
        """Run ``after`` until it exits 0 (killed processes take a moment to go)."""
        assert self.after is not None
        deadline = time.monotonic() + self.settle
        while True:
            left = max(deadline - time.monotonic(), 1.0)
            try:
                result = await session.exec(self.after, timeout=left, max_output=MAX_OUTPUT)
            except SandboxError as exc:
                return None, str(exc)
            if result.exit_code == 0 or time.monotonic() >= deadline:
                return result, None
            await asyncio.sleep(0.25)  # a pause between tries, not a wait for an event


def _python(source: str, *args: object) -> list[str]:
    return ["python3", "-c", source, *(str(arg) for arg in args)]


# --- writes to kernel settings -------------------------------------------------------

WRITE_PROBE = r"""
import errno, json, os, sys
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read(200).decode("utf-8", "replace")
    except OSError as e:
        return "!" + errno.errorcode.get(e.errno, str(e.errno))
rows = []
for path, payload in json.loads(sys.argv[1]):
    row = {"path": path, "before": read(path)}
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        row["open"] = errno.errorcode.get(e.errno, str(e.errno))
    else:
        row["open"] = "ok"
        try:
            if payload is not None:  # None: opening for write is the test (a write would act)
                os.write(fd, payload.encode())
            row["write"] = "ok"
        except OSError as e:
            row["write"] = errno.errorcode.get(e.errno, str(e.errno))
        finally:
            os.close(fd)
    row["after"] = read(path)
    rows.append(row)
print(json.dumps(rows))
"""


def _judge_writes(must_exist: int) -> Judge:
    """Contained: every open for writing refused, every value read back unchanged."""

    def judge(seen: Seen) -> tuple[bool, str]:
        rows = seen.report()
        existing = [row for row in rows if row["before"] != "!ENOENT"]
        parts, ok = [], len(existing) >= must_exist
        for row in rows:
            same = row["before"] == row["after"]
            ok = ok and row["open"] in REFUSED and same
            state = "unchanged" if same else f"CHANGED {row['before']!r}->{row['after']!r}"
            opened = (
                "OPENED, write " + row.get("write", "?") if row["open"] == "ok" else row["open"]
            )
            parts.append(f"{row['path']}: {opened}, {state}")
        if len(existing) < must_exist:
            parts.append(f"only {len(existing)} target(s) exist, need {must_exist}")
        return ok, "; ".join(parts)

    return judge


def _write_case(
    name: str, targets: list[tuple[str, str | None]], must_exist: int, tries: str, contained: str
) -> Case:
    return Case(
        name, tries, contained, _python(WRITE_PROBE, json.dumps(targets)), _judge_writes(must_exist)
    )


SYSRQ = _write_case(
    "sysrq-trigger",
    [("/proc/sysrq-trigger", None)],
    must_exist=0,
    tries="open /proc/sysrq-trigger for writing (a write would act on the host kernel)",
    contained="open refused (EACCES/EPERM/EROFS) or the file is absent (kernel without "
    "sysrq); both runtimes",
)
PROC_SYS = _write_case(
    "write /proc/sys",
    [
        ("/proc/sys/kernel/hostname", "airlock-escaped"),
        ("/proc/sys/kernel/core_pattern", None),  # global: never actually written
        ("/proc/sys/kernel/modprobe", None),
    ],
    must_exist=1,
    tries="write kernel.hostname, open kernel.core_pattern and kernel.modprobe for writing",
    contained="every open refused (EACCES/EPERM/EROFS, ENOENT where gVisor lacks the "
    "file) and values read back unchanged",
)
SYS = _write_case(
    "write /sys",
    [
        ("/sys/class/net/lo/mtu", "1280"),
        ("/sys/class/net/lo/gro_flush_timeout", "1"),  # one of the few in gVisor's sysfs
        ("/sys/devices/system/cpu/online", None),
        ("/sys/kernel/mm/transparent_hugepage/enabled", None),
        ("/sys/kernel/uevent_helper", None),
    ],
    must_exist=1,
    tries="write lo's MTU and gro_flush_timeout; open cpu/online, THP and uevent_helper "
    "for writing",
    contained="every open refused (runc: read-only sysfs; runsc: gVisor's own sysfs, "
    "fewer files) and values unchanged",
)
# Not in CASES: a write the sandbox allows, so the detector must report it.
CONTROL = Case(
    "control: write /workspace",
    "write a file in the agent's own /workspace (allowed: must be reported NOT contained)",
    "never: this proves the write detector is not a no-op",
    [
        "sh",
        "-c",
        'echo original > /workspace/.airlock-control && exec python3 -c "$0" "$1"',
        WRITE_PROBE,
        json.dumps([("/workspace/.airlock-control", "changed")]),
    ],
    _judge_writes(1),
)


# --- device nodes ----------------------------------------------------------------------

MKNOD_PROBE = r"""
import errno, json, os, stat
rows = []
NODES = (("block 8:0", stat.S_IFBLK, 8, 0), ("char 1:1", stat.S_IFCHR, 1, 1))
for name, kind, major, minor in NODES:
    path, row = "/workspace/.airlock-node", {"node": name}
    try:
        os.mknod(path, kind | 0o666, os.makedev(major, minor))
    except OSError as e:
        row["mknod"] = errno.errorcode.get(e.errno, str(e.errno))
    else:
        row["mknod"] = "ok"
        try:
            os.close(os.open(path, os.O_RDWR))
            row["open"] = "ok"
        except OSError as e:
            row["open"] = errno.errorcode.get(e.errno, str(e.errno))
        os.unlink(path)
    rows.append(row)
print(json.dumps(rows))
"""


def judge_mknod(seen: Seen) -> tuple[bool, str]:
    rows = seen.report()
    ok = bool(rows)
    for row in rows:
        if seen.runtime == "runsc":  # gVisor's tmpfs lets the node be made; it leads nowhere
            ok = ok and (
                row["mknod"] == "EPERM" or row.get("open") in {"ENXIO", "ENODEV", "EPERM", "EACCES"}
            )
        else:
            ok = ok and row["mknod"] == "EPERM"
    parts = [
        f"{r['node']}: mknod {r['mknod']}" + (f", open {r['open']}" if "open" in r else "")
        for r in rows
    ]
    return ok, "; ".join(parts)


MKNOD = Case(
    "mknod device",
    "mknod a block device (8:0, sda) and a char device (1:1, /dev/mem) in /workspace",
    "runc: mknod EPERM (no CAP_MKNOD). runsc: the 2022-12 gVisor lets an unprivileged user "
    "make the node on its tmpfs, so contained = opening it fails (ENXIO: no host device "
    "behind gVisor's devices)",
    _python(MKNOD_PROBE),
    judge_mknod,
)


# --- raw and packet sockets ------------------------------------------------------------

SOCKET_PROBE = r"""
import errno, json, socket
rows = {}
for name, args in (
    ("AF_INET/SOCK_RAW", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
    ("AF_INET6/SOCK_RAW", (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)),
    ("AF_PACKET/SOCK_RAW", (socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))),
    ("AF_PACKET/SOCK_DGRAM", (socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))),
):
    try:
        socket.socket(*args).close()  # created only: nothing is ever sent
        rows[name] = "ok"
    except OSError as e:
        rows[name] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(rows))
"""


def judge_sockets(seen: Seen) -> tuple[bool, str]:
    rows: dict[str, str] = seen.report()
    ok = bool(rows) and all(v in {"EPERM", "EACCES", "EAFNOSUPPORT"} for v in rows.values())
    return ok, ", ".join(f"{k} {v}" for k, v in rows.items())


SOCKETS = Case(
    "raw/packet socket",
    "create AF_INET/AF_INET6 SOCK_RAW and AF_PACKET sockets (created, never used)",
    "every socket() refused (EPERM/EACCES: no CAP_NET_RAW); both runtimes",
    _python(SOCKET_PROBE),
    judge_sockets,
)


# --- the cgroup release_agent escape ---------------------------------------------------

CGROUP_PROBE = r"""
import ctypes, errno, glob, json, os
libc = ctypes.CDLL(None, use_errno=True)
def call(fn, *args):
    return "ok" if fn(*args) == 0 else errno.errorcode.get(ctypes.get_errno(), "?")
target = b"/tmp/.airlock-cgroup"
os.makedirs(target, exist_ok=True)
KINDS = ((b"cgroup", b"memory"), (b"cgroup", b"rdma"), (b"cgroup", b"none,name=airlock"),
         (b"cgroup2", None))
def mounts():
    seen = {}
    for fstype, opts in KINDS:
        result = call(libc.mount, b"cgroup", target, fstype, 0, opts)
        seen[(fstype + b":" + (opts or b"")).decode()] = result
        if result == "ok":
            libc.umount2(target, 2)
    return seen
out = {"mount": mounts(), "open": {}}
paths = ["/sys/fs/cgroup/release_agent", "/sys/fs/cgroup/notify_on_release"]
for name in ("release_agent", "notify_on_release"):
    paths += glob.glob(f"/sys/fs/cgroup/*/{name}")
for path in paths:
    try:
        os.close(os.open(path, os.O_WRONLY))  # opened only: never write a release agent
        out["open"][path] = "ok"
    except OSError as e:
        out["open"][path] = errno.errorcode.get(e.errno, str(e.errno))
# CVE-2022-0492's way: root of a new user (and mount, cgroup) namespace, then mount again.
uid, gid = os.getuid(), os.getgid()
out["unshare"] = call(libc.unshare, 0x10000000 | 0x00020000 | 0x02000000)
if out["unshare"] == "ok":
    maps = (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1"))
    for name, value in maps:
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(value)
        except OSError:
            pass
    out["userns_uid"] = os.getuid()
    out["userns_mount"] = mounts()
print(json.dumps(out))
"""


def judge_cgroup(seen: Seen) -> tuple[bool, str]:
    out = seen.report()
    mounts = {**out["mount"], **{f"userns {k}": v for k, v in out.get("userns_mount", {}).items()}}
    ok = all(v in {"EPERM", "EACCES", "ENODEV"} for v in mounts.values())
    ok = ok and all(v in REFUSED for v in out["open"].values())
    refused = sorted(set(mounts.values()))
    opened = [f"{p.removeprefix('/sys/fs/cgroup/')} {v}" for p, v in out["open"].items()]
    userns = f"unshare(NEWUSER) {out['unshare']}"
    if "userns_uid" in out:
        userns += f" (uid {out['userns_uid']} inside)"
    return ok, (
        f"{len(mounts)} cgroup mounts: {'/'.join(refused)}; {userns}; "
        f"open for write: {', '.join(opened)}"
    )


CGROUP = Case(
    "cgroup release_agent",
    "mount cgroup v1/v2 (raw mount(2)), also as root of a new user namespace; open "
    "release_agent/notify_on_release for writing",
    "every mount EPERM and no release_agent/notify_on_release opened for writing. runc: "
    "unshare is EPERM (seccomp); runsc: unshare works (gVisor's own namespaces) and the "
    "mounts are still EPERM",
    _python(CGROUP_PROBE),
    judge_cgroup,
)


# --- kernel modules --------------------------------------------------------------------

MODULE_PROBE = r"""
import ctypes, errno, json, os, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def syscall(number, *args):
    if libc.syscall(number, *args) == 0:
        return "ok"
    return errno.errorcode.get(ctypes.get_errno(), "?")
image = ctypes.create_string_buffer(b"\x7fELF" + bytes(60), 64)
fd = os.open("/dev/null", os.O_RDONLY)
print(json.dumps({"machine": platform.machine(), "calls": {
    "init_module": syscall(175, image, ctypes.c_ulong(64), b""),
    "finit_module": syscall(313, fd, b"", 0),
    "delete_module": syscall(176, b"airlock_none", os.O_NONBLOCK),
}}))
"""


def judge_modules(seen: Seen) -> tuple[bool, str]:
    out = seen.report()
    if out["machine"] != "x86_64":  # the syscall numbers are x86_64's
        raise Undecided(f"the probe's syscall numbers are x86_64's, not {out['machine']}'s")
    calls: dict[str, str] = out["calls"]
    ok = all(v in {"EPERM", "ENOSYS"} for v in calls.values())
    return ok, ", ".join(f"{k} {v}" for k, v in calls.items())


MODULES = Case(
    "kernel modules",
    "init_module (175) with an ELF-looking image, finit_module (313) on an fd, delete_module",
    "every call EPERM (no CAP_SYS_MODULE; runc's seccomp) or ENOSYS (gVisor has no "
    "modules); anything else means the permission check was passed",
    _python(MODULE_PROBE),
    judge_modules,
)


# --- setuid ------------------------------------------------------------------------------

SETUID_PROBE = r"""
import ctypes, errno, json, os, select, shutil, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
out = {"uid": os.getuid(), "no_new_privs": libc.prctl(39, 0, 0, 0, 0), "setuid_root": {}}
copy = "/workspace/.airlock-suid"
shutil.copy("/usr/bin/python3", copy)
os.chmod(copy, 0o4755)
try:
    os.chown(copy, 0, 0)
    out["chown_root"] = "ok"
except OSError as e:
    out["chown_root"] = errno.errorcode.get(e.errno, str(e.errno))
out["copy_mode"] = oct(os.stat(copy).st_mode & 0o7777)
ran = subprocess.run([copy, "-c", "import os; print(*os.getresuid(), *os.getresgid())"],
                     capture_output=True, text=True, timeout=float(sys.argv[1]))
out["copy_ids"] = ran.stdout.split()
os.unlink(copy)
for binary in ("/usr/bin/su", "/usr/bin/passwd"):
    try:
        st = os.stat(binary)
    except OSError:
        continue
    if st.st_uid != 0 or not st.st_mode & 0o4000:
        continue
    proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    # Its first output (the password prompt) is written by the program itself, so its exec
    # and the credentials the exec gave it are complete: read them then (it waits on stdin).
    ids = None
    if select.select([proc.stdout], [], [], float(sys.argv[1]))[0]:
        if os.read(proc.stdout.fileno(), 4096):
            with open(f"/proc/{proc.pid}/status") as f:
                ids = [line.split()[1:] for line in f if line.startswith(("Uid:", "Gid:"))]
    proc.kill()
    proc.wait()
    out["setuid_root"][binary] = ids
print(json.dumps(out))
"""


def judge_setuid(seen: Seen) -> tuple[bool, str]:
    out = seen.report()
    uid = str(out["uid"])
    ok = out["chown_root"] == "EPERM" and out["copy_ids"] == [uid] * 6
    observed = {b: ids for b, ids in out["setuid_root"].items() if ids is not None}
    for ids in observed.values():
        ok = ok and all(value == uid for row in ids for value in row)
    parts = [
        f"chown root {out['chown_root']}",
        f"own {out['copy_mode']} copy ran as {' '.join(out['copy_ids']) or '?'}",
    ]
    for binary, ids in out["setuid_root"].items():
        shown = "/".join(row[1] for row in ids) if ids else "not observed"
        parts.append(f"{binary} (root, u+s) euid/egid {shown}")
    parts.append(f"no_new_privs {out['no_new_privs']}")
    if ok and not observed:  # nothing seen to have escaped, but no setuid program was seen
        raise Undecided("no setuid-root program ran long enough to be read: " + "; ".join(parts))
    return ok, "; ".join(parts)


SETUID = Case(
    "setuid binary",
    "chown a u+s copy of python3 to root; run it; run the image's setuid-root su/passwd "
    "and read their uids from /proc",
    "chown EPERM, the copy runs as 1000, and su/passwd keep euid/egid 1000 "
    "(no-new-privileges, nosuid); both runtimes",
    _python(SETUID_PROBE, ATTEMPT_BUDGET / 5),  # per program it runs (three at most)
    judge_setuid,
)


# --- the engine's socket -------------------------------------------------------------------

ENGINE_PROBE = r"""
import json, os, stat, sys
known = ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
         "/run/containerd/containerd.sock.ttrpc", "/run/podman/podman.sock",
         "/run/crio/crio.sock", "/run/buildkit/buildkitd.sock"]
out = {"present": [p for p in known if os.path.lexists(p)], "sockets": [], "complete": True,
       "env": sorted(k for k in os.environ if k.startswith(("DOCKER", "CONTAINERD")))}
budget = int(sys.argv[1])  # entries to look at; the images hold about 12000
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
    budget -= len(dirs) + len(files)
    if budget < 0:
        out["complete"] = False
        break
    for name in dirs + files:
        path = os.path.join(root, name)
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                out["sockets"].append(path)
        except OSError:
            pass
try:
    with open("/proc/net/unix") as f:
        rows = [line.split() for line in f.read().splitlines()[1:]]
    out["unix"] = sorted({row[7] for row in rows if len(row) > 7})
except OSError as e:
    out["unix"] = ["!" + str(e)]
print(json.dumps(out))
"""


def judge_engine(seen: Seen) -> tuple[bool, str]:
    out = seen.report()
    found = out["sockets"] + out["unix"]
    engine = [s for s in found if any(word in s.lower() for word in ENGINE_WORDS)]
    ok = not out["present"] and not engine and not out["env"]
    evidence = (
        f"engine paths present: {out['present'] or 'none'}; sockets on the filesystem: "
        f"{out['sockets'] or 'none'}; /proc/net/unix: {out['unix'] or 'none'}"
    )
    if out["env"]:
        evidence += f"; env {out['env']}"
    if not out["complete"]:
        evidence += "; filesystem walk INCOMPLETE (entry budget spent)"
        if ok:  # nothing found, but not everything was looked at
            raise Undecided(evidence)
    return ok, evidence


ENGINE = Case(
    "engine socket",
    "look for docker.sock/containerd.sock and any socket on the filesystem or in /proc/net/unix",
    "no engine socket, path or DOCKER_* variable anywhere the sandbox can see; both runtimes",
    _python(ENGINE_PROBE, ENGINE_WALK_ENTRIES),
    judge_engine,
)


# --- the network -----------------------------------------------------------------------------

NET_PROBE = r"""
import json, os
def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError as e:
        return ["!" + str(e)]
print(json.dumps({
    "dev": [l.split(":")[0].strip() for l in lines("/proc/net/dev")[2:]],
    "route": lines("/proc/net/route")[1:],
    "ipv6_route": [l.split()[-1] for l in lines("/proc/net/ipv6_route") if l.strip()],
    "if_inet6": [l.split()[-1] for l in lines("/proc/net/if_inet6") if l.strip()],
    "sys": sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else None,
}))
"""


def judge_network(seen: Seen) -> tuple[bool, str]:
    out = seen.report()
    lo_only = all(dev == "lo" for dev in out["ipv6_route"] + out["if_inet6"])
    ok = out["dev"] == ["lo"] and out["route"] == [] and lo_only and out["sys"] in (None, ["lo"])
    return ok, (
        f"interfaces {out['dev']}, /sys/class/net {out['sys']}, {len(out['route'])} "
        f"IPv4 routes, IPv6 routes on {sorted(set(out['ipv6_route'])) or 'none'}, "
        f"IPv6 addresses on {sorted(set(out['if_inet6'])) or 'none'}"
    )


NETWORK = Case(
    "network off",
    "read /proc/net/{dev,route,ipv6_route,if_inet6} and /sys/class/net (no packet is sent)",
    "only lo, no IPv4 route, IPv6 routes and addresses only on lo (runc lists lo's "
    "multicast routes, runsc ::1); both runtimes",
    _python(NET_PROBE),
    judge_network,
)


# --- exhaustion ------------------------------------------------------------------------------

ALIVE = ["echo", "alive"]

FD_PROBE = r"""
import errno, json, os, resource, sys
cap = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
fds, hit = [], None
while len(fds) < cap:
    try:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        hit = errno.errorcode.get(e.errno, str(e.errno))
        break
print(json.dumps({"opened": len(fds), "hit": hit, "soft": soft, "hard": hard}))
"""


def judge_fds(seen: Seen) -> tuple[bool, str]:
    out = seen.report()
    ok = out["hit"] in {"EMFILE", "ENFILE"} and seen.answered()
    limit = f"RLIMIT_NOFILE {out['soft']}/{out['hard']}"
    stop = out["hit"] or f"no limit within {out['opened']}"
    return ok, f"{stop} after {out['opened']} fds ({limit}); {_answer(seen)}"


FDS = Case(
    "fd exhaustion",
    "open /dev/null until an error (at most 100000 fds)",
    "the process hits EMFILE (the engine's nofile rlimit) and the session answers the next "
    "exec; both runtimes",
    _python(FD_PROBE, 100_000),
    judge_fds,
    after=ALIVE,
    own_session=True,
)

INODE_PROBE = r"""
import errno, json, os, sys
cap = int(sys.argv[1])
out = {}
for folder in ("/workspace/.airlock-inodes", "/tmp/.airlock-inodes"):
    os.makedirs(folder, exist_ok=True)
    made, hit = 0, None
    while made < cap:
        try:
            os.close(os.open(f"{folder}/{made}", os.O_CREAT | os.O_WRONLY, 0o600))
            made += 1
        except OSError as e:
            hit = errno.errorcode.get(e.errno, str(e.errno))
            break
    out[folder] = {"made": made, "hit": hit, "inodes": os.statvfs(folder).f_files}
print(json.dumps(out))
"""


def judge_inodes(seen: Seen) -> tuple[bool, str]:
    out = seen.report()
    capped = all(v["hit"] in {"ENOSPC", "EDQUOT"} for v in out.values())
    # gVisor's tmpfs ignores nr_inodes (f_files 0): its files live in the Sentry's memory,
    # so there memory bounds them (a flood past it ends the whole sandbox, README)
    uncapped_ok = seen.runtime == "runsc" and all(v["inodes"] == 0 for v in out.values())
    ok = seen.answered() and (capped or uncapped_ok)
    parts = [
        f"{folder.split('/')[1]}: {v['hit'] or 'no limit'} after {v['made']} files "
        f"(f_files {v['inodes']})"
        for folder, v in out.items()
    ]
    return ok, "; ".join(parts) + f"; {_answer(seen)}"


INODES = Case(
    "inode exhaustion",
    "create empty files in /workspace and /tmp until an error (at most 70000 each)",
    "runc: creation stops at ENOSPC (the mounts' nr_inodes cap, below 70000), not at the "
    "memory limit; runsc: gVisor's tmpfs has no inode cap, memory bounds it; the session "
    "answers, then cleans up",
    _python(INODE_PROBE, 70_000),
    judge_inodes,
    after=["sh", "-c", "rm -rf /workspace/.airlock-inodes /tmp/.airlock-inodes && echo alive"],
    own_session=True,
)

FORK_PROBE = r"""
import errno, json, os, signal, sys
cap = int(sys.argv[1])
kids, hit = [], None
while len(kids) < cap:
    try:
        pid = os.fork()
    except OSError as e:
        hit = errno.errorcode.get(e.errno, str(e.errno))
        break
    if pid == 0:
        try:
            os.execv("/bin/sleep", ["sleep", "86400"])  # lives until killed below
        finally:
            os._exit(127)
    kids.append(pid)
print(json.dumps({"forked": len(kids), "hit": hit}), flush=True)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
for pid in kids:
    os.waitpid(pid, 0)
"""


def judge_fork(seen: Seen) -> tuple[bool, str]:
    if seen.runtime == "runsc" and seen.attempt is not None and seen.attempt.error:
        # The host's pids cgroup counts gVisor's own threads: a flood ends the sandbox.
        # Contained when the command says so and the session refuses what follows.
        ok = seen.after is None and seen.lost is not None
        return ok, f"sandbox ended: {seen.attempt.error}; next exec: {seen.lost or _answer(seen)}"
    out = seen.report()
    limit = seen.spec.limits.pids
    stop = out["hit"] or f"no limit within {out['forked']}"
    evidence = f"{stop} after {out['forked']} processes; {_answer(seen)}"
    if seen.runtime == "runsc":  # processes inside gVisor are not bounded by the spec's pids
        return seen.answered(), evidence
    return out["hit"] == "EAGAIN" and out["forked"] < limit and seen.answered(), (
        f"{evidence} (pids limit {limit})"
    )


FORK = Case(
    "process exhaustion",
    "fork sleeping children until fork fails (at most 2000), then kill them",
    "runc: fork fails with EAGAIN below the pids limit and the session answers. runsc: the "
    "host's pids cgroup counts gVisor's threads (README), so the flood either stays under "
    "it and the session answers, or ends the whole sandbox: the command returns an error "
    "and the session refuses further commands",
    _python(FORK_PROBE, 2000),
    judge_fork,
    after=ALIVE,
    own_session=True,
)

ZOMBIE_PROBE = r"""
import errno, json, os, sys
def states():
    seen = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    seen.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass
    return seen
baseline, kids, hit = len(states()), [], None
for _ in range(int(sys.argv[1])):
    try:
        pid = os.fork()
    except OSError as e:
        hit = errno.errorcode.get(e.errno, str(e.errno))
        break
    if pid == 0:
        os._exit(0)
    kids.append(pid)
for pid in kids:  # returns once the child has exited, and leaves it unreaped (WNOWAIT)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
made, zombies = len(kids), states().count("Z")
print(json.dumps({"baseline": baseline, "made": made, "zombies": zombies, "hit": hit}))
"""  # exits without reaping: its zombies pass to the container's init
PROCS_PROBE = r"""
import json, os, sys, time
def procs():
    seen = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")[:2]
                seen.append((state, b" ".join(argv).decode(errors="replace")))
            except OSError:
                pass
    return seen
deadline = time.monotonic() + float(sys.argv[1])  # a budget: it returns once none is left
while any(s == "Z" for s, _ in procs()) and time.monotonic() < deadline:
    time.sleep(0.2)
seen = procs()
print(json.dumps({"procs": len(seen), "zombies": sum(s == "Z" for s, _ in seen),
                  "argv": sorted(a for _, a in seen)}))
"""


def judge_zombies(seen: Seen) -> tuple[bool, str]:
    out, after = seen.report(), seen.after_report()
    flooded = out["made"] > 0 and out["zombies"] >= out["made"]  # every child a zombie
    back = after["zombies"] == 0 and after["procs"] <= out["baseline"] + 1
    return flooded and back, (
        f"{out['made']} children never reaped ({out['zombies']} zombies seen"
        f"{', fork ' + out['hit'] if out['hit'] else ''}); after the parent exited: "
        f"{after['zombies']} zombies, {after['procs']} processes (baseline {out['baseline']})"
    )


ZOMBIES = Case(
    "zombie flood",
    "fork 150 children that exit at once, never reap them, exit the parent",
    "the zombies are reaped by the container's init (tini): no zombie left and the process "
    "count back at its baseline, the session answering; both runtimes",
    _python(ZOMBIE_PROBE, 150),
    judge_zombies,
    after=_python(PROCS_PROBE, FOLLOW_UP_BUDGET / 2),
    own_session=True,
)


# --- output ------------------------------------------------------------------------------------

CLOSED_TIMEOUT = 3.0


def judge_closed_output(seen: Seen) -> tuple[bool, str]:
    """Contained: the agent's own timeout fired and killed everything the command started.

    Told by events, not by the clock: ``timed_out`` with no error is the agent's report
    that its timer fired (the sleep outlasts it 10x); the host's safety net, which fires
    only if the agent never reports, sets an error instead.
    """
    attempt = seen.attempt
    if attempt is None:
        return False, f"did not run: {seen.lost}"
    after = seen.after_report()
    left = [a for a in after["argv"] if a == "sleep 30"]
    by_agent = attempt.timed_out and attempt.error is None
    how = "the agent's timeout fired" if by_agent else f"returned {attempt.status}"
    if attempt.error:
        how += f" ({attempt.error})"
    return by_agent and not left, (
        f"{how} after {seen.seconds:.1f} s (timeout {CLOSED_TIMEOUT:.0f} s, kill grace "
        f"{KILL_GRACE:.0f} s); sleep processes left: {len(left)}"
    )


CLOSED_OUTPUT = Case(
    "closed stdout/stderr",
    "close stdout and stderr, then sleep 30 s, under a 3 s exec timeout",
    "the agent's timeout fires (the exec returns timed_out, not the host's safety net), "
    "nothing it started is left, and the session answers; both runtimes",
    "exec >&- 2>&-; sleep 30",
    judge_closed_output,
    timeout=CLOSED_TIMEOUT,
    after=_python(PROCS_PROBE, FOLLOW_UP_BUDGET / 2),
)

PATTERN = b"\xff\xfe\x00\x80\xc0\xaf\xed\xa0\x80\r\n"
PATTERN_ERR = b"\xff\x00\xfe"
BINARY_COMMAND = (
    "head -c 4096 /dev/urandom > /tmp/.airlock-random && "
    "printf '\\377\\376\\000\\200\\300\\257\\355\\240\\200\\r\\n' && cat /tmp/.airlock-random && "
    "printf '\\377\\000\\376' >&2 && sha256sum < /tmp/.airlock-random >&2; "
    "rm -f /tmp/.airlock-random"
)


def judge_binary(seen: Seen) -> tuple[bool, str]:
    attempt = seen.attempt
    if attempt is None:
        return False, f"did not run: {seen.lost}"
    out, err = attempt.stdout, attempt.stderr
    body = out[len(PATTERN) :]
    digest = err[len(PATTERN_ERR) :].split(b" ")[0].decode("ascii", "replace")
    checks = {
        "stdout pattern": out.startswith(PATTERN),
        "4096 random bytes": len(body) == 4096,
        "sha256 matches": hashlib.sha256(body).hexdigest() == digest,
        "stderr pattern": err.startswith(PATTERN_ERR),
        "not truncated": not attempt.truncated,
        "exit 0": attempt.exit_code == 0,
    }
    bad = [name for name, ok in checks.items() if not ok]
    return not bad, (
        f"{len(out)} + {len(err)} bytes back; "
        + ("all intact" if not bad else f"FAILED: {', '.join(bad)}")
        + f" ({PATTERN.hex()} .. sha256 {digest[:12]})"
    )


BINARY = Case(
    "binary output",
    "write invalid UTF-8 (a fixed pattern with NUL, lone continuation bytes, a surrogate) "
    "and 4096 random bytes to stdout, a pattern and their sha256 to stderr",
    "every byte comes back exactly (pattern equal, sha256 equal, nothing truncated); both runtimes",
    BINARY_COMMAND,
    judge_binary,
)


def _answer(seen: Seen) -> str:
    if seen.answered():
        return "session answers"
    return f"session DID NOT answer: {seen._after_why()}"


CASES: tuple[Case, ...] = (
    SYSRQ,
    PROC_SYS,
    SYS,
    MKNOD,
    SOCKETS,
    CGROUP,
    MODULES,
    SETUID,
    ENGINE,
    NETWORK,
    CLOSED_OUTPUT,
    BINARY,
    FDS,
    INODES,
    FORK,
    ZOMBIES,
)
_BY_NAME = {case.name: case for case in (*CASES, CONTROL)}


async def run_suite(
    runtimes: list[str], cases: Sequence[Case] = CASES, spec: SessionSpec | None = None
) -> list[CaseResult]:
    """Run every case on every runtime (the runtimes side by side), in case order.

    Cases that may exhaust or end their session get a fresh one each; the others share
    one session per runtime.
    """
    groups = await asyncio.gather(*(_on_runtime(r, cases, spec) for r in runtimes))
    return [result for group in groups for result in group]


async def _on_runtime(
    runtime: str, cases: Sequence[Case], base: SessionSpec | None
) -> list[CaseResult]:
    if runtime not in ("runc", "runsc"):
        raise ValueError(f"unknown runtime {runtime!r}")
    spec = (base or SessionSpec()).model_copy(update={"runtime": runtime})
    backend = DockerBackend()
    results = await _in_session(backend, spec, [c for c in cases if not c.own_session])
    for case in cases:
        if case.own_session:
            results += await _in_session(backend, spec, [case])
    order = {case.name: index for index, case in enumerate(cases)}
    return sorted(results, key=lambda result: order[result.name])


async def _in_session(
    backend: DockerBackend, spec: SessionSpec, cases: Sequence[Case]
) -> list[CaseResult]:
    if not cases:
        return []
    try:
        session = await backend.start(spec)
    except SandboxError as exc:
        return [
            CaseResult(
                name=case.name, runtime=spec.runtime, contained=False, evidence=f"no session: {exc}"
            )
            for case in cases
        ]
    try:
        return [await case.run(session) for case in cases]
    finally:
        # A sandbox that ended may be mid-removal by the engine: that is no result.
        with contextlib.suppress(DockerException):
            await session.close()


def table(results: Sequence[CaseResult]) -> Table:
    """The suite's results, one row per case and runtime."""
    grid = Table(title="escape and abuse suite", show_lines=True)
    for column in ("case", "runtime", "tries", "contained", "evidence"):
        grid.add_column(column, overflow="fold")
    for result in results:
        case = _BY_NAME.get(result.name)
        verdict = {
            "contained": "[green]yes[/]",
            "undecided": "[bold yellow]cannot judge[/]",
            "violation": "[bold red]NO[/]",
        }[result.outcome]
        tries = case.tries if case else ""
        grid.add_row(
            escape(result.name), result.runtime, escape(tries), verdict, escape(result.evidence)
        )
    return grid


def summary(results: Sequence[CaseResult]) -> dict[str, int]:
    """Counts: attempts made, contained, undecided (cannot judge) and violations.

    An undecided attempt is not contained: a suite is clean only when every attempt is.
    """
    contained = sum(result.contained for result in results)
    undecided = sum(result.undecided for result in results)
    return {
        "attempts": len(results),
        "contained": contained,
        "undecided": undecided,
        "violations": len(results) - contained - undecided,
    }
