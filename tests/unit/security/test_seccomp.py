"""security.seccomp: the profile's shape, and the native filter's effect on a real process."""

from __future__ import annotations

import errno
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyseccomp
import pytest

from security import seccomp
from security.seccomp import (
    ALLOWED,
    DENIED,
    build_filter,
    build_profile,
    export_bpf,
    profile_json,
    security_opt,
)

REPO = Path(__file__).resolve().parents[3]

# The removals the design asks for, spelled out here independently of the module's table.
MUST_DENY = (
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "unshare",
    "setns",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "name_to_handle_at",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "syslog",
    "lookup_dcookie",
    "quotactl",
    "nfsservctl",
    "iopl",
    "ioperm",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vhangup",
    "fanotify_init",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "mbind",
    "set_mempolicy",
    "migrate_pages",
    "move_pages",
    "kcmp",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fsmerge",
    "move_mount",
    "open_tree",
    "fspick",
    "mount_setattr",
    "pidfd_getfd",
    "process_madvise",
)

NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
# What fork and pthread_create pass to clone; none of it may trip the namespace mask.
THREAD_FLAGS = 0x3D0F00 | 17  # VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|*TID, SIGCHLD


def _rules(profile: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [rule for rule in profile["syscalls"] if rule["action"] == action]


def _allowed_names(profile: dict[str, Any]) -> set[str]:
    return {name for rule in _rules(profile, "SCMP_ACT_ALLOW") for name in rule["names"]}


def _errno_rule(profile: dict[str, Any], err: int) -> set[str]:
    names: set[str] = set()
    for rule in _rules(profile, "SCMP_ACT_ERRNO"):
        if rule["errnoRet"] == err:
            names |= set(rule["names"])
    return names


# ------------------------------------------------------------------ profile structure


def test_profile_has_the_engine_fields() -> None:
    profile = build_profile()
    assert set(profile) == {"defaultAction", "defaultErrnoRet", "archMap", "syscalls"}
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == errno.EPERM
    arches = {entry["architecture"]: set(entry["subArchitectures"]) for entry in profile["archMap"]}
    assert arches == {
        "SCMP_ARCH_X86_64": {"SCMP_ARCH_X86", "SCMP_ARCH_X32"},
        "SCMP_ARCH_AARCH64": {"SCMP_ARCH_ARM"},
    }
    for rule in profile["syscalls"]:
        assert rule["names"], rule
        assert rule["action"] in {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"}
        assert ("errnoRet" in rule) == (rule["action"] == "SCMP_ACT_ERRNO")
        for arg in rule.get("args", []):
            assert set(arg) == {"index", "value", "valueTwo", "op"}
            assert 0 <= arg["index"] <= 5
            assert arg["op"].startswith("SCMP_CMP_")


def test_profile_is_deterministic_and_compact() -> None:
    text = profile_json()
    assert text == profile_json()
    assert json.loads(text) == build_profile()
    assert ", " not in text and ": " not in text and "\n" not in text
    for rule in build_profile()["syscalls"]:
        assert rule["names"] == sorted(set(rule["names"]))


def test_security_opt_carries_the_profile() -> None:
    opt = security_opt()
    assert opt.startswith("seccomp=")
    assert json.loads(opt.removeprefix("seccomp=")) == build_profile()


def test_only_names_libseccomp_knows_are_emitted() -> None:
    emitted = {name for rule in build_profile()["syscalls"] for name in rule["names"]}
    unknown = {n for n in emitted if pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, n) == -1}
    assert not unknown
    assert "fsmerge" in DENIED and "fsmerge" not in emitted  # listed by design, not a syscall
    assert "read" in emitted and "openat" in emitted


def test_required_removals_are_denied_with_a_reason() -> None:
    missing = [name for name in MUST_DENY if name not in DENIED]
    assert not missing
    assert all(reason.strip() for reason in DENIED.values())


def test_no_denied_name_is_allowed() -> None:
    profile = build_profile()
    assert not ALLOWED & DENIED.keys()
    assert not _allowed_names(profile) & DENIED.keys()
    # The explicit EPERM rule names every denied syscall the engine can resolve.
    known_denied = {n for n in DENIED if seccomp.is_known(n)}
    assert _errno_rule(profile, errno.EPERM) == known_denied


def test_everyday_syscalls_and_landlock_are_allowed() -> None:
    allowed = _allowed_names(build_profile())
    everyday = "read write openat close mmap futex execve wait4 rt_sigaction epoll_wait"
    assert set(everyday.split()) <= allowed
    assert {"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"} <= allowed
    assert not {"io_uring_setup", "io_uring_enter", "io_uring_register"} & allowed


def test_clone_mask_covers_every_namespace_flag() -> None:
    (rule,) = [r for r in _rules(build_profile(), "SCMP_ACT_ALLOW") if r["names"] == ["clone"]]
    (arg,) = rule["args"]
    assert arg["index"] == 0 and arg["op"] == "SCMP_CMP_MASKED_EQ" and arg["valueTwo"] == 0
    for flag, bit in NAMESPACE_FLAGS.items():
        assert arg["value"] & bit == bit, flag
    assert arg["value"] & THREAD_FLAGS == 0
    assert "clone" not in ALLOWED  # only ever allowed with the argument check


def test_clone3_gets_enosys() -> None:
    assert _errno_rule(build_profile(), errno.ENOSYS) == {"clone3"}
    assert "clone3" not in _allowed_names(build_profile())


def test_personality_and_socket_are_argument_checked() -> None:
    conditional = [r for r in build_profile()["syscalls"] if "args" in r]
    persona = {r["args"][0]["value"] for r in conditional if r["names"] == ["personality"]}
    assert persona == {0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF}
    (sock,) = [r for r in conditional if r["names"] == ["socket"]]
    assert sock["args"] == [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}]


def test_extra_denied_moves_names_to_the_deny_rule() -> None:
    profile = build_profile(["chmod", "fchmodat", "socket"])
    assert not {"chmod", "fchmodat", "socket"} & _allowed_names(profile)
    assert {"chmod", "fchmodat", "socket"} <= _errno_rule(profile, errno.EPERM)
    assert not any(r["names"] == ["socket"] for r in profile["syscalls"])
    assert build_profile(["clone3"]) == build_profile()  # already refused, and stays ENOSYS
    assert profile_json(("chmod",)) == profile_json(["chmod"])


def test_extra_denied_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        build_profile("ptrace")
    with pytest.raises(ValueError, match="unknown syscall"):
        build_profile(["no_such_syscall"])


# ------------------------------------------------------------------ native filter


def test_filter_exports_bpf(tmp_path: Path) -> None:
    flt = build_filter()
    assert isinstance(flt, pyseccomp.SyscallFilter)
    data = seccomp.bpf_bytes()
    assert data and len(data) % 8 == 0  # struct sock_filter is 8 bytes
    assert len(data) // 8 < 4096  # the kernel's BPF_MAXINSNS
    path = tmp_path / "airlock.bpf"
    assert export_bpf(path) == len(data)
    assert path.read_bytes() == data
    buffer = io.BytesIO()
    export_bpf(buffer)
    assert buffer.getvalue() == data
    with (tmp_path / "f.bpf").open("wb") as fh:
        export_bpf(fh)
    assert (tmp_path / "f.bpf").read_bytes() == data
    assert export_bpf(io.BytesIO(), extra_denied=["chmod"]) != 0


# A child process that (optionally) loads the filter, does ordinary work, then tries the
# refused syscalls through libc's syscall(). It prints one JSON object: work -> "ok" or an
# error, probe -> 0 on success or the errno.
CHILD = r"""
import ctypes, json, os, socket, subprocess, sys, tempfile, threading, time
import pyseccomp
from security.seccomp import build_filter

mode, extra = sys.argv[1], json.loads(sys.argv[2])
if mode == "filtered":
    build_filter(extra).load()

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def nr(name):
    return pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)

def call(number, *args):
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    res = libc.syscall(ctypes.c_long(number), *args)
    return 0 if res >= 0 else ctypes.get_errno(), res

def clone(flags):
    err, res = call(nr("clone"), flags | 17, 0, 0, 0, 0)
    if res == 0:          # a child got through: leave at once
        os._exit(0)
    if res > 0:
        os.waitpid(res, 0)
    return err

def work_file():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f")
        with open(p, "w") as fh:
            fh.write("hello")
        with open(p) as fh:
            assert fh.read() == "hello"
        os.rename(p, p + "2")
        os.unlink(p + "2")

def work_exec():
    assert subprocess.run(["/bin/true"]).returncode == 0
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/true", ["true"])
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0

def work_thread():
    box = []
    t = threading.Thread(target=box.append, args=(1,))
    t.start(); t.join()
    assert box == [1]

def work_socket():
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    a, b = socket.socketpair(socket.AF_UNIX)
    a.sendall(b"ping")
    assert b.recv(4) == b"ping"

def work_sleep():
    t = time.monotonic(); time.sleep(0.01); assert time.monotonic() - t >= 0.005

def work_chmod():
    with tempfile.NamedTemporaryFile() as fh:
        os.chmod(fh.name, 0o600)

out = {}
for name, fn in list(globals().items()):
    if name.startswith("work_"):
        try:
            fn(); out[name] = "ok"
        except Exception as exc:
            out[name] = f"{type(exc).__name__}: {exc}"

O_CLOEXEC, NO_PATH = 0o2000000, b"/nonexistent-airlock-seccomp"
probes = {
    "unshare_newuser": lambda: call(nr("unshare"), 0x10000000)[0],
    "setns": lambda: call(nr("setns"), -1, 0)[0],
    "mount": lambda: call(nr("mount"), b"none", NO_PATH, b"tmpfs", 0, None)[0],
    "umount2": lambda: call(nr("umount2"), NO_PATH, 0)[0],
    "ptrace_traceme": lambda: call(nr("ptrace"), 0, 0, 0, 0)[0],
    "bpf": lambda: call(nr("bpf"), 0, None, 0)[0],
    "keyctl": lambda: call(nr("keyctl"), 0, -2, 0)[0],
    "userfaultfd": lambda: call(nr("userfaultfd"), O_CLOEXEC)[0],
    "perf_event_open": lambda: call(nr("perf_event_open"), None, 0, -1, -1, 0)[0],
    "io_uring_setup": lambda: call(nr("io_uring_setup"), 1, None)[0],
    "kexec_load": lambda: call(nr("kexec_load"), 0, 0, None, 0x100)[0],  # bad flags: EINVAL
    "init_module": lambda: call(nr("init_module"), None, 0, b"")[0],
    "personality_odd": lambda: call(nr("personality"), 0x0400000)[0],
    "personality_query": lambda: call(nr("personality"), 0xFFFFFFFF)[0],
    "socket_vsock": lambda: call(nr("socket"), 40, 1, 0)[0],
    "clone_newns_fs": lambda: clone(0x00020000 | 0x200),
    "clone3": lambda: call(nr("clone3"), None, 0)[0],
    "after_table": lambda: call(int(sys.argv[3]))[0],
}
for flag in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
             0x40000000):
    probes[f"clone_{flag:#x}"] = lambda flag=flag: clone(flag)
# Without the filter these would really trace, or enter namespaces; only the filtered run tries.
unsafe = {"ptrace_traceme", "unshare_newuser", "after_table"}
unsafe |= {name for name in probes if name.startswith("clone_0x")}
for name, probe in probes.items():
    if mode == "filtered" or name not in unsafe:
        out[name] = probe()
print(json.dumps(out))
"""

DENIED_PROBES = [
    "unshare_newuser",
    "setns",
    "mount",
    "umount2",
    "ptrace_traceme",
    "bpf",
    "keyctl",
    "userfaultfd",
    "perf_event_open",
    "io_uring_setup",
    "kexec_load",
    "init_module",
    "personality_odd",
    "socket_vsock",
    "clone_newns_fs",
    *(f"clone_{bit:#x}" for bit in NAMESPACE_FLAGS.values()),
]
WORK = ["work_file", "work_exec", "work_thread", "work_socket", "work_sleep", "work_chmod"]


def _last_known_nr() -> int:
    known = []
    for nr in range(1024):
        try:
            pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, nr)
        except ValueError:
            continue
        known.append(nr)
    return max(known)


def _run_child(mode: str, extra: list[str] | None = None) -> dict[str, Any]:
    beyond = _last_known_nr() + 1
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, json.dumps(extra or []), str(beyond)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def filtered() -> Iterator[dict[str, Any]]:
    yield _run_child("filtered")


@pytest.fixture(scope="module")
def unfiltered() -> Iterator[dict[str, Any]]:
    yield _run_child("unfiltered")


@pytest.mark.parametrize("work", WORK)
def test_ordinary_work_survives_the_filter(filtered: dict[str, Any], work: str) -> None:
    assert filtered[work] == "ok"


@pytest.mark.parametrize("probe", DENIED_PROBES)
def test_filter_refuses_with_eperm(filtered: dict[str, Any], probe: str) -> None:
    assert filtered[probe] == errno.EPERM, errno.errorcode.get(filtered[probe], filtered[probe])


def test_filter_gives_enosys_for_clone3_and_unknown_syscalls(filtered: dict[str, Any]) -> None:
    assert filtered["clone3"] == errno.ENOSYS
    assert filtered["after_table"] == errno.ENOSYS


def test_filter_allows_the_personality_query(filtered: dict[str, Any]) -> None:
    assert filtered["personality_query"] == 0


def test_eperm_comes_from_the_filter(unfiltered: dict[str, Any]) -> None:
    """Without the filter the kernel answers these probes differently, so the EPERMs above are
    the filter's doing and not a missing privilege."""
    assert all(unfiltered[work] == "ok" for work in WORK)
    assert unfiltered["clone_newns_fs"] == errno.EINVAL  # NEWNS with FS is invalid
    assert unfiltered["clone3"] == errno.EINVAL  # a zero-sized clone_args
    assert unfiltered["perf_event_open"] == errno.EFAULT  # a NULL attr
    assert unfiltered["io_uring_setup"] == errno.EFAULT  # a NULL params
    assert unfiltered["setns"] == errno.EBADF
    assert unfiltered["personality_query"] == 0


def test_extra_denied_reaches_the_filter() -> None:
    result = _run_child("filtered", ["chmod", "fchmodat", "fchmodat2"])
    assert result["work_chmod"].startswith("PermissionError")
    assert result["work_file"] == "ok"


def test_tracing_profile_allows_only_what_strace_needs() -> None:
    def allowed(profile: dict[str, object]) -> set[str]:
        rules = profile["syscalls"]
        assert isinstance(rules, list)
        return {n for r in rules if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}

    plain, traced = allowed(build_profile()), allowed(build_profile(tracing=True))
    assert {"ptrace", "process_vm_readv"}.isdisjoint(plain)
    assert traced - plain == {"ptrace", "process_vm_readv"}
    denied = {n for r in build_profile(tracing=True)["syscalls"] if r["action"] == "SCMP_ACT_ERRNO"
              for n in r["names"]}  # fmt: skip
    assert "ptrace" not in denied and "process_vm_writev" in denied
