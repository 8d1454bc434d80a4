"""How the exec agent starts a command without ever waiting on it.

`subprocess.Popen` blocks its caller until the child has called ``exec``. The child
changes to the session's user before that, and from then on any process of that user
may stop it (SIGSTOP): the agent, blocked in ``Popen``, would stop with it, and so would
every exec of the session. So the agent forks by itself (`spawn`) and goes on at once;
the child reports on a status pipe of its own, which the agent reads from its event
loop (`exec_status`): end of file when ``exec`` succeeded, else why it failed. A child
stopped before ``exec`` holds up its own exec alone, whose timeout still kills it.

The child is a fork of the agent (one thread, so it may run Python): before anything
else it drops the agent's signal handling and wake-up fd, so a signal to it is never
the agent's; it keeps only its stdio and the status pipe.

Standard-library-only and Python 3.8+: it ships inside the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable

    from sandbox.command_user import CommandUser
    from sandbox.user_helper import UserHelper

STATUS_BYTES = 4096  # the most of a failure's report that is read


class SpawnedCommand:
    """A forked command: what an exec uses of a `subprocess.Popen` (pid, pipes, poll)."""

    def __init__(self, pid: int, stdin: Any, stdout: Any, stderr: Any) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Its exit code once it ended (negative: the signal that ended it), reaping it."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 0  # reaped elsewhere: nothing is known of its end
                return self.returncode
            if pid:
                self.returncode = _exit_code(status)
        return self.returncode

    def kill_alone(self, sig: int) -> None:
        """Signal the process itself (before it leads a group of its own), never a pid
        it no longer owns: only while it is not reaped."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, sig)


def _exit_code(status: int) -> int:
    """As `subprocess.Popen` reads it: a stop (a child the agent traces, unknowingly)
    counts as that signal."""
    if os.WIFSTOPPED(status):
        return -os.WSTOPSIG(status)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def spawn(
    argv: list[str],
    user: CommandUser,
    want_stdin: bool,
    *,
    executable: str | None,
    env: dict[str, str],
    cwd: str | None,
    confine: Callable[[], None] | None,
    helper: UserHelper | None = None,
) -> tuple[SpawnedCommand, int | None]:
    """Start ``argv`` as ``user`` in a session of its own, stdio on new pipes that belong
    to the user (a command may reopen its own, ``/dev/stderr``); returns the command and
    the read end of its status pipe (see `exec_status`), None when it needs none.

    Through ``helper`` (`sandbox/user_helper.py`) when there is one and the command is
    not confined; else a fork of the agent whose child enters ``cwd`` and its
    confinement after it changed user."""
    with user.owning():
        out, err = os.pipe(), os.pipe()
        into = os.pipe() if want_stdin else None
    null = None if into else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    stdin_fd = into[0] if into else null
    assert stdin_fd is not None
    stdio = (stdin_fd, out[1], err[1])
    theirs = [*out, *err, *(into or ()), *([null] if null else [])]
    status_out: int | None = None
    try:
        if helper is not None and confine is None and helper.accepts(argv, env, executable):
            pid = helper.spawn(argv, env, cwd, stdio)
        else:
            status_out, pid = _fork(argv, user, executable, env, cwd, confine, stdio)
    except BaseException:
        for fd in theirs:
            os.close(fd)
        raise
    for fd in stdio:
        os.close(fd)
    command = SpawnedCommand(
        pid,
        os.fdopen(into[1], "wb") if into else None,
        os.fdopen(out[0], "rb"),
        os.fdopen(err[0], "rb"),
    )
    return command, status_out


def _fork(
    argv: list[str],
    user: CommandUser,
    executable: str | None,
    env: dict[str, str],
    cwd: str | None,
    confine: Callable[[], None] | None,
    stdio: tuple[int, int, int],
) -> tuple[int, int]:
    """Fork the child that becomes the command; returns its status pipe and pid."""
    status_out, status_in = os.pipe()
    try:
        pid = os.fork()
    except BaseException:
        os.close(status_out)
        os.close(status_in)
        raise
    if pid == 0:  # pragma: no cover (a forked child: the agent's tests watch it from outside)
        _become(argv, user.popen_options(), executable, env, cwd, confine, stdio, status_in)
    os.close(status_in)
    return status_out, pid


def _become(
    argv: list[str],
    ids: dict[str, Any],
    executable: str | None,
    env: dict[str, str],
    cwd: str | None,
    confine: Callable[[], None] | None,
    stdio: tuple[int, int, int],
    status: int,
) -> None:  # pragma: no cover (runs in the forked child)
    """In the child: become the command, or report why not and exit 127 (not found) or
    126. Never returns."""
    step = "setup"
    try:
        leave_agent_signals()
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.setsid()
        for target, source in enumerate(stdio):
            os.dup2(source, target)
        step = "user"
        if ids:
            os.setgroups(ids["extra_groups"])
            os.setgid(ids["group"])
            os.setuid(ids["user"])
        step = "working directory"
        if cwd:
            os.chdir(cwd)
        step = "confinement"
        if confine is not None:
            confine()
        # only now: the confinement's ruleset is one of the fds (the status pipe stays,
        # close-on-exec, for a failure to exec)
        os.closerange(3, status)
        os.closerange(status + 1, max_fds())
        step = "exec"
        if executable:
            os.execve(executable, argv, env)  # noqa: S606 (the command, as asked)
        os.execvpe(argv[0], argv, env)  # noqa: S606
    except BaseException as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126  # as Popen's callers did
        try:
            report = f"{code} {step}\n{exc}".encode(errors="replace")[:STATUS_BYTES]
            os.write(status, report)
        finally:
            os._exit(code)


def leave_agent_signals() -> None:
    """In a child forked from the agent, first of all: the agent's signal handling is
    not its own. No wake-up fd (the agent's loop would see the child's signals), and
    every disposition not known to be the default (the loop's handlers, SIGPIPE and
    SIGXFSZ, which Python ignores, whatever was inherited ignored) back to it; the
    others are left, as each reset is a system call (a round trip to gVisor's Sentry)."""
    signal.set_wakeup_fd(-1)
    for number in range(1, signal.NSIG):
        with contextlib.suppress(OSError, ValueError, RuntimeError):  # not a signal
            if signal.getsignal(number) is not signal.SIG_DFL:
                signal.signal(number, signal.SIG_DFL)


def max_fds() -> int:
    """The bound for closing every descriptor a child inherited."""
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 65536


class SpawnFailed(NamedTuple):
    """Why a child never became its command: its exit code, the step, the error."""

    code: int
    step: str  # "setup", "user", "working directory", "confinement" or "exec"
    error: str


async def exec_status(fd: int, limit: float | None) -> SpawnFailed | None:
    """Read a child's status pipe from the event loop: None once it called ``exec`` (end
    of file), else why it failed. Raises TimeoutError after ``limit`` seconds
    (the child was stopped before ``exec``, or is slow to get there). Closes ``fd``."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    report = bytearray()
    ended = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(fd, STATUS_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk and len(report) < STATUS_BYTES:
            report.extend(chunk)
        if not chunk and not ended.done():
            ended.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(ended, limit)
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    if not report:
        return None
    head, _, error = bytes(report).decode(errors="replace").partition("\n")
    code, _, step = head.partition(" ")
    return SpawnFailed(int(code) if code.isdigit() else 126, step, error)
