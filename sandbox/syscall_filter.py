"""The seccomp filter a confined command gets on top of its Landlock domain.

Standard-library-only and Python 3.8+ (it ships inside the exec agent). Landlock
confines files, TCP and signals; what it leaves open is closed here, because code can
run inside the domain (a program made to exec a chosen file, the dynamic loader run as a
program) and must find nothing more than a read-only command has:

- sockets of any family but AF_UNIX: UDP (``/dev/udp/...``), raw and packet sockets,
  netlink, vsock. Landlock (ABI 4 to 7) covers TCP bind and connect only;
- state that outlives the command outside the filesystem: System V shared memory,
  semaphores and message queues, POSIX message queues;
- io_uring, whose operations (opening sockets included) no syscall filter sees;
- every syscall of another ABI (i386, x32), whose numbers this filter does not check.

Each fails with EACCES, as Landlock's refusals do. The program is classic BPF built
here, in the agent, and loaded by the forked child after ``no_new_privs``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from typing import NamedTuple

AF_UNIX = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
X32_SYSCALL_BIT = 0x40000000

# Classic BPF opcodes used below.
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = u32 at offset k of seccomp_data
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARG0_LOW = 16  # the low half of args[0] on a little-endian machine

REFUSED = ("shmget", "semget", "msgget", "mq_open", "io_uring_setup")


class Abi(NamedTuple):
    """One native syscall ABI: its audit arch and the numbers the filter checks."""

    audit_arch: int
    numbers: dict[str, int]
    x32_bit: bool  # whether numbers with X32_SYSCALL_BIT are another ABI to refuse


ABIS: dict[str, Abi] = {
    "x86_64": Abi(
        0xC000003E,
        {
            "socket": 41,
            "shmget": 29,
            "semget": 64,
            "msgget": 68,
            "mq_open": 240,
            "io_uring_setup": 425,
        },
        x32_bit=True,
    ),
    "aarch64": Abi(
        0xC00000B7,
        {
            "socket": 198,
            "shmget": 194,
            "semget": 190,
            "msgget": 186,
            "mq_open": 180,
            "io_uring_setup": 425,
        },
        x32_bit=False,
    ),
}


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
    """Pack ``steps`` as ``sock_filter``s, resolving jump labels."""
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
        packed.append(struct.pack("=HBBI", op.code, jt, jf, op.k))
    return b"".join(packed)


def program(machine: str) -> bytes:
    """The filter for ``machine`` (``platform.machine()``) as packed ``sock_filter``s."""
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
    steps.append(Op(JEQ_K, abi.numbers["socket"], if_true="socket"))
    steps += [Op(JEQ_K, abi.numbers[name], if_true="refuse") for name in REFUSED]
    steps += [
        Op(RET_K, SECCOMP_RET_ALLOW),
        Label("socket"),
        Op(LD_W_ABS, OFFSET_ARG0_LOW),
        Op(JEQ_K, AF_UNIX, if_false="refuse"),
        Op(RET_K, SECCOMP_RET_ALLOW),
        Label("refuse"),
        Op(RET_K, SECCOMP_RET_ERRNO | errno.EACCES),
    ]
    return _assemble(steps)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Prepared:
    """The native filter, ready to load: everything allocated in the agent, so the
    forked child makes one ``prctl`` call and nothing else."""

    def __init__(self) -> None:
        packed = program(platform.machine())
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
