"""The seccomp filter a confined command gets on top of its Landlock domain.

Standard-library-only and Python 3.8+ (it ships inside the exec agent). Landlock
confines file contents and names, TCP and signals; what it leaves open is closed here,
because code can run inside the domain (a program made to exec a chosen file, the
dynamic loader run as a program) and must find nothing more than a read-only command has:

- sockets of any family but AF_UNIX: UDP (``/dev/udp/...``), raw and packet sockets,
  netlink, vsock. Landlock (ABI 4 to 7) covers TCP bind and connect only. ``bind`` and
  ``listen`` too: no socket of the command (an abstract AF_UNIX one) waits for others;
- file metadata, which Landlock does not handle: mode, owner, times, extended
  attributes, inode flags (``chattr``, fs-verity) of any file the user owns;
- state that outlives the command outside the filesystem: System V shared memory,
  semaphores and message queues and POSIX message queues (created, or used and removed
  when another process made them), keys in the user's keyrings;
- other processes' scheduling and limits (``prlimit`` on the exec agent, ``renice``,
  CPU affinity, I/O priority), which the kernel allows on every process of the same user:
  each only on the calling thread;
- a new session or process group (``setsid``, ``setpgid``): every process of the
  command stays in the session the agent started, where it ends them all; and a child
  of the exec agent (``clone`` with CLONE_PARENT), a zombie it would never reap, whose
  pids add up until the session can start nothing. ``clone3``, whose flags no filter
  can read, fails with ENOSYS, so that the C library falls back to ``clone``. No
  ``ptrace`` either: PTRACE_TRACEME made the agent the tracer of the exec's first
  process, which read its stop as an exit and never reaped it;
- io_uring, whose operations (opening sockets included) no syscall filter sees;
- every syscall of another ABI (i386, x32), whose numbers this filter does not check.

A confined command of a session with egress (``program(..., tcp_client=True)``) may
also create TCP client sockets: AF_INET, SOCK_STREAM, protocol 0 or TCP (not SCTP or
MPTCP, which Landlock does not handle), so that Landlock's port rule can let it connect
to the session's egress proxy (127.0.0.1) and nowhere else. Not AF_INET6: the proxy is
not there, and a port rule cannot tell addresses apart, so ``[::1]:PORT`` could be a
listener of the session's own (gVisor lets a session bind it). Still no UDP (no DNS),
no raw socket, no ``bind`` or ``listen``, and no ``MSG_FASTOPEN`` on a send, whose
implicit connect the kernel's connect hook does not see.

Each fails with EACCES, as Landlock's refusals do (``clone3`` with ENOSYS). The program
is classic BPF built here, in the agent, and loaded by the forked child after
``no_new_privs``.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import struct
from typing import NamedTuple

AF_UNIX = 1
AF_INET = 2
SOCK_STREAM = 1
SOCK_TYPE_MASK = 0xF  # the rest of socket()'s type holds SOCK_NONBLOCK and SOCK_CLOEXEC
IPPROTO_TCP = 6
MSG_FASTOPEN = 0x20000000
CLONE_PARENT = 0x00008000
PRIO_PROCESS = 0
IOPRIO_WHO_PROCESS = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
X32_SYSCALL_BIT = 0x40000000

# Classic BPF opcodes used below.
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = u32 at offset k of seccomp_data
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K: jump if A & k
RET_K = 0x06  # BPF_RET | BPF_K
AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K: A &= k
MAX_JUMP = 255  # a conditional jump's offsets are one byte

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARGS = 16  # args[i]'s low half sits at 16 + 8 * i on a little-endian machine

# Refused whatever their arguments (a name the architecture lacks is skipped).
REFUSED_GROUPS: dict[str, tuple[str, ...]] = {
    "listening sockets": ("bind", "listen"),
    "file metadata": (
        "chmod", "fchmod", "fchmodat", "fchmodat2",
        "chown", "fchown", "lchown", "fchownat",
        "utime", "utimes", "futimesat", "utimensat",
        "setxattr", "lsetxattr", "fsetxattr", "setxattrat",
        "removexattr", "lremovexattr", "fremovexattr", "removexattrat",
        "file_setattr",
    ),
    "IPC objects": (
        "shmget", "shmat", "shmctl", "semget", "semop", "semtimedop", "semctl",
        "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink",
    ),
    "keyrings": ("add_key", "request_key", "keyctl"),
    "leaving the exec's session, or making the agent its tracer": ("setsid", "setpgid", "ptrace"),
    "io_uring": ("io_uring_setup",),
}  # fmt: skip
REFUSED = tuple(name for names in REFUSED_GROUPS.values() for name in names)

# Allowed only when every (argument index, value) holds, else refused: the target
# is the calling thread itself (pid 0), or the socket is AF_UNIX.
ONLY_WITH: dict[str, tuple[tuple[int, int], ...]] = {
    "socket": ((0, AF_UNIX),),
    "prlimit64": ((0, 0),),
    "sched_setaffinity": ((0, 0),),
    "sched_setscheduler": ((0, 0),),
    "sched_setparam": ((0, 0),),
    "sched_setattr": ((0, 0),),
    "setpriority": ((0, PRIO_PROCESS), (1, 0)),
    "ioprio_set": ((0, IOPRIO_WHO_PROCESS), (1, 0)),
}
# With TCP client sockets allowed: the sends whose flags (the argument at this index)
# must not hold MSG_FASTOPEN.
SEND_FLAGS_ARG = {"sendto": 3, "sendmsg": 2, "sendmmsg": 3}
# ioctl requests (its second argument) that change a file the caller owns but may not
# write: inode flags (chattr), the fsxattr flags and project id, the generation number,
# fs-verity (which makes a file read-only for good) and an encryption policy.
FILE_CHANGING_IOCTLS = {
    "FS_IOC_SETFLAGS": 0x40086602,
    "FS_IOC32_SETFLAGS": 0x40046602,
    "FS_IOC_FSSETXATTR": 0x401C5820,
    "FS_IOC_SETVERSION": 0x40087602,
    "FS_IOC32_SETVERSION": 0x40047602,
    "FS_IOC_ENABLE_VERITY": 0x40806685,
    "FS_IOC_SET_ENCRYPTION_POLICY": 0x800C6613,
}


class Abi(NamedTuple):
    """One native syscall ABI: its audit arch and the numbers the filter checks."""

    audit_arch: int
    numbers: dict[str, int]
    x32_bit: bool  # whether numbers with X32_SYSCALL_BIT are another ABI to refuse


# Numbers from the kernel's syscall tables (unistd_64.h, asm-generic/unistd.h); the
# unit tests check them against libseccomp's. Numbers from 424 up are shared.
_SHARED = {
    "io_uring_setup": 425, "clone3": 435, "fchmodat2": 452, "setxattrat": 463, "removexattrat": 466,
    "file_setattr": 469,
}  # fmt: skip
ABIS: dict[str, Abi] = {
    "x86_64": Abi(
        0xC000003E,
        {
            "ioctl": 16, "socket": 41, "bind": 49, "listen": 50,
            "sendto": 44, "sendmsg": 46, "sendmmsg": 307,
            "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94,
            "fchownat": 260, "fchmodat": 268,
            "utime": 132, "utimes": 235, "futimesat": 261, "utimensat": 280,
            "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
            "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199,
            "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65,
            "semctl": 66, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
            "semtimedop": 220, "mq_open": 240, "mq_unlink": 241,
            "add_key": 248, "request_key": 249, "keyctl": 250,
            "setpgid": 109, "setsid": 112,
            "setpriority": 141, "sched_setparam": 142, "sched_setscheduler": 144,
            "sched_setaffinity": 203, "ioprio_set": 251, "prlimit64": 302,
            "sched_setattr": 314, "clone": 56, "ptrace": 101,
            **_SHARED,
        },
        x32_bit=True,
    ),
    "aarch64": Abi(
        0xC00000B7,
        {
            "ioctl": 29, "socket": 198, "bind": 200, "listen": 201,
            "sendto": 206, "sendmsg": 211, "sendmmsg": 269,
            "fchmod": 52, "fchmodat": 53, "fchownat": 54, "fchown": 55, "utimensat": 88,
            "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7,
            "removexattr": 14, "lremovexattr": 15, "fremovexattr": 16,
            "mq_open": 180, "mq_unlink": 181, "msgget": 186, "msgctl": 187,
            "msgrcv": 188, "msgsnd": 189, "semget": 190, "semctl": 191,
            "semtimedop": 192, "semop": 193, "shmget": 194, "shmctl": 195, "shmat": 196,
            "add_key": 217, "request_key": 218, "keyctl": 219,
            "setpgid": 154, "setsid": 157,
            "setpriority": 140, "sched_setparam": 118, "sched_setscheduler": 119,
            "sched_setaffinity": 122, "ioprio_set": 30, "prlimit64": 261,
            "sched_setattr": 274, "clone": 220, "ptrace": 117,
            **_SHARED,
        },
        x32_bit=False,
    ),
}  # fmt: skip


class Unsupported(Exception):
    """No filter is known for this machine's architecture."""


class Op(NamedTuple):
    """One instruction; jumps name a `Label` (None: fall through to the next)."""

    code: int
    k: int
    if_true: str | None = None
    if_false: str | None = None


class Label(NamedTuple):
    name: str


def _assemble(steps: list[Op | Label]) -> bytes:
    """Pack ``steps`` as ``sock_filter``s, resolving jump labels (forward only)."""
    where: dict[str, int] = {}
    ops: list[Op] = []
    for step in steps:
        if isinstance(step, Label):
            where[step.name] = len(ops)
        else:
            ops.append(step)
    packed = []
    for index, op in enumerate(ops):
        jt = 0 if op.if_true is None else where[op.if_true] - index - 1
        jf = 0 if op.if_false is None else where[op.if_false] - index - 1
        if not (0 <= jt <= MAX_JUMP and 0 <= jf <= MAX_JUMP):
            raise ValueError(f"jump out of range at instruction {index}")
        packed.append(struct.pack("=HBBI", op.code, jt, jf, op.k))
    return b"".join(packed)


def _arg(index: int) -> int:
    """The offset of the low half of argument ``index`` (the kernel reads an int or a
    pid_t from it, so the high half does not matter)."""
    return OFFSET_ARGS + 8 * index


def program(machine: str, tcp_client: bool = False) -> bytes:
    """The filter for ``machine`` (``platform.machine()``) as packed ``sock_filter``s;
    ``tcp_client``: TCP client sockets are allowed too (see the module's docstring)."""
    abi = ABIS.get(machine)
    if abi is None:
        raise Unsupported(f"no syscall filter is known for the {machine or 'unknown'} architecture")
    steps: list[Op | Label] = [
        Op(LD_W_ABS, OFFSET_ARCH),
        Op(JEQ_K, abi.audit_arch, if_false="refuse"),
        Op(LD_W_ABS, OFFSET_NR),
    ]
    if abi.x32_bit:
        steps.append(Op(JGE_K, X32_SYSCALL_BIT, if_true="refuse"))
    checked = {name: name for name in ONLY_WITH}
    if tcp_client:
        checked["socket"] = "tcp_socket"
        checked.update({name: name for name in SEND_FLAGS_ARG})
    steps += [Op(JEQ_K, abi.numbers[name], if_true=label) for name, label in checked.items()]
    steps.append(Op(JEQ_K, abi.numbers["ioctl"], if_true="ioctl"))
    steps.append(Op(JEQ_K, abi.numbers["clone"], if_true="clone"))
    steps.append(Op(JEQ_K, abi.numbers["clone3"], if_true="no_such_call"))
    steps += [Op(JEQ_K, abi.numbers[n], if_true="refuse") for n in REFUSED if n in abi.numbers]
    steps.append(Op(RET_K, SECCOMP_RET_ALLOW))
    for name, conditions in ONLY_WITH.items():
        if checked[name] != name:
            continue
        steps.append(Label(name))
        for index, value in conditions:
            steps += [Op(LD_W_ABS, _arg(index)), Op(JEQ_K, value, if_false="refuse")]
        steps.append(Op(RET_K, SECCOMP_RET_ALLOW))
    if tcp_client:
        steps += _tcp_client_steps()
    steps += [Label("ioctl"), Op(LD_W_ABS, _arg(1))]
    steps += [Op(JEQ_K, code, if_true="refuse") for code in FILE_CHANGING_IOCTLS.values()]
    steps += [
        Op(RET_K, SECCOMP_RET_ALLOW),
        Label("clone"),
        Op(LD_W_ABS, _arg(0)),  # the flags (their low half holds CLONE_PARENT)
        Op(JSET_K, CLONE_PARENT, if_true="refuse"),
        Op(RET_K, SECCOMP_RET_ALLOW),
        Label("no_such_call"),
        Op(RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS),
        Label("refuse"),
        Op(RET_K, SECCOMP_RET_ERRNO | errno.EACCES),
    ]
    return _assemble(steps)


def _tcp_client_steps() -> list[Op | Label]:
    """socket(): AF_UNIX, or AF_INET with SOCK_STREAM and protocol 0 or TCP; sends:
    no MSG_FASTOPEN."""
    steps: list[Op | Label] = [
        Label("tcp_socket"),
        Op(LD_W_ABS, _arg(0)),
        Op(JEQ_K, AF_UNIX, if_true="allow_socket"),
        Op(JEQ_K, AF_INET, if_false="refuse"),
        Op(LD_W_ABS, _arg(1)),
        Op(AND_K, SOCK_TYPE_MASK),
        Op(JEQ_K, SOCK_STREAM, if_false="refuse"),
        Op(LD_W_ABS, _arg(2)),
        Op(JEQ_K, 0, if_true="allow_socket"),
        Op(JEQ_K, IPPROTO_TCP, if_false="refuse"),
        Label("allow_socket"),
        Op(RET_K, SECCOMP_RET_ALLOW),
    ]
    for name, index in SEND_FLAGS_ARG.items():
        steps += [
            Label(name),
            Op(LD_W_ABS, _arg(index)),
            Op(JSET_K, MSG_FASTOPEN, if_true="refuse"),
            Op(RET_K, SECCOMP_RET_ALLOW),
        ]
    return steps


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Prepared:
    """The native filter, ready to load: everything allocated in the agent, so the
    forked child makes one ``prctl`` call and nothing else."""

    def __init__(self, tcp_client: bool = False) -> None:
        packed = program(platform.machine(), tcp_client)
        self._buffer = ctypes.create_string_buffer(packed, len(packed))
        self._fprog = _SockFprog(len(packed) // 8, ctypes.addressof(self._buffer))
        self._prctl = ctypes.CDLL(None, use_errno=True).prctl

    def load(self) -> None:
        """Install the filter on the calling thread (after ``no_new_privs``). Raises
        OSError, so the exec fails instead of running without it."""
        done = self._prctl(
            ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
            ctypes.byref(self._fprog), ctypes.c_ulong(0), ctypes.c_ulong(0),
        )  # fmt: skip
        if done != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"prctl(PR_SET_SECCOMP): {os.strerror(code)}")


@functools.lru_cache(maxsize=2)
def native(tcp_client: bool = False) -> Prepared:
    """This machine's filter (with TCP client sockets or without), built once per agent
    (it never changes) and shared by every confined exec; raises `Unsupported`."""
    return Prepared(tcp_client)
