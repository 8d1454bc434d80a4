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


def run(program: bytes, nr: int, arch: int, *args: int) -> int:
    """What the filter returns for one syscall (only the opcodes the filter uses)."""
    full = (list(args) + [0] * 6)[:6]
    data = struct.pack("=iIQ6Q", nr, arch, 0, *full)
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
        elif code == syscall_filter.JSET_K:
            pc += 1 + (jt if acc & k else jf)
        elif code == syscall_filter.AND_K:
            acc &= k
            pc += 1
        elif code == syscall_filter.RET_K:
            return int(k)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("the program ran off its end")


# Too new for this libseccomp: test_confined_agent.py shows on this kernel that each
# number does what the name says (unconfined) and is refused (confined).
NEWER_THAN_LIBSECCOMP = {"setxattrat", "removexattrat", "file_setattr"}


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_numbers_match_libseccomp(machine: str) -> None:
    arch = LIBSECCOMP_ARCH[machine]
    for name, number in ABIS[machine].numbers.items():
        known = pyseccomp.resolve_syscall(arch, name)
        if known < 0 and name in NEWER_THAN_LIBSECCOMP:
            continue
        assert known == number, (machine, name)
    # every refused name this architecture has is in its table
    for name in syscall_filter.REFUSED:
        if pyseccomp.resolve_syscall(arch, name) >= 0:
            assert name in ABIS[machine].numbers, (machine, name)


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
        if name in abi.numbers:
            assert run(program, abi.numbers[name], abi.audit_arch) == REFUSE, name
    arch = LIBSECCOMP_ARCH[machine]
    for name in ("read", "openat", "execve", "socketpair", "connect", "clone", "exit_group",
                 "setrlimit", "getpriority", "sched_getaffinity", "fstat", "getxattr"):  # fmt: skip
        nr = pyseccomp.resolve_syscall(arch, name)
        if nr >= 0:
            assert run(program, nr, abi.audit_arch) == SECCOMP_RET_ALLOW, name


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_metadata_keyrings_sessions_and_listening_are_refused(machine: str) -> None:
    abi, program = ABIS[machine], syscall_filter.program(machine)
    for name in ("fchmod", "fchmodat", "fchownat", "utimensat", "fsetxattr", "removexattr",
                 "shmat", "shmctl", "semop", "msgsnd", "mq_unlink", "keyctl", "add_key",
                 "setsid", "setpgid", "bind", "listen", "fchmodat2", "file_setattr"):  # fmt: skip
        assert run(program, abi.numbers[name], abi.audit_arch, 0, 0) == REFUSE, name


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_scheduling_and_limits_only_of_the_calling_thread(machine: str) -> None:
    abi, program = ABIS[machine], syscall_filter.program(machine)
    agent = 4242  # any other process, the exec agent say
    for name in ("prlimit64", "sched_setaffinity", "sched_setscheduler", "sched_setparam",
                 "sched_setattr"):  # fmt: skip
        nr = abi.numbers[name]
        assert run(program, nr, abi.audit_arch, 0, 7) == SECCOMP_RET_ALLOW, name
        assert run(program, nr, abi.audit_arch, agent, 7) == REFUSE, name
        assert run(program, nr, abi.audit_arch, 0xFFFFFFFF) == REFUSE, name  # pid -1
    # a high half is not part of the pid the kernel reads
    assert run(program, abi.numbers["prlimit64"], abi.audit_arch, 1 << 32) == SECCOMP_RET_ALLOW
    setpriority, ioprio = abi.numbers["setpriority"], abi.numbers["ioprio_set"]
    prio_pgrp, prio_user, who_user = 1, 2, 3
    assert run(program, setpriority, abi.audit_arch, 0, 0, 10) == SECCOMP_RET_ALLOW  # nice
    for which, who in ((0, agent), (prio_pgrp, 0), (prio_user, 0), (prio_user, 1000)):
        assert run(program, setpriority, abi.audit_arch, which, who, 19) == REFUSE, (which, who)
    assert run(program, ioprio, abi.audit_arch, 1, 0, 7) == SECCOMP_RET_ALLOW
    for which, who in ((1, agent), (who_user, 0), (2, 0)):
        assert run(program, ioprio, abi.audit_arch, which, who, 7) == REFUSE, (which, who)


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_file_changing_ioctls_are_refused_others_pass(machine: str) -> None:
    abi, program = ABIS[machine], syscall_filter.program(machine)
    ioctl = abi.numbers["ioctl"]
    for name, request in syscall_filter.FILE_CHANGING_IOCTLS.items():
        assert run(program, ioctl, abi.audit_arch, 3, request) == REFUSE, name
    tcgets, fionread, fs_ioc_getflags = 0x5401, 0x541B, 0x80086601
    for request in (tcgets, fionread, fs_ioc_getflags):
        assert run(program, ioctl, abi.audit_arch, 1, request) == SECCOMP_RET_ALLOW


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


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_no_child_of_the_agent_and_clone3_falls_back(machine: str) -> None:
    abi, program = ABIS[machine], syscall_filter.program(machine)
    clone = abi.numbers["clone"]
    fork, thread, vfork = 0x11, 0x3D0F00, 0x4111  # SIGCHLD; pthread's; posix_spawn's
    for flags in (fork, thread, vfork):
        assert run(program, clone, abi.audit_arch, flags) == SECCOMP_RET_ALLOW, hex(flags)
    for flags in (syscall_filter.CLONE_PARENT | fork, (1 << 32) | syscall_filter.CLONE_PARENT):
        assert run(program, clone, abi.audit_arch, flags) == REFUSE, hex(flags)
    assert run(program, abi.numbers["clone3"], abi.audit_arch) == SECCOMP_RET_ERRNO | errno.ENOSYS
