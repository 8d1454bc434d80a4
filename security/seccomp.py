"""airlock's own seccomp policy: one table, rendered for the engine and for libseccomp.

The policy is an allowlist. It starts from what a container engine's default profile lets an
ordinary unprivileged program do (file I/O, memory, signals, time, processes and threads, local
sockets, polling, System V / POSIX IPC) and removes everything an AI agent's sandbox never needs:
mounts, namespaces, tracing, kernel programs, keyrings, io_uring, module loading, clock setting
and the rest of ``DENIED``. Three syscalls are allowed only with certain arguments (``clone``
without namespace flags, ``personality`` with the ordinary values, ``socket`` for any family
but vsock), and ``clone3`` fails with ENOSYS so that the C library falls back to ``clone``, whose
flags a filter can see (``clone3`` passes them in memory, out of a filter's reach).

Anything else fails with EPERM. Syscalls newer than the syscall table fail with ENOSYS, as
engines make them, so that programs which probe for a new call fall back to an old one: runc does
this itself for an engine profile, and ``build_filter`` adds it for the native filter.

Renderings of the same policy:

* ``build_profile`` / ``profile_json`` / ``security_opt``: the engine's JSON profile, for
  ``security_opt=[security_opt()]`` in docker-py (``--security-opt seccomp=<json>``);
* ``build_filter`` / ``export_bpf``: a libseccomp filter for the native architecture, to load
  into a host process or to save as raw BPF.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import pyseccomp

__all__ = [
    "ALLOWED",
    "ALLOW_GROUPS",
    "ARCH_MAP",
    "CLONE_NAMESPACE_FLAGS",
    "CONDITIONAL",
    "DENIED",
    "DENY_GROUPS",
    "ENOSYS_SYSCALLS",
    "ArgRule",
    "bpf_bytes",
    "build_filter",
    "build_profile",
    "export_bpf",
    "is_known",
    "profile_json",
    "security_opt",
]

# --------------------------------------------------------------------------------------------
# What ordinary programs need, grouped by purpose. Names that exist only on some architectures
# (32-bit compat calls, *_time64, arm-specific) are listed too; only names libseccomp knows are
# emitted, and libseccomp maps each to the right number (or to nothing) per architecture.
# --------------------------------------------------------------------------------------------

ALLOW_GROUPS: Final[Mapping[str, tuple[str, ...]]] = {
    "file descriptors and data I/O": (
        "read",
        "write",
        "readv",
        "writev",
        "pread64",
        "pwrite64",
        "preadv",
        "preadv2",
        "pwritev",
        "pwritev2",
        "open",
        "openat",
        "openat2",
        "creat",
        "close",
        "close_range",
        "dup",
        "dup2",
        "dup3",
        "lseek",
        "_llseek",
        "fcntl",
        "fcntl64",
        "ioctl",
        "flock",
        "fsync",
        "fdatasync",
        "sync",
        "syncfs",
        "sync_file_range",
        "sync_file_range2",
        "arm_sync_file_range",
        "fallocate",
        "fadvise64",
        "fadvise64_64",
        "arm_fadvise64_64",
        "readahead",
        "sendfile",
        "sendfile64",
        "copy_file_range",
        "splice",
        "tee",
        "vmsplice",
        "pipe",
        "pipe2",
        "truncate",
        "truncate64",
        "ftruncate",
        "ftruncate64",
        "cachestat",
    ),
    "paths, directories and metadata": (
        "access",
        "faccessat",
        "faccessat2",
        "stat",
        "stat64",
        "lstat",
        "lstat64",
        "fstat",
        "fstat64",
        "newfstatat",
        "fstatat64",
        "statx",
        "statfs",
        "statfs64",
        "fstatfs",
        "fstatfs64",
        "getdents",
        "getdents64",
        "getcwd",
        "chdir",
        "fchdir",
        "mkdir",
        "mkdirat",
        "rmdir",
        "rename",
        "renameat",
        "renameat2",
        "link",
        "linkat",
        "unlink",
        "unlinkat",
        "symlink",
        "symlinkat",
        "readlink",
        "readlinkat",
        "chmod",
        "fchmod",
        "fchmodat",
        "fchmodat2",
        "chown",
        "chown32",
        "fchown",
        "fchown32",
        "fchownat",
        "lchown",
        "lchown32",
        "umask",
        "utime",
        "utimes",
        "utimensat",
        "utimensat_time64",
        "futimesat",
        "mknod",
        "mknodat",
    ),
    "extended attributes": (
        "getxattr",
        "lgetxattr",
        "fgetxattr",
        "getxattrat",
        "setxattr",
        "lsetxattr",
        "fsetxattr",
        "setxattrat",
        "listxattr",
        "llistxattr",
        "flistxattr",
        "listxattrat",
        "removexattr",
        "lremovexattr",
        "fremovexattr",
        "removexattrat",
    ),
    "file change notification": (
        "inotify_init",
        "inotify_init1",
        "inotify_add_watch",
        "inotify_rm_watch",
        "fanotify_mark",
    ),
    "memory": (
        "brk",
        "mmap",
        "mmap2",
        "munmap",
        "mremap",
        "mprotect",
        "madvise",
        "mincore",
        "msync",
        "mlock",
        "mlock2",
        "mlockall",
        "munlock",
        "munlockall",
        "remap_file_pages",
        "memfd_create",
        "pkey_alloc",
        "pkey_free",
        "pkey_mprotect",
        "get_mempolicy",
        "map_shadow_stack",
    ),
    "processes": (
        "fork",
        "vfork",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "wait4",
        "waitid",
        "waitpid",
        "getpid",
        "getppid",
        "gettid",
        "getpgid",
        "setpgid",
        "getpgrp",
        "getsid",
        "setsid",
        "kill",
        "tkill",
        "tgkill",
        "pidfd_open",
        "pidfd_send_signal",
        "process_mrelease",
        "prctl",
        "restart_syscall",
        "uname",
        "sysinfo",
        "getrandom",
        "getcpu",
    ),
    "threads and synchronisation": (
        "set_tid_address",
        "set_robust_list",
        "get_robust_list",
        "rseq",
        "membarrier",
        "futex",
        "futex_time64",
        "futex_waitv",
        "futex_wait",
        "futex_wake",
        "futex_requeue",
    ),
    "architecture support (TLS, LDT, cache control)": (
        "arch_prctl",
        "set_thread_area",
        "get_thread_area",
        "modify_ldt",
        "set_tls",
        "breakpoint",
        "cacheflush",
    ),
    "self-restriction (can only take rights away)": (
        "capget",
        "capset",
        "seccomp",
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
    ),
    "user and group ids (the kernel still checks capabilities)": (
        "getuid",
        "getuid32",
        "geteuid",
        "geteuid32",
        "getgid",
        "getgid32",
        "getegid",
        "getegid32",
        "getresuid",
        "getresuid32",
        "getresgid",
        "getresgid32",
        "getgroups",
        "getgroups32",
        "setuid",
        "setuid32",
        "setgid",
        "setgid32",
        "setreuid",
        "setreuid32",
        "setregid",
        "setregid32",
        "setresuid",
        "setresuid32",
        "setresgid",
        "setresgid32",
        "setfsuid",
        "setfsuid32",
        "setfsgid",
        "setfsgid32",
        "setgroups",
        "setgroups32",
    ),
    "resource limits and scheduling": (
        "getrlimit",
        "ugetrlimit",
        "setrlimit",
        "prlimit64",
        "getrusage",
        "times",
        "getpriority",
        "setpriority",
        "sched_yield",
        "sched_getaffinity",
        "sched_setaffinity",
        "sched_getattr",
        "sched_setattr",
        "sched_getparam",
        "sched_setparam",
        "sched_getscheduler",
        "sched_setscheduler",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_rr_get_interval",
        "sched_rr_get_interval_time64",
        "ioprio_get",
        "ioprio_set",
    ),
    "signals": (
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "rt_sigpending",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "rt_sigtimedwait_time64",
        "rt_sigqueueinfo",
        "rt_tgsigqueueinfo",
        "sigaltstack",
        "sigreturn",
        "sigprocmask",
        "signalfd",
        "signalfd4",
        "pause",
        "alarm",
    ),
    "reading clocks, sleeping and timers": (
        "time",
        "gettimeofday",
        "clock_gettime",
        "clock_gettime64",
        "clock_getres",
        "clock_getres_time64",
        "clock_nanosleep",
        "clock_nanosleep_time64",
        "nanosleep",
        "getitimer",
        "setitimer",
        "timer_create",
        "timer_delete",
        "timer_settime",
        "timer_settime64",
        "timer_gettime",
        "timer_gettime64",
        "timer_getoverrun",
        "timerfd_create",
        "timerfd_settime",
        "timerfd_settime64",
        "timerfd_gettime",
        "timerfd_gettime64",
    ),
    "waiting on descriptors": (
        "select",
        "_newselect",
        "pselect6",
        "pselect6_time64",
        "poll",
        "ppoll",
        "ppoll_time64",
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_ctl_old",
        "epoll_wait",
        "epoll_wait_old",
        "epoll_pwait",
        "epoll_pwait2",
        "eventfd",
        "eventfd2",
    ),
    "asynchronous I/O (the classic kind; io_uring is denied)": (
        "io_setup",
        "io_destroy",
        "io_submit",
        "io_cancel",
        "io_getevents",
        "io_pgetevents",
        "io_pgetevents_time64",
    ),
    "sockets (the network itself is cut off by the sandbox)": (
        "socketpair",
        "bind",
        "listen",
        "accept",
        "accept4",
        "connect",
        "getsockname",
        "getpeername",
        "getsockopt",
        "setsockopt",
        "send",
        "sendto",
        "sendmsg",
        "sendmmsg",
        "recv",
        "recvfrom",
        "recvmsg",
        "recvmmsg",
        "recvmmsg_time64",
        "shutdown",
        "socketcall",
    ),
    "System V and POSIX IPC (namespaced per container)": (
        "ipc",
        "msgget",
        "msgsnd",
        "msgrcv",
        "msgctl",
        "semget",
        "semop",
        "semtimedop",
        "semtimedop_time64",
        "semctl",
        "shmget",
        "shmat",
        "shmdt",
        "shmctl",
        "mq_open",
        "mq_unlink",
        "mq_timedsend",
        "mq_timedsend_time64",
        "mq_timedreceive",
        "mq_timedreceive_time64",
        "mq_notify",
        "mq_getsetattr",
    ),
}


@dataclass(frozen=True)
class _DenyGroup:
    reason: str
    names: tuple[str, ...]


# What an engine's default profile would let through (some of it only with capabilities the
# sandbox drops anyway) and airlock refuses outright, each group with the reason.
DENY_GROUPS: Final[tuple[_DenyGroup, ...]] = (
    _DenyGroup(
        "changes the filesystem tree; a session's mounts are fixed when its container starts",
        (
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "chroot",
            "mount_setattr",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fsmerge",
            "fspick",
            "move_mount",
            "open_tree",
        ),
    ),
    _DenyGroup(
        "creates or joins namespaces, the usual first step of a container escape",
        ("unshare", "setns"),
    ),
    _DenyGroup(
        "reads, writes or steers another process (its memory, descriptors or pages)",
        (
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
        ),
    ),
    _DenyGroup(
        "loads programs into the kernel or samples it; a large, often exploited surface",
        ("bpf", "perf_event_open", "lookup_dcookie"),
    ),
    _DenyGroup(
        "kernel keyrings are not namespaced, so keys could cross between sessions",
        ("keyctl", "add_key", "request_key"),
    ),
    _DenyGroup(
        "lets user space stall kernel page faults, a staple of kernel race exploits",
        ("userfaultfd",),
    ),
    _DenyGroup(
        "io_uring runs I/O that a syscall filter never sees and has a long CVE record",
        ("io_uring_setup", "io_uring_enter", "io_uring_register"),
    ),
    _DenyGroup(
        "replaces or extends the running kernel",
        (
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "get_kernel_syms",
            "query_module",
            "reboot",
        ),
    ),
    _DenyGroup(
        "host-wide administration that is not namespaced",
        (
            "acct",
            "swapon",
            "swapoff",
            "quotactl",
            "quotactl_fd",
            "nfsservctl",
            "vhangup",
            "sethostname",
            "setdomainname",
        ),
    ),
    _DenyGroup(
        "the kernel log exposes host details and kernel addresses",
        ("syslog",),
    ),
    _DenyGroup(
        "sets or tunes the system clock, which every container on the host shares",
        (
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_settime64",
            "adjtimex",
            "clock_adjtime",
            "clock_adjtime64",
        ),
    ),
    _DenyGroup(
        "raw I/O port access to hardware",
        ("iopl", "ioperm"),
    ),
    _DenyGroup(
        "file handles reach files outside the container's mounts (the 'shocker' escape)",
        ("open_by_handle_at", "name_to_handle_at"),
    ),
    _DenyGroup(
        "obsolete interfaces that no current program uses",
        ("uselib", "ustat", "sysfs", "_sysctl"),
    ),
    _DenyGroup(
        "watches whole filesystems, beyond the session's view",
        ("fanotify_init",),
    ),
    _DenyGroup(
        "moves memory between NUMA nodes, including other processes' pages",
        ("mbind", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages"),
    ),
)

DENIED: Final[Mapping[str, str]] = {
    name: group.reason for group in DENY_GROUPS for name in group.names
}

# The namespace-creating flags of clone(2): NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
# NEWNET. (CLONE_NEWTIME, 0x80, exists only for clone3 and unshare, both refused.)
CLONE_NAMESPACE_FLAGS: Final[Mapping[str, int]] = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
_CLONE_NS_MASK: Final = functools.reduce(int.__or__, CLONE_NAMESPACE_FLAGS.values())

_AF_VSOCK: Final = 40
_PERSONALITY_OK: Final = (
    0x00000000,  # PER_LINUX
    0x00000008,  # PER_LINUX32
    0x00020000,  # UNAME26
    0x00020008,  # PER_LINUX32 | UNAME26
    0xFFFFFFFF,  # query only
)


@dataclass(frozen=True)
class ArgRule:
    """Allow `name` when argument `index` compares true: `op` is a libseccomp comparison name
    without its SCMP_CMP_ prefix; for MASKED_EQ, `value` is the mask and `value_two` the datum."""

    name: str
    index: int
    op: str
    value: int
    value_two: int = 0
    reason: str = ""


CONDITIONAL: Final[tuple[ArgRule, ...]] = (
    ArgRule(
        "clone",
        0,
        "MASKED_EQ",
        _CLONE_NS_MASK,
        0,
        "new processes and threads yes, new namespaces no",
    ),
    *(
        ArgRule("personality", 0, "EQ", value, 0, "only the ordinary execution domains")
        for value in _PERSONALITY_OK
    ),
    ArgRule(
        "socket",
        0,
        "NE",
        _AF_VSOCK,
        0,
        "vsock reaches the hypervisor or host directly, past network_mode=none",
    ),
)

ENOSYS_SYSCALLS: Final[Mapping[str, str]] = {
    "clone3": "its flags sit in memory a filter cannot read; ENOSYS makes libc fall back to clone",
}

ALLOWED: Final[frozenset[str]] = frozenset(n for names in ALLOW_GROUPS.values() for n in names)

ARCH_MAP: Final[tuple[Mapping[str, Any], ...]] = (
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
)

# How many syscall numbers past the last one libseccomp knows get ENOSYS in the native filter.
_ENOSYS_HEADROOM: Final = 128
_SCAN_LIMIT: Final = 1024  # native syscall numbers scanned to find the table's end
_NR_SCMP_ERROR: Final = -1  # what libseccomp answers for a name it does not know
_CTL_OPTIMIZE_BINARY_TREE: Final = 2


def _check_tables() -> None:
    special = {rule.name for rule in CONDITIONAL} | set(ENOSYS_SYSCALLS)
    overlaps = {
        "allowed and denied": ALLOWED & DENIED.keys(),
        "allowed and conditional/ENOSYS": ALLOWED & special,
        "denied and conditional/ENOSYS": DENIED.keys() & special,
    }
    for what, names in overlaps.items():
        if names:
            raise AssertionError(f"seccomp table lists {sorted(names)} as both {what}")
    seen: set[str] = set()
    for group in ALLOW_GROUPS.values():
        dupes = seen & set(group)
        if dupes or len(set(group)) != len(group):
            raise AssertionError(f"seccomp allow groups repeat {sorted(dupes) or group}")
        seen |= set(group)


_check_tables()


# --------------------------------------------------------------------------------------------
# Resolving names
# --------------------------------------------------------------------------------------------


@functools.cache
def _native_number(name: str) -> int:
    """libseccomp's number for `name` on this machine: >= 0 for a real syscall, another
    negative value for a name that exists only on other architectures, -1 if unknown."""
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))


def is_known(name: str) -> bool:
    """Whether libseccomp knows the syscall name (on any architecture it supports)."""
    return _native_number(name) != _NR_SCMP_ERROR


@functools.cache
def _last_known_native_number() -> int:
    last = -1
    for nr in range(_SCAN_LIMIT):
        try:
            pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, nr)
        except ValueError:
            continue
        last = nr
    return last


# --------------------------------------------------------------------------------------------
# The policy after the caller's extra denials
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Policy:
    allowed: frozenset[str]
    conditional: tuple[ArgRule, ...]
    enosys: frozenset[str]
    denied: Mapping[str, str]


# What strace needs; allowed only in oracle sessions (SessionSpec.traced), which run
# commands the analyzer already allowed, to watch what they really do. Never for agents.
TRACING_SYSCALLS: Final = frozenset({"ptrace", "process_vm_readv"})


def _policy(extra_denied: Iterable[str], tracing: bool = False) -> _Policy:
    if isinstance(extra_denied, str | bytes):
        raise TypeError("extra_denied takes an iterable of syscall names, not one string")
    extra = frozenset(extra_denied)
    tabled = ALLOWED | DENIED.keys() | set(ENOSYS_SYSCALLS) | {r.name for r in CONDITIONAL}
    for name in extra:
        if not isinstance(name, str):
            raise TypeError(f"syscall names are strings, got {name!r}")
        if name not in tabled and not is_known(name):
            raise ValueError(f"unknown syscall name {name!r}")
    # ENOSYS entries stay ENOSYS: they are refused already, and EPERM would stop libc's fallback.
    denied = dict(DENIED)
    for name in sorted(extra - ENOSYS_SYSCALLS.keys()):
        denied.setdefault(name, "denied by the caller")
    allowed = ALLOWED - extra
    if tracing:
        allowed |= TRACING_SYSCALLS - extra
        denied = {name: why for name, why in denied.items() if name not in allowed}
    return _Policy(
        allowed=allowed,
        conditional=tuple(rule for rule in CONDITIONAL if rule.name not in extra),
        enosys=frozenset(ENOSYS_SYSCALLS),
        denied=denied,
    )


# --------------------------------------------------------------------------------------------
# The engine's JSON profile
# --------------------------------------------------------------------------------------------


def _known_sorted(names: Iterable[str]) -> list[str]:
    return sorted(name for name in set(names) if is_known(name))


def build_profile(extra_denied: Iterable[str] = (), *, tracing: bool = False) -> dict[str, Any]:
    """The policy in the JSON profile format that ``--security-opt seccomp=<json>`` takes.

    ``tracing`` also allows `TRACING_SYSCALLS`, for oracle sessions only.
    """
    policy = _policy(extra_denied, tracing)
    rules: list[dict[str, Any]] = [
        {"names": _known_sorted(policy.allowed), "action": "SCMP_ACT_ALLOW"},
    ]
    for rule in sorted(policy.conditional, key=lambda r: (r.name, r.index, r.op, r.value)):
        if not is_known(rule.name):
            continue
        arg = {
            "index": rule.index,
            "value": rule.value,
            "valueTwo": rule.value_two,
            "op": f"SCMP_CMP_{rule.op}",
        }
        rules.append({"names": [rule.name], "action": "SCMP_ACT_ALLOW", "args": [arg]})
    enosys = _known_sorted(policy.enosys)
    if enosys:
        rules.append({"names": enosys, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS})
    # Redundant with the default action, but it names the refusals and keeps them EPERM should
    # an engine's "newer than the profile" ENOSYS rule otherwise catch one of them.
    denied = _known_sorted(policy.denied)
    if denied:
        rules.append({"names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "archMap": [dict(entry) for entry in ARCH_MAP],
        "syscalls": rules,
    }


def profile_json(extra_denied: Iterable[str] = (), *, tracing: bool = False) -> str:
    """``build_profile`` as compact, deterministic JSON."""
    profile = build_profile(extra_denied, tracing=tracing)
    return json.dumps(profile, separators=(",", ":"), sort_keys=True)


def security_opt(extra_denied: Iterable[str] = (), *, tracing: bool = False) -> str:
    """The ``seccomp=<json>`` entry for docker-py's ``security_opt`` list."""
    return "seccomp=" + profile_json(extra_denied, tracing=tracing)


# --------------------------------------------------------------------------------------------
# The native libseccomp filter
# --------------------------------------------------------------------------------------------


def build_filter(extra_denied: Iterable[str] = ()) -> pyseccomp.SyscallFilter:
    """The same policy as a libseccomp filter for this machine's architecture.

    Call ``.load()`` on it to confine the current process (and its future children); libseccomp
    sets no_new_privs first. A syscall made through another architecture's ABI kills the thread.
    """
    policy = _policy(extra_denied)
    flt = pyseccomp.SyscallFilter(pyseccomp.ERRNO(errno.EPERM))
    # A binary search over syscall numbers instead of a linear scan (libseccomp >= 2.5).
    with contextlib.suppress(OSError):
        flt.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, _CTL_OPTIMIZE_BINARY_TREE)
    for name in sorted(policy.allowed):
        nr = _native_number(name)
        if nr >= 0:
            flt.add_rule(pyseccomp.ALLOW, nr)
    for rule in policy.conditional:
        nr = _native_number(rule.name)
        if nr >= 0:
            arg = pyseccomp.Arg(rule.index, getattr(pyseccomp, rule.op), rule.value, rule.value_two)
            flt.add_rule(pyseccomp.ALLOW, nr, arg)
    for name in sorted(policy.enosys):
        nr = _native_number(name)
        if nr >= 0:
            flt.add_rule(pyseccomp.ERRNO(errno.ENOSYS), nr)
    last = _last_known_native_number()
    for nr in range(last + 1, last + 1 + _ENOSYS_HEADROOM):
        flt.add_rule(pyseccomp.ERRNO(errno.ENOSYS), nr)
    # Denied names need no rule: they fall to the default action, EPERM (libseccomp refuses a
    # rule whose action equals the default).
    return flt


class _BinaryWriter(Protocol):
    def write(self, data: bytes, /) -> object: ...


def bpf_bytes(extra_denied: Iterable[str] = ()) -> bytes:
    """The native filter as raw BPF (an array of ``struct sock_filter``)."""
    flt = build_filter(extra_denied)
    with tempfile.TemporaryFile() as tmp:
        flt.export_bpf(tmp)
        tmp.seek(0)
        return tmp.read()


def export_bpf(
    target: str | os.PathLike[str] | _BinaryWriter, extra_denied: Iterable[str] = ()
) -> int:
    """Write the native filter's BPF to a path or a binary file object; return its size."""
    data = bpf_bytes(extra_denied)
    if isinstance(target, str | os.PathLike):
        Path(target).write_bytes(data)
    else:
        target.write(data)
    return len(data)
