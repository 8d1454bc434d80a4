"""The confined command's seccomp filter, run through a classic-BPF evaluator.

The kernel's verdicts are tested in `test_confined_agent.py` and the integration tests;
here every architecture's program is checked, including the one this machine lacks.
"""

from __future__ import annotations

import errno
import struct

import pyseccomp
import pytest

from sandbox import syscall_filter
from sandbox.syscall_filter import ABIS, AF_UNIX, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO

REFUSE = SECCOMP_RET_ERRNO | errno.EACCES
LIBSECCOMP_ARCH = {"x86_64": pyseccomp.Arch.X86_64, "aarch64": pyseccomp.Arch.AARCH64}


def run(program: bytes, nr: int, arch: int, arg0: int = 0) -> int:
    """What the filter returns for one syscall (only the opcodes the filter uses)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    ops = [struct.unpack_from("=HBBI", program, at) for at in range(0, len(program), 8)]
    pc, acc = 0, 0
    for _ in range(len(ops)):  # jumps go forward only: at most one visit each
        code, jt, jf, k = ops[pc]
        if code == syscall_filter.LD_W_ABS:
            (acc,) = struct.unpack_from("=I", data, k)
            pc += 1
        elif code == syscall_filter.JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif code == syscall_filter.JGE_K:
            pc += 1 + (jt if acc >= k else jf)
        elif code == syscall_filter.RET_K:
            return int(k)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("the program ran off its end")


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_numbers_match_libseccomp(machine: str) -> None:
    arch = LIBSECCOMP_ARCH[machine]
    for name, number in ABIS[machine].numbers.items():
        assert pyseccomp.resolve_syscall(arch, name) == number, (machine, name)


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_sockets_other_than_unix_ipc_objects_and_io_uring_are_refused(machine: str) -> None:
    abi = ABIS[machine]
    program = syscall_filter.program(machine)
    socket = abi.numbers["socket"]
    assert run(program, socket, abi.audit_arch, AF_UNIX) == SECCOMP_RET_ALLOW
    for family in (2, 10, 16, 17, 40, 0, 0xFFFFFFFF):  # INET, INET6, NETLINK, PACKET, VSOCK
        assert run(program, socket, abi.audit_arch, family) == REFUSE, family
    # the family is an int: a high half does not turn AF_INET into AF_UNIX or back
    assert run(program, socket, abi.audit_arch, (1 << 32) | AF_UNIX) == SECCOMP_RET_ALLOW
    assert run(program, socket, abi.audit_arch, (1 << 32) | 2) == REFUSE
    for name in syscall_filter.REFUSED:
        assert run(program, abi.numbers[name], abi.audit_arch) == REFUSE, name
    arch = LIBSECCOMP_ARCH[machine]
    for name in ("read", "openat", "execve", "socketpair", "connect", "clone", "exit_group"):
        nr = pyseccomp.resolve_syscall(arch, name)
        assert run(program, nr, abi.audit_arch) == SECCOMP_RET_ALLOW, name


def test_other_abis_are_refused_whole() -> None:
    program = syscall_filter.program("x86_64")
    native = ABIS["x86_64"].audit_arch
    i386 = 0x40000003
    for nr in (0, 1, 41, 102, 359):  # read..., socketcall and socket on i386
        assert run(program, nr, i386) == REFUSE
    x32_socket = syscall_filter.X32_SYSCALL_BIT | 41
    assert run(program, x32_socket, native, 2) == REFUSE
    assert run(program, syscall_filter.X32_SYSCALL_BIT | 0, native) == REFUSE
    arm32 = 0x40000028
    assert run(syscall_filter.program("aarch64"), 281, arm32, 2) == REFUSE


def test_an_unknown_architecture_has_no_filter() -> None:
    with pytest.raises(syscall_filter.Unsupported, match="riscv64"):
        syscall_filter.program("riscv64")
