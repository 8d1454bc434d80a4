"""The syscall filter of a confined command in a session with egress (``tcp_client``):
TCP client sockets and nothing more, through the same classic-BPF evaluator.

The kernel's verdicts are in `test_confined_agent_egress.py` and the integration tests.
"""

from __future__ import annotations

import pytest

from sandbox import syscall_filter
from sandbox.syscall_filter import (
    ABIS,
    AF_INET,
    AF_UNIX,
    IPPROTO_TCP,
    MSG_FASTOPEN,
    SECCOMP_RET_ALLOW,
    SOCK_STREAM,
)
from tests.unit.sandbox.test_syscall_filter import REFUSE, run

SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET = 2, 3, 5
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_MPTCP = 17, 132, 262
AF_INET6, AF_NETLINK, AF_PACKET, AF_VSOCK = 10, 16, 17, 40


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_without_egress_the_program_is_the_one_it_always_was(machine: str) -> None:
    assert syscall_filter.program(machine) == syscall_filter.program(machine, tcp_client=False)
    assert syscall_filter.program(machine) != syscall_filter.program(machine, tcp_client=True)


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_ipv4_tcp_client_sockets_are_allowed_with_their_flags(machine: str) -> None:
    abi = ABIS[machine]
    program = syscall_filter.program(machine, tcp_client=True)
    socket = abi.numbers["socket"]
    for kind in (SOCK_STREAM, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC):
        for protocol in (0, IPPROTO_TCP):
            verdict = run(program, socket, abi.audit_arch, AF_INET, kind, protocol)
            assert verdict == SECCOMP_RET_ALLOW, (kind, protocol)
    assert run(program, socket, abi.audit_arch, AF_UNIX, SOCK_DGRAM) == SECCOMP_RET_ALLOW


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_ipv6_udp_raw_sctp_mptcp_and_other_families_stay_refused(machine: str) -> None:
    abi = ABIS[machine]
    program = syscall_filter.program(machine, tcp_client=True)
    socket = abi.numbers["socket"]
    refused = [
        (AF_INET, SOCK_DGRAM, 0),  # UDP: DNS, or any datagram out
        (AF_INET6, SOCK_STREAM, 0),  # the proxy is on 127.0.0.1; [::1] could be anyone's
        (AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP),
        (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP),
        (AF_INET, SOCK_RAW, 1),
        (AF_INET6, SOCK_SEQPACKET, IPPROTO_SCTP),
        (AF_INET, SOCK_STREAM, IPPROTO_SCTP),  # a stream Landlock's TCP rules do not see
        (AF_INET6, SOCK_STREAM, IPPROTO_MPTCP),
        (AF_NETLINK, SOCK_RAW, 0),
        (AF_PACKET, SOCK_RAW, 0),
        (AF_VSOCK, SOCK_STREAM, 0),
        (0, SOCK_STREAM, 0),
        ((1 << 32) | 3, SOCK_STREAM, 0),  # the family is an int: the high half is ignored
    ]
    for args in refused:
        assert run(program, socket, abi.audit_arch, *args) == REFUSE, args
    for name in ("bind", "listen"):
        assert run(program, abi.numbers[name], abi.audit_arch, 3, 0) == REFUSE, name
    for name in syscall_filter.REFUSED:
        if name in abi.numbers:
            assert run(program, abi.numbers[name], abi.audit_arch) == REFUSE, name


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_no_send_with_fast_open_whose_connect_landlock_does_not_see(machine: str) -> None:
    abi = ABIS[machine]
    program = syscall_filter.program(machine, tcp_client=True)
    for name, index in syscall_filter.SEND_FLAGS_ARG.items():
        flags = [0] * 6
        assert run(program, abi.numbers[name], abi.audit_arch, *flags) == SECCOMP_RET_ALLOW
        flags[index] = MSG_FASTOPEN | 0x40  # with MSG_DONTWAIT
        assert run(program, abi.numbers[name], abi.audit_arch, *flags) == REFUSE, name


@pytest.mark.parametrize("machine", sorted(ABIS))
def test_the_rest_of_the_filter_still_holds_with_tcp_client(machine: str) -> None:
    abi = ABIS[machine]
    program = syscall_filter.program(machine, tcp_client=True)
    agent = 4242
    assert run(program, abi.numbers["prlimit64"], abi.audit_arch, agent) == REFUSE
    assert run(program, abi.numbers["prlimit64"], abi.audit_arch, 0) == SECCOMP_RET_ALLOW
    ioctl = abi.numbers["ioctl"]
    chattr = syscall_filter.FILE_CHANGING_IOCTLS["FS_IOC_SETFLAGS"]
    assert run(program, ioctl, abi.audit_arch, 3, chattr) == REFUSE
    assert run(program, abi.numbers["clone3"], abi.audit_arch) != SECCOMP_RET_ALLOW
    assert run(program, abi.numbers["clone"], abi.audit_arch, syscall_filter.CLONE_PARENT) == REFUSE
