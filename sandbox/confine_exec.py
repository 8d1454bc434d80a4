"""The exec agent's side of confinement: turn a request's ``confine`` field into a plan.

Standard-library-only and Python 3.8+ (it ships inside the agent). A plan holds the
Landlock ruleset (built here, in the agent, so every failure is reported before the
command starts), the private TMPDIR, the shell to run, and the report that goes back in
the exit frame. The forked child calls `Plan.preexec` between fork and exec.

A request may name ``connect_ports`` (a session with egress: its proxy's port): TCP
connect is then allowed to those ports alone (Landlock, ABI 4 and up) and the syscall
filter lets TCP client sockets be made. A kernel whose Landlock cannot limit connect to
a port runs the command unconfined and says why (or refuses it, if required), as when
there is no Landlock at all.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from sandbox import exec_cleanup, landlock, syscall_filter

# A copy of a shell that no name on PATH reaches: the line runs with it, so a repository
# that makes a tool exec plain `bash FILE` (git's core.fsmonitor, say) is refused,
# unless the line itself lists bash.
PRIVATE_SHELLS = {"bash": "/usr/lib/airlock/bash"}
SCRATCH_PARENT = "/tmp"  # noqa: S108 (the container's tmpfs)
SCRATCH_PREFIX = "airlock-ro-"
SHARED_SCRATCH_MODE = 0o1777
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
MAX_PROGRAMS = 512
MAX_NAME = 4096
MAX_PORTS = 8


class Refused(Exception):
    """Confinement was asked for and cannot be applied: the command does not run."""


def parse(value: Any) -> dict[str, Any] | None:
    """The request's ``confine`` field, validated (None: not asked for)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("confine must be an object or null")
    programs = value.get("programs", [])
    if (
        not isinstance(programs, list)
        or len(programs) > MAX_PROGRAMS
        or not all(isinstance(p, str) and 0 < len(p) <= MAX_NAME for p in programs)
    ):
        raise ValueError(f"confine.programs must be a list of at most {MAX_PROGRAMS} names")
    required = value.get("required", False)
    if not isinstance(required, bool):
        raise ValueError("confine.required must be a boolean")
    ports = value.get("connect_ports", [])
    if (
        not isinstance(ports, list)
        or len(ports) > MAX_PORTS
        or not all(type(p) is int and 0 < p < 65536 for p in ports)
    ):
        raise ValueError(f"confine.connect_ports must be a list of at most {MAX_PORTS} TCP ports")
    return {"programs": programs, "required": required, "connect_ports": ports}


class Plan:
    """How one exec runs confined, and what to say about it afterwards."""

    def __init__(
        self,
        report: dict[str, Any],
        ruleset_fd: int | None = None,
        scratch: str | None = None,
        executable: str | None = None,
        seccomp: syscall_filter.Prepared | None = None,
        owner: tuple[int, int] | None = None,
    ) -> None:
        self.report = report
        self.ruleset_fd = ruleset_fd
        self.scratch = scratch
        self.owner = owner  # who the exec runs as, when not the agent (uid, gid)
        self.executable = executable
        self.seccomp = seccomp

    @property
    def env(self) -> dict[str, str]:
        """Variables the exec gets on top of the request's."""
        return {"TMPDIR": self.scratch} if self.scratch else {}

    def preexec(self) -> None:
        """In the forked child: enter the domain and load the syscall filter (both after
        ``no_new_privs``), or raise so the exec never happens."""
        if self.ruleset_fd is not None:
            landlock.restrict_self(self.ruleset_fd)
        if self.seccomp is not None:
            self.seccomp.load()

    def started(self) -> None:
        """In the agent once the child exists (or failed to): the ruleset fd is spent."""
        if self.ruleset_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.ruleset_fd)
            self.ruleset_fd = None

    def finish(self, session: int | None = None) -> None:
        """After the exec: end every process still in its ``session`` (the child's pid,
        once it was started), then remove its TMPDIR; what remains is reported."""
        self.started()
        if session is not None:
            left = exec_cleanup.end_session(session)
            if left:
                self.report["processes_left"] = left
        if self.scratch is None:
            return
        if not exec_cleanup.remove_tree(self.scratch, self.owner):
            self.report["tmpdir_left"] = self.scratch
        self.scratch = None


def unconfined(reason: str) -> Plan:
    return Plan({"confined": False, "reason": reason})


def prepare(
    request: dict[str, Any],
    argv: list[str],
    cwd: str | None,
    env: dict[str, str],
    owner: tuple[int, int] | None = None,
) -> Plan:
    """A plan for ``argv`` (``env``: the exec's full environment; ``owner``: the exec's
    uid and gid when it runs as another user than the agent). Raises `Refused` when
    confinement is available but cannot be set up, or is required and unavailable."""
    try:
        abi = landlock.abi_version()
    except landlock.Unavailable as exc:
        if request["required"]:
            raise Refused(f"confinement is required, but {exc}") from None
        return unconfined(str(exc))
    ports = tuple(request.get("connect_ports", ()))
    if ports and abi < landlock.NET_ABI:
        why = (
            f"Landlock ABI {abi} cannot limit TCP connect to the egress proxy's port "
            f"(it needs ABI {landlock.NET_ABI})"
        )
        if request["required"]:
            raise Refused(f"confinement is required, but {why}")
        return unconfined(why)
    try:
        return _landlock_plan(abi, request["programs"], argv, cwd, env, ports, owner)
    except Refused:
        raise
    except Exception as exc:  # fail closed: a name with a NUL byte raised ValueError
        raise Refused(f"cannot set up confinement: {exc}") from None


def _landlock_plan(
    abi: int,
    programs: list[str],
    argv: list[str],
    cwd: str | None,
    env: dict[str, str],
    connect_ports: tuple[int, ...] = (),
    owner: tuple[int, int] | None = None,
) -> Plan:
    where = cwd or str(Path.cwd())
    search_path = env.get("PATH", DEFAULT_PATH)
    names = list(programs)
    executable = _private_shell(argv[0])
    if executable is None:
        names.append(argv[0])
    granted, missing, writable = landlock.executables(names, search_path, where)
    if executable is not None:
        granted[f"{argv[0]} (private copy)"] = executable
        for loader in landlock.interpreters(executable, search_path, where):
            granted[f"{executable} -> {loader}"] = loader
    seccomp, no_filter = _syscall_filter(bool(connect_ports))
    scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=SCRATCH_PARENT)
    if owner is not None:  # the agent's, and the exec's to write in (like /tmp itself)
        Path(scratch).chmod(SHARED_SCRATCH_MODE)
    ruleset = landlock.read_only_ruleset(abi, scratch, list(granted.values()), connect_ports)
    try:
        fd = landlock.build(ruleset)
    except OSError as exc:
        exec_cleanup.remove_tree(scratch)
        raise Refused(f"cannot build the Landlock ruleset: {exc}") from None
    report = {
        "confined": True,
        "mechanism": "landlock",
        "abi": abi,
        "rights_abi": ruleset.abi,
        "network": ruleset.handled_net != 0,
        "connect_ports": [rule.port for rule in ruleset.port_rules],
        "scoped": ruleset.scoped != 0,
        "syscall_filter": seccomp is not None,
        "syscall_filter_reason": no_filter,
        "shell": executable or granted.get(argv[0]),
        "private_shell": executable is not None,
        "programs": sorted(set(granted.values())),
        "missing": missing,
        "writable": writable,
        "tmpdir": scratch,
    }
    return Plan(report, fd, scratch, executable, seccomp, owner)


def _syscall_filter(tcp_client: bool) -> tuple[syscall_filter.Prepared | None, str | None]:
    """The filter that closes what Landlock leaves open (``tcp_client``: but TCP client
    sockets), or why there is none (an architecture without a known syscall table: the
    Landlock domain still holds)."""
    try:
        return syscall_filter.native(tcp_client), None
    except syscall_filter.Unsupported as exc:
        return None, str(exc)


def _private_shell(name: str) -> str | None:
    """The private copy of shell ``name`` if the image has one nobody can change."""
    private = PRIVATE_SHELLS.get(name)
    if private is None:
        return None
    path = Path(private)
    if path.is_file() and os.access(path, os.X_OK) and not landlock.session_can_write(private):
        return private
    return None
