"""Read `strace -f -y` output: system calls, then what they did (execs, writes, sockets).

Handles pid prefixes (``123 `` from ``-o FILE``, ``[pid 123]`` on stderr), calls split
by ``-f`` into ``<unfinished ...>`` / ``<... NAME resumed>`` halves, quoted strings with
C escapes and the ``"..."...`` mark of a string cut by ``-s``, and ``-y`` fd paths
(``3</workspace/x>``, ``AT_FDCWD</workspace>``). Signal and exit lines are skipped.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

_PREFIX = re.compile(r"^(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?(.*)$", re.S)
_UNFINISHED = " <unfinished ...>"
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>\s?(.*)$", re.S)
_CALL = re.compile(r"^(\w+)\(")
_FD = re.compile(r"^(-?\d+|AT_FDCWD)(?:<(.*)>)?(?:\(deleted\))?$", re.S)
_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, "e": 27}

WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
# Calls that change a file or the system. Each target is (dirfd index or None, path index
# or None): a path alone, a path relative to a dirfd, or (path None) the fd itself.
MODIFYING: dict[str, tuple[tuple[int | None, int | None], ...]] = {
    "creat": ((None, 0),),
    "rename": ((None, 0), (None, 1)),
    "renameat": ((0, 1), (2, 3)),
    "renameat2": ((0, 1), (2, 3)),
    "unlink": ((None, 0),),
    "unlinkat": ((0, 1),),
    "rmdir": ((None, 0),),
    "mkdir": ((None, 0),),
    "mkdirat": ((0, 1),),
    "mknod": ((None, 0),),
    "mknodat": ((0, 1),),
    "link": ((None, 1),),
    "linkat": ((2, 3),),
    "symlink": ((None, 1),),
    "symlinkat": ((1, 2),),
    "chmod": ((None, 0),),
    "fchmod": ((0, None),),
    "fchmodat": ((0, 1),),
    "chown": ((None, 0),),
    "lchown": ((None, 0),),
    "fchown": ((0, None),),
    "fchownat": ((0, 1),),
    "truncate": ((None, 0),),
    "ftruncate": ((0, None),),
    "utime": ((None, 0),),
    "utimes": ((None, 0),),
    "utimensat": ((0, 1),),
    "futimesat": ((0, 1),),
}
# Calls that change the machine rather than a file; their "path" is a name in brackets.
SYSTEM = {
    "sethostname": "<hostname>",
    "setdomainname": "<domainname>",
    "settimeofday": "<clock>",
    "clock_settime": "<clock>",
}
FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
EXECS = frozenset({"execve", "execveat"})
OPENS = frozenset({"open", "openat", "openat2"})
SOCKETS = frozenset({"socket", "connect"})
# What `strace -e trace=` needs for `read_trace` to see everything it reports.
TRACED_CALLS = tuple(sorted(EXECS | OPENS | SOCKETS | FORKS | MODIFYING.keys() | SYSTEM.keys()))


@dataclass(frozen=True, slots=True)
class Syscall:
    """One complete system call as strace printed it."""

    pid: int
    name: str
    args: list[str]  # top-level arguments, raw
    result: str  # after "= ", e.g. "0", "3</dev/null>", "-1 ENOENT (No such ...)", "?"
    line: str

    @property
    def retval(self) -> int | None:
        head = self.result.split(" ", 1)[0].split("<", 1)[0]
        return int(head) if re.fullmatch(r"-?\d+", head) else None

    @property
    def error(self) -> str | None:
        """The errno name of a failed call (``ENOENT``), else None."""
        match = re.match(r"-1 (E[A-Z0-9]+)", self.result)
        return match.group(1) if match else None

    @property
    def ok(self) -> bool:
        return self.error is None and self.result not in ("", "?")

    @property
    def ret_path(self) -> str | None:
        """The ``-y`` path of a returned fd: ``3</x>`` gives ``/x``."""
        return fd_path(self.result) if self.ok else None


@dataclass(frozen=True, slots=True)
class Exec:
    """A program the trace shows being executed."""

    pid: int
    path: str
    argv: list[str]
    truncated: bool  # an argument or the list itself was cut by ``-s``
    caller: str | None  # the program image that called exec (None: strace's own child)
    ok: bool
    line: str

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


@dataclass(frozen=True, slots=True)
class Write:
    """A call that creates, changes or removes a file (or the clock, hostname...)."""

    pid: int
    call: str
    path: str  # resolved against the -y dirfd/cwd when known
    ok: bool
    error: str | None
    line: str
    flags: str = ""  # open flags, for opens
    program: str | None = None  # the image that made the call
    opened: str | None = None  # what an open really opened (-y): a file, ``pipe:[7]``...


@dataclass(frozen=True, slots=True)
class SocketUse:
    """A ``socket()`` or ``connect()`` call."""

    pid: int
    call: str
    family: str
    address: str  # connect's address, e.g. the AF_UNIX sun_path or the raw struct
    socket_id: str  # the -y inode (``socket:[123]``) or ``pid:fd``
    ok: bool
    line: str
    program: str | None = None


@dataclass(slots=True)
class Trace:
    """A parsed trace: every call, and the execs, writes and sockets among them."""

    calls: list[Syscall] = field(default_factory=list)
    execs: list[Exec] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    sockets: list[SocketUse] = field(default_factory=list)
    root_pid: int | None = None


# --- lines -> calls ---------------------------------------------------------------------


def parse_calls(text: str) -> list[Syscall]:
    """The complete calls in strace output, in the order they returned."""
    pending: dict[int, str] = {}
    calls: list[Syscall] = []
    for raw in text.splitlines():
        match = _PREFIX.match(raw)
        assert match is not None  # the pattern matches every string
        pid = int(match.group(1) or match.group(2) or 0)
        body = match.group(3)
        if body.startswith(("---", "+++", "strace: ")) or not body.strip():
            continue
        if body.endswith(_UNFINISHED):
            pending[pid] = body[: -len(_UNFINISHED)]
            continue
        resumed = _RESUMED.match(body)
        if resumed:
            head = pending.pop(pid, f"{resumed.group(1)}(")
            body = head + resumed.group(2)
        call = parse_call(pid, body)
        if call is not None:
            calls.append(call)
    return calls


def parse_call(pid: int, body: str) -> Syscall | None:
    """One ``name(args) = result`` text, or None if it is not a call."""
    match = _CALL.match(body)
    if not match:
        return None
    end = _closing_paren(body, match.end())
    if end is None:
        return None
    rest = body[end + 1 :].strip()
    result = rest[1:].strip() if rest.startswith("=") else ""
    args = split_args(body[match.end() : end])
    return Syscall(pid, match.group(1), args, result, f"{pid} {body}" if pid else body)


def _closing_paren(text: str, start: int) -> int | None:
    """Index of the ``)`` closing an argument list that starts at ``start``."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i)
        elif ch == "<" and i > 0 and text[i - 1].isalnum():
            i = _fd_path_end(text, i)
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return i if ch == ")" else None
            depth -= 1
        i += 1
    return None


def _string_end(text: str, start: int) -> int:
    """Index of the closing quote of the string opening at ``start``."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    return len(text) - 1


def _fd_path_end(text: str, start: int) -> int:
    """Index of the ``>`` closing a -y path (strace escapes ``>`` inside it as ``\\76``)."""
    close = text.find(">", start)
    return close if close != -1 else len(text) - 1


def split_args(text: str) -> list[str]:
    """Split at top-level commas: strings, ``[...]``, ``{...}``, ``(...)`` stay whole."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i)
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "<" and i > 0 and text[i - 1].isalnum():
            i = _fd_path_end(text, i)
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail or parts:
        parts.append(tail)
    return parts


# --- values -----------------------------------------------------------------------------


def parse_string(token: str) -> tuple[str, bool] | None:
    """A quoted strace string: (decoded text, cut by -s?), or None if not a string."""
    token = token.strip()
    if not token.startswith('"'):
        return None
    end = _string_end(token, 0)
    return unescape(token[1:end]), token[end + 1 :].startswith("...")


def unescape(text: str) -> str:
    """Undo strace's C escapes (``\\n``, ``\\"``, octal ``\\303``, ``\\x41``); UTF-8."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out += ch.encode()
            i += 1
            continue
        nxt = text[i + 1]
        octal = re.match(r"[0-7]{1,3}", text[i + 1 : i + 4])
        if octal:
            out.append(int(octal.group(0), 8) & 0xFF)
            i += 1 + len(octal.group(0))
        elif nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            out += bytes([_ESCAPES[nxt]]) if nxt in _ESCAPES else nxt.encode()
            i += 2
    return out.decode("utf-8", "replace")


def parse_array(token: str) -> tuple[list[str], bool] | None:
    """A strace array of strings (execve's argv): (items, cut by -s?), or None."""
    token = token.strip()
    if not (token.startswith("[") and token.endswith("]")):
        return None
    items: list[str] = []
    truncated = False
    for part in split_args(token[1:-1]):
        if part == "...":
            truncated = True
            continue
        parsed = parse_string(part)
        if parsed is None:
            return None
        items.append(parsed[0])
        truncated = truncated or parsed[1]
    return items, truncated


def fd_path(token: str) -> str | None:
    """The path that ``-y`` printed with an fd (``3</x>``, ``AT_FDCWD</cwd>``), or None."""
    match = _FD.match(token.strip())
    if not match or match.group(2) is None:
        return None
    return unescape(match.group(2))


def struct_field(token: str, name: str) -> str | None:
    """A field of a printed struct: ``sun_path`` of ``{sa_family=AF_UNIX, sun_path="/x"}``."""
    token = token.strip()
    if not token.startswith("{"):
        return None
    for part in split_args(token[1:-1]):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            parsed = parse_string(value)
            return parsed[0] if parsed else value.strip()
    return None


# --- calls -> what happened -------------------------------------------------------------


def read_trace(text: str) -> Trace:
    """Parse strace output and say which programs ran and what they wrote or connected."""
    calls = parse_calls(text)
    trace = Trace(calls=calls, root_pid=calls[0].pid if calls else None)
    parents = {
        child: call.pid
        for call in calls
        if call.name in FORKS and (child := call.retval) is not None and child > 0
    }
    image: dict[int, str | None] = {}
    cwd: dict[int, str] = {}
    for call in calls:
        pid = call.pid
        if pid not in image:
            _inherit(pid, parents, image, cwd)
        for arg in call.args[:1]:
            if arg.startswith("AT_FDCWD<"):
                cwd[pid] = fd_path(arg) or cwd.get(pid, "")
        program = image[pid]
        if call.name in EXECS:
            found = _exec(call, program)
            if found is not None:
                trace.execs.append(found)
                if found.ok:
                    image[pid] = found.path
        elif call.name in OPENS:
            write = _open(call, cwd.get(pid), program)
            if write is not None:
                trace.writes.append(write)
        elif call.name in MODIFYING:
            trace.writes.extend(_modifications(call, cwd.get(pid), program))
        elif call.name in SYSTEM:
            trace.writes.append(
                Write(
                    pid, call.name, SYSTEM[call.name], call.ok, call.error, call.line, "", program
                )
            )
        elif call.name in SOCKETS:
            trace.sockets.append(_socket(call, program))
    return trace


def _inherit(
    pid: int, parents: dict[int, int], image: dict[int, str | None], cwd: dict[int, str]
) -> None:
    """A new process starts as its parent's image, in its cwd.

    The parent may not have been seen yet either (``vfork( <unfinished ...>`` returns after
    the child's execve): walk up to the nearest process that was.
    """
    chain = [pid]
    while chain[-1] not in image and chain[-1] in parents and len(chain) < 64:
        chain.append(parents[chain[-1]])
    top = chain[-1]
    for child in reversed(chain):
        image.setdefault(child, image.get(top))
        if top in cwd:
            cwd.setdefault(child, cwd[top])


def _exec(call: Syscall, program: str | None) -> Exec | None:
    offset = 1 if call.name == "execveat" else 0
    if len(call.args) < offset + 2:
        return None
    path = parse_string(call.args[offset])
    argv = parse_array(call.args[offset + 1])
    if path is None:
        return None
    items, cut = argv if argv is not None else ([], True)
    return Exec(call.pid, path[0], items, cut or path[1], program, call.ok, call.line)


def _resolve(path: str, base: str | None) -> str:
    if posixpath.isabs(path) or not base:
        return path
    return posixpath.normpath(posixpath.join(base, path))


def _dir_of(call: Syscall, index: int | None, cwd: str | None) -> str | None:
    if index is None or index >= len(call.args):
        return cwd
    return fd_path(call.args[index]) or (cwd if call.args[index].startswith("AT_FDCWD") else None)


def _open(call: Syscall, cwd: str | None, program: str | None) -> Write | None:
    if call.name == "open":
        path_index, flags = 0, call.args[1] if len(call.args) > 1 else ""
    elif call.name == "openat":
        path_index, flags = 1, call.args[2] if len(call.args) > 2 else ""
    else:  # openat2(dirfd, path, {flags=..., ...}, size)
        path_index = 1
        flags = (struct_field(call.args[2], "flags") if len(call.args) > 2 else None) or ""
    if not any(flag in flags.split("|") for flag in WRITE_FLAGS):
        return None
    parsed = parse_string(call.args[path_index]) if len(call.args) > path_index else None
    if parsed is None:
        return None
    base = _dir_of(call, 0 if call.name != "open" else None, cwd)
    path = _resolve(parsed[0], base)
    return Write(
        call.pid, call.name, path, call.ok, call.error, call.line, flags, program, call.ret_path
    )


def _modifications(call: Syscall, cwd: str | None, program: str | None) -> list[Write]:
    writes = []
    for dir_index, path_index in MODIFYING[call.name]:
        if path_index is None:  # the call works on an fd: its -y path, or the fd itself
            token = call.args[dir_index] if dir_index is not None else ""
            path = fd_path(token) or f"<fd {token}>"
        else:
            parsed = parse_string(call.args[path_index]) if path_index < len(call.args) else None
            if parsed is None:  # utimensat(fd, NULL, ...) is futimens on the fd
                token = call.args[dir_index] if dir_index is not None else ""
                path = fd_path(token) or f"<fd {token}>"
            else:
                path = _resolve(parsed[0], _dir_of(call, dir_index, cwd))
        writes.append(Write(call.pid, call.name, path, call.ok, call.error, call.line, "", program))
    return writes


def _socket(call: Syscall, program: str | None) -> SocketUse:
    if call.name == "socket":
        family = call.args[0] if call.args else "?"
        socket_id = _socket_id(call.pid, call.result)
        return SocketUse(call.pid, "socket", family, "", socket_id, call.ok, call.line, program)
    fd = call.args[0] if call.args else "?"
    address = call.args[1] if len(call.args) > 1 else ""
    family = struct_field(address, "sa_family") or "?"
    path = struct_field(address, "sun_path")
    return SocketUse(
        call.pid,
        "connect",
        family,
        address if path is None else path,
        _socket_id(call.pid, fd),
        call.ok,
        call.line,
        program,
    )


def _socket_id(pid: int, fd: str) -> str:
    """The -y inode (``socket:[123]``), else ``pid:fd`` (a connect names its socket so too)."""
    return fd_path(fd) or f"{pid}:{fd.split('<', 1)[0]}"
