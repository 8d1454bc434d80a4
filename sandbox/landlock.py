"""Landlock, the kernel's unprivileged access control, through ctypes (no dependencies).

Runs inside the container as part of the exec agent, so it is standard-library-only and
Python 3.8+. Three parts: the ABI query, the ruleset a read-only command gets (a pure
function of the ABI, unit-tested on the host), and applying it: the ruleset is built in
the agent and the forked child restricts itself with it just before ``exec``.

What a Landlock domain enforces, from the moment a process restricts itself, on it and
every descendant: a handled access right is denied on every file but those a rule grants
it beneath. The kernel checks it at ``open``/``mkdir``/``unlink``... and at ``execve``
(of the program and of its ELF or ``#!`` interpreter). Reading is not handled here.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

SYS_CREATE_RULESET = 444  # the same number on every architecture (asm-generic)
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
RULE_NET_PORT = 2  # ABI 4
PR_SET_NO_NEW_PRIVS = 38

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2: link or rename into another directory
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5: ioctl on a device opened after the restriction
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1
NET_ABI = 4  # the first ABI that handles TCP
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6: connect to abstract sockets of other domains
SCOPE_SIGNAL = 1 << 1  # ABI 6: signal processes outside the domain

# Every right that changes the filesystem, with the ABI that introduced it. ABI 7 added
# only audit flags. A right of a later ABI is not known here, so it stays unhandled
# (allowed): the report names the ABI whose rights were applied.
WRITE_RIGHTS_BY_ABI: tuple[tuple[int, int], ...] = (
    (
        1,
        FS_WRITE_FILE
        | FS_REMOVE_DIR
        | FS_REMOVE_FILE
        | FS_MAKE_CHAR
        | FS_MAKE_DIR
        | FS_MAKE_REG
        | FS_MAKE_SOCK
        | FS_MAKE_FIFO
        | FS_MAKE_BLOCK
        | FS_MAKE_SYM,
    ),
    (2, FS_REFER),
    (3, FS_TRUNCATE),
    (5, FS_IOCTL_DEV),
)
NEWEST_KNOWN_ABI = 7
# Made nowhere, the private TMPDIR included: a socket to listen on, device nodes.
NOT_IN_SCRATCH = FS_MAKE_SOCK | FS_MAKE_CHAR | FS_MAKE_BLOCK
# The rights a rule on a file (not a directory) may grant.
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
# Character devices a read-only command writes to: the bit bucket only. Writes to the
# exec's own pipes (/dev/stdout, /proc/self/fd/1) are not path-checked: pipes live in
# an internal filesystem that Landlock lets through; a real file reopened that way is.
WRITABLE_DEVICES = ("/dev/null",)


class Unavailable(Exception):
    """This kernel or runtime offers no Landlock; the message says why."""


class Rule(NamedTuple):
    """Grant ``rights`` on ``path`` (beneath it, for a directory)."""

    path: str
    rights: int


class PortRule(NamedTuple):
    """Grant ``rights`` (TCP connect, here) to ``port``, on any address."""

    port: int
    rights: int


class Ruleset(NamedTuple):
    """What to handle and what to grant: everything ``build`` needs, as plain data."""

    abi: int  # the ABI whose rights are used: min(kernel's, NEWEST_KNOWN_ABI)
    handled_fs: int
    handled_net: int
    scoped: int
    rules: tuple[Rule, ...]
    port_rules: tuple[PortRule, ...] = ()


_LIBC: list[ctypes.CDLL] = []  # loaded once, in the agent: forked children inherit it


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        _LIBC.append(libc)
    return _LIBC[0]


def abi_version() -> int:
    """The kernel's Landlock ABI version; raises `Unavailable` when there is none."""
    try:
        libc = _libc()
    except OSError as exc:
        raise Unavailable(f"no C library to call Landlock with: {exc}") from None
    version = libc.syscall(
        ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
        ctypes.c_uint32(CREATE_RULESET_VERSION),
    )  # fmt: skip
    if version >= 1:
        return int(version)
    code = ctypes.get_errno()
    why = {
        errno.ENOSYS: "the kernel (or gVisor) does not implement Landlock",
        errno.EOPNOTSUPP: "Landlock is built in but disabled at boot",
        errno.EPERM: "the seccomp profile refuses the Landlock syscalls",
    }.get(code, os.strerror(code))
    raise Unavailable(f"Landlock is unavailable: {why} (errno {code})")


def write_rights(abi: int) -> int:
    """Every filesystem right that writes, as far as ABI ``abi`` knows them."""
    rights = 0
    for since, bits in WRITE_RIGHTS_BY_ABI:
        if abi >= since:
            rights |= bits
    return rights


def read_only_ruleset(
    kernel_abi: int,
    scratch: str | None,
    executables: list[str],
    connect_ports: tuple[int, ...] = (),
) -> Ruleset:
    """The ruleset of a proven read-only command: reads anywhere, writes only beneath
    ``scratch`` (its private TMPDIR) and to /dev/null, runs only ``executables``, no
    TCP bind, no TCP connect but to ``connect_ports`` (the session's egress proxy, on
    loopback: the sandbox has no other interface), no signal or abstract socket outside
    its own processes. ``connect_ports`` needs ABI 4: below it, ValueError (the caller
    decides what runs instead; TCP is then not handled at all).

    Stops: a repository's config that makes a read-only tool write (a hook, an
    fsmonitor script appending to .git/config), run a program of the repo, or open a
    socket; a redirection that reopens a file for writing (``1<.git/config
    >/dev/stdout``); a command that kills the exec agent or a neighbouring exec.
    """
    abi = min(kernel_abi, NEWEST_KNOWN_ABI)
    writes = write_rights(abi)
    file_writes = writes & FILE_RIGHTS
    rules = [Rule(device, file_writes) for device in WRITABLE_DEVICES]
    if scratch is not None:
        rules.append(Rule(scratch, writes & ~NOT_IN_SCRATCH))
    rules.extend(Rule(path, FS_EXECUTE) for path in sorted(set(executables)))
    if connect_ports and abi < NET_ABI:
        raise ValueError(f"Landlock ABI {abi} cannot limit TCP connect to a port")
    return Ruleset(
        abi=abi,
        handled_fs=writes | FS_EXECUTE,
        handled_net=NET_BIND_TCP | NET_CONNECT_TCP if abi >= NET_ABI else 0,
        scoped=SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0,
        rules=tuple(rules),
        port_rules=tuple(PortRule(port, NET_CONNECT_TCP) for port in sorted(set(connect_ports))),
    )


def _attr_size(abi: int) -> int:
    """Bytes of ``struct landlock_ruleset_attr`` that ABI ``abi`` reads."""
    return 8 if abi < 4 else 16 if abi < 6 else 24


def build(ruleset: Ruleset) -> int:
    """Create the ruleset in the kernel; return its fd (close-on-exec). Raises OSError."""
    libc = _libc()
    raw = struct.pack("=QQQ", ruleset.handled_fs, ruleset.handled_net, ruleset.scoped)
    size = _attr_size(ruleset.abi)
    attr = ctypes.create_string_buffer(raw[:size], size)
    fd = libc.syscall(
        ctypes.c_long(SYS_CREATE_RULESET), attr, ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"landlock_create_ruleset: {os.strerror(code)}")
    try:
        for rule in ruleset.rules:
            _add_rule(libc, int(fd), rule)
        for port_rule in ruleset.port_rules:
            _add_port_rule(libc, int(fd), port_rule)
    except BaseException:
        os.close(fd)
        raise
    return int(fd)


def _add_rule(libc: ctypes.CDLL, ruleset_fd: int, rule: Rule) -> None:
    target = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
    try:
        rights = rule.rights
        if not stat.S_ISDIR(os.fstat(target).st_mode):
            rights &= FILE_RIGHTS
        # struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd
        beneath = ctypes.create_string_buffer(struct.pack("=Qi", rights, target), 12)
        done = libc.syscall(
            ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(ruleset_fd),
            ctypes.c_int(RULE_PATH_BENEATH), beneath, ctypes.c_uint32(0),
        )  # fmt: skip
        if done != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"landlock_add_rule {rule.path}: {os.strerror(code)}")
    finally:
        os.close(target)


def _add_port_rule(libc: ctypes.CDLL, ruleset_fd: int, rule: PortRule) -> None:
    # struct landlock_net_port_attr is packed: u64 allowed_access, u64 port
    port = ctypes.create_string_buffer(struct.pack("=QQ", rule.rights, rule.port), 16)
    done = libc.syscall(
        ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(ruleset_fd),
        ctypes.c_int(RULE_NET_PORT), port, ctypes.c_uint32(0),
    )  # fmt: skip
    if done != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"landlock_add_rule port {rule.port}: {os.strerror(code)}")


def restrict_self(ruleset_fd: int) -> None:
    """Enter the ruleset's domain (this thread, and every process it starts). Called in
    the forked child before exec; raises OSError, so the exec fails instead of running
    unconfined."""
    libc = _libc()
    one, zero = ctypes.c_ulong(1), ctypes.c_ulong(0)
    if libc.prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), one, zero, zero, zero) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(code)}")
    done = libc.syscall(
        ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)
    )
    if done != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"landlock_restrict_self: {os.strerror(code)}")


# --- which files must be executable ---------------------------------------------------

MAX_INTERPRETER_DEPTH = 4  # the kernel follows at most this many #! levels
ELF_MAGIC = b"\x7fELF"
PT_INTERP = 3


def find_program(name: str, search_path: str, cwd: str) -> str | None:
    """The file ``name`` runs as, found like the shell does: a name with a slash is a
    path (from ``cwd``), any other the first executable file along ``search_path``.
    Returned with symlinks resolved; None when there is none."""
    if not name:
        return None
    if "/" in name:
        candidates = [Path(cwd, name)]
    else:
        candidates = [Path(d or cwd, name) for d in search_path.split(":")]
    for candidate in candidates:
        try:  # like the shell, skip what cannot be looked at (an unreadable PATH entry)
            if stat.S_ISREG(candidate.stat().st_mode) and os.access(candidate, os.X_OK):
                return str(candidate.resolve())
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop in Python 3.8-3.12
            continue
    return None


def elf_interpreter(head: bytes) -> str | None:
    """The PT_INTERP path of an ELF file (from its first bytes), or None (static, or
    not ELF, or the header lies outside ``head``)."""
    if len(head) < 52 or head[:4] != ELF_MAGIC or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
    if wide:
        (phoff,) = struct.unpack_from(order + "Q", head, 0x20)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 0x36)
    else:
        (phoff,) = struct.unpack_from(order + "I", head, 0x1C)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 0x2A)
    for index in range(phnum):
        start = phoff + index * phentsize
        if start + (56 if wide else 32) > len(head):
            return None
        (p_type,) = struct.unpack_from(order + "I", head, start)
        if p_type != PT_INTERP:
            continue
        if wide:
            (offset,) = struct.unpack_from(order + "Q", head, start + 8)
            (size,) = struct.unpack_from(order + "Q", head, start + 32)
        else:
            (offset,) = struct.unpack_from(order + "I", head, start + 4)
            (size,) = struct.unpack_from(order + "I", head, start + 16)
        if offset + size > len(head):
            return None
        return head[offset : offset + size].split(b"\0", 1)[0].decode("utf-8", "replace")
    return None


def script_interpreter(head: bytes) -> tuple[str, str | None] | None:
    """The interpreter of a ``#!`` script and its optional argument, or None."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if not line:
        return None
    parts = line.split(None, 1)
    return parts[0], parts[1].strip() if len(parts) > 1 else None


HEAD_BYTES = 8192  # enough for an ELF's program headers and interpreter path


def _head(path: str) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            return handle.read(HEAD_BYTES)
    except OSError:
        return b""


def interpreters(program: str, search_path: str, cwd: str) -> list[str]:
    """The files the kernel also execs to run ``program``: its ELF interpreter (the
    dynamic loader), or its ``#!`` interpreter and theirs, and for ``#!/usr/bin/env X``
    the X that env runs."""
    found: list[str] = []
    pending = [program]
    for _ in range(MAX_INTERPRETER_DEPTH + 1):
        if not pending:
            break
        head = _head(pending.pop())
        loader = elf_interpreter(head)
        if loader is not None:
            resolved = find_program(loader, "", "/") if loader.startswith("/") else None
            if resolved is not None:
                found.append(resolved)
            continue
        script = script_interpreter(head)
        if script is None:
            continue
        interpreter = find_program(script[0], "", cwd)
        if interpreter is None:
            continue
        found.append(interpreter)
        pending.append(interpreter)
        if Path(interpreter).name == "env" and script[1]:
            target = script[1].split()[0]
            if not target.startswith("-"):
                named = find_program(target, search_path, cwd)
                if named is not None:
                    found.append(named)
                    pending.append(named)
    return found


def session_can_write(path: str) -> bool:
    """Whether this process may change ``path`` or any directory above it (false on the
    read-only root). A file in a tree the session writes to (the workspace, /tmp) holds
    what the session or the repository put there, also when the session cannot write
    that file itself: the copy-in's root-owned ``.git/hooks`` are the repository's.

    The agent asks as root without capabilities, the exec runs as the session's user:
    the answers agree, as each tree the session may write has a top both may write (mode
    1777) and the read-only root refuses both."""
    current = Path(path)
    return any(os.access(place, os.W_OK) for place in (current, *current.parents))


def executables(
    names: list[str],
    search_path: str,
    cwd: str,
    can_write: Callable[[str], bool] = session_can_write,
) -> tuple[dict[str, str], list[str], list[str]]:
    """Resolve program names to the files to grant EXECUTE: ``(granted, missing,
    writable)``. ``granted`` maps each name to its file; interpreters are added under
    ``name -> interpreter``. A file this process could write, or one beneath a
    directory it could write (the workspace, /tmp), is never granted: the session or
    the repository could have put anything there."""
    granted: dict[str, str] = {}
    missing: list[str] = []
    writable: list[str] = []
    for name in names:
        path = find_program(name, search_path, cwd)
        if path is None:
            missing.append(name)
            continue
        if can_write(path):
            writable.append(name)
            continue
        granted[name] = path
        for interpreter in interpreters(path, search_path, cwd):
            if can_write(interpreter):
                writable.append(f"{name} -> {interpreter}")
            else:
                granted.setdefault(f"{name} -> {interpreter}", interpreter)
    return granted, missing, writable
