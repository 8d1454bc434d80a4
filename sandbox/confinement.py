"""Kernel confinement of proven read-only commands: what the host asks the agent for.

A command the analyzer proves read-only (its ``allow`` under the read-only policy) runs
in a Landlock domain (`sandbox/landlock.py`, applied by the agent between fork and exec):
it writes nothing but its private TMPDIR and /dev/null, execs only the programs the
analyzer listed (plus the programs those run as their own implementation, below, the
shell that runs the line, and their ELF or ``#!`` interpreters), opens no TCP socket,
and signals nothing outside itself. A seccomp filter (`sandbox/syscall_filter.py`)
refuses every other network socket, listening, file metadata changes, IPC objects,
changes to other processes' limits and scheduling, and leaving the exec's session; the
agent ends the session's processes when the exec ends.

In a session with egress the proof is made under read-only with the session's network
allow list (``curl -s URL`` to an allowed host is then read-only: the proxy is the
boundary), and the command may make IPv4 TCP client sockets and connect to the egress
proxy's port (`sandbox.spec.EGRESS_PORT`) alone: no other port, no bind or listen, no
UDP (so no DNS), no raw socket. Landlock's port rule holds on every address, so the
relay takes that port on every loopback address (`sandbox/egress_relay.py`): no other
process of the session can listen behind it. Where Landlock cannot limit connect to a port (ABI
below 4) such a command runs unconfined and says why. The Bash tool, Remember and
``airlock exec`` ask for it.

Where it holds and where it does not (measured on this project's machines):

- runc with the project's seccomp profile: Landlock ABI 7, everything above.
- gVisor (runsc) implements no Landlock (ENOSYS), and refuses mounts in a user
  namespace (EPERM), so no read-only view can be made either. Images without python3
  have no agent (`docker exec`). In both the command runs unconfined and
  `ExecExit.confinement` says so with the reason: refusing would make every read-only
  command fail there. ``Confinement(required=True)`` refuses instead.
- Confinement that is available but cannot be set up refuses the command (exit 126).
- Known limit: the dynamic loader must be executable for any dynamic program to start,
  and a program can exec it directly (``ld.so FILE``), which maps FILE with no exec
  check. A listed program that can be made to exec a chosen path (a repository's git
  config, say) can so run any file, as it can the private bash copy, whose path is
  public. What runs stays in the domain and the filter: no writes (metadata
  included), no network or listening socket, no IPC object, no signal, limit or
  priority change out, no process left behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from sandbox.results import ConfinementReport
from sandbox.spec import EGRESS_PORT
from security import PRESETS, Decision, NetworkPolicy, analyze

# Programs a tool runs as part of its own implementation (front-end scripts and the
# programs they call), so a confined line that lists the tool may exec them too. A name
# here that the image lacks is reported as missing in the exec's `ConfinementReport`.
HELPER_PROGRAMS: dict[str, tuple[str, ...]] = {
    "zgrep": ("gzip", "grep", "sed", "expr"),  # a /bin/sh script (interpreters are added)
    "zcat": ("gzip",),
    "egrep": ("grep",),
    "fgrep": ("grep",),
    "diff": ("pr",),  # diff -l pipes its output through pr
    "diff3": ("diff",),
    "sdiff": ("diff",),
    # git is airlock/dev's guard (a python3 script, image_recipes/dev/git_guard.py); it runs the
    # real binary, which runs git for submodules from its exec path first, and `cat` for
    # the textconv drivers the guard neutralizes
    "git": ("/usr/lib/airlock/git-guard/git.real", "/usr/lib/git-core/git", "cat"),
}
# Names the shell runs itself: expected to find no file on PATH.
_BUILTINS = """
    : . [ [[ time alias bg bind break builtin caller cd command compgen complete compopt continue
    declare dirs disown echo enable eval exec exit export false fc fg getopts hash help
    history jobs kill let local logout mapfile popd printf pushd pwd read readarray
    readonly return set shift shopt source suspend test times trap true type typeset
    ulimit umask unalias unset wait
    """
SHELL_BUILTINS = frozenset(_BUILTINS.split())
MAX_PROGRAMS = 512
MAX_NAME = 4096
MAX_PORTS = 8


def with_helpers(names: Iterable[str]) -> list[str]:
    """``names`` and, transitively, every helper of theirs, in first-seen order."""
    seen: dict[str, None] = {}
    pending = list(names)
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen[name] = None
        pending.extend(HELPER_PROGRAMS.get(name.rsplit("/", 1)[-1], ()))
    return list(seen)


class Confinement(BaseModel):
    """Run this exec confined as a proven read-only command."""

    model_config = ConfigDict(frozen=True)

    programs: tuple[str, ...] = Field(
        description="program names or paths it may exec, as the line names them; the "
        "shell that runs the line is always allowed",
        max_length=MAX_PROGRAMS,
    )
    required: bool = Field(
        False,
        description="refuse to run when the sandbox cannot confine (gVisor, no Landlock, "
        "no exec agent) instead of running unconfined and saying so",
    )
    connect_ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = Field(
        (),
        description="TCP ports on loopback it may connect to (the session's egress proxy); "
        "empty: no network at all",
        max_length=MAX_PORTS,
    )

    @classmethod
    def for_commands(
        cls,
        commands: Iterable[Sequence[str]],
        *,
        required: bool = False,
        connect_ports: tuple[int, ...] = (),
    ) -> Confinement:
        """The confinement of a line whose simple commands are ``commands`` (as
        `Verdict.commands` lists them, nested ones included)."""
        names = with_helpers(argv[0] for argv in commands if argv and argv[0])
        return cls(
            programs=tuple(n for n in names if len(n) <= MAX_NAME),
            required=required,
            connect_ports=connect_ports,
        )

    def wire(self) -> dict[str, Any]:
        """The ``confine`` field of an exec request (``connect_ports`` only when set, so a
        request without egress is the same as before it existed)."""
        wire: dict[str, Any] = {"programs": list(self.programs), "required": self.required}
        if self.connect_ports:
            wire["connect_ports"] = list(self.connect_ports)
        return wire


def read_only_confinement(command: str, egress: NetworkPolicy | None = None) -> Confinement | None:
    """The confinement of ``command`` if the analyzer proves it read-only (its ``allow``
    under the read-only policy), else None: the kernel then holds what the proof claims.

    ``egress``: the session's network policy (`SessionSpec.egress`). When it allows
    hosts, the proof is made under read-only with that policy, and the confinement lets
    the command connect to the egress proxy's port (and no other). Without it, or with
    an empty allow list, nothing differs from a session with no network.
    """
    policy = PRESETS["read-only"]
    ports: tuple[int, ...] = ()
    if egress is not None and egress.allow:
        policy = policy.model_copy(update={"network": egress})
        ports = (EGRESS_PORT,)
    verdict = analyze(command, policy)
    if verdict.decision is not Decision.ALLOW:
        return None
    return Confinement.for_commands(verdict.commands, connect_ports=ports)


# How a confined command's refusals read: strerror of EACCES, EPERM and EXDEV.
REFUSAL_SIGNS = ("Permission denied", "Operation not permitted", "cross-device link")


def shows_refusal(stderr: str) -> bool:
    """Whether ``stderr`` holds an error of the kind the confinement causes."""
    return any(sign in stderr for sign in REFUSAL_SIGNS)


def failure_note(report: ConfinementReport) -> str:
    """The line a confined exec that failed adds to its output."""
    network = "no network sockets"
    if report.connect_ports:
        ports = ", ".join(str(port) for port in report.connect_ports)
        network = f"no network but TCP to the egress proxy (127.0.0.1:{ports})"
    note = (
        "Note: this command ran confined as read-only (kernel Landlock and seccomp: no "
        f"writes outside a private TMPDIR, no programs it does not name, {network}, "
        "no signals to other processes); a 'Permission denied' or 'Operation not permitted' "
        "above comes from that."
    )
    missing = [n for n in report.missing if n not in SHELL_BUILTINS]
    if missing:
        note += f" Not found on PATH: {', '.join(missing)}."
    if report.writable:
        note += f" Not run, the session could change them: {', '.join(report.writable)}."
    return note
