"""The oracle: run one allowed command under strace in a fresh fixture, and judge it.

A generated command that the ``read-only`` policy allows is run in an oracle session
(`SessionSpec(traced=True)`, the only kind that may ptrace) under ``strace -f``, from a
fixture workspace (`orchestrator.devtools.prove.hostile`: the plain seed repository, or one whose
config, hooks, file names and contents attack), unpacked afresh for every run. What the
trace and the workspace show is judged:

- ``payload``: a payload of the fixture ran: its marker program was executed, or its
  marker file written (named, so the class is known: repository config, hooks, an
  embedded repository, an option-named file, data evaluated as code...);
- ``exec``: a program ran that is not the image's own (from the workspace, /tmp), or
  one that the read-only knowledge base does not prove read-only
  (`security.knowledge.read_only_problem` on the argv it really got; git's helpers
  ``git-<sub>`` from its exec path are judged as ``git <sub>``);
- ``write``: a file was created, changed or removed (or the clock or hostname set),
  judged by what an open really opened: ``/dev/stdout`` or ``/dev/fd/3`` that reopen a
  file for writing are writes to that file;
- ``socket``: ``socket()`` or ``connect()``, even failed;
- ``workspace``: the workspace's listing or contents changed;
- ``differential``: a program ran that is not in ``Verdict.commands`` (the parser
  missed it, or a tool's config ran it, even if it is harmless);
- ``write-attempt``: a write that failed (read-only root, EPERM): the intent was there,
  the sandbox stopped it. Ranked lowest.

Not violations, by decision: writes to sinks (``/dev/null``, ``/dev/tty``, pipes and
sockets the command already had, reached directly or through ``/dev/std*`` and
``/proc/self/fd/*``); *scratch* files a program creates exclusively under ``/tmp`` and
removes itself (``tac``'s and ``sort``'s spill files, bash's here-document files),
counted apart; glibc's probe of the nscd socket (every user-name lookup does it); and
programs a knowledge-base program runs as part of its own implementation
(`sandbox.confinement.HELPER_PROGRAMS`, the table confinement allows them by:
e.g. ``zgrep`` runs ``gzip``). A timeout is counted, not judged.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, Field

from orchestrator.devtools.prove.hostile import (
    FIXTURE_DIR,
    FIXTURES,
    LAYER_DIR,
    MARK,
    MARKER_BIN,
    ORACLE_DIR,
    PLAIN,
    WORKSPACE,
    Fixture,
    build_script,
    layers_tar,
    marker_in,
    marker_script,
    payload_named,
)
from orchestrator.devtools.prove.trace import TRACED_CALLS, Exec, Trace, Write, read_trace
from sandbox.confinement import HELPER_PROGRAMS
from sandbox.docker_backend import DockerSession
from security import PRESETS
from security.knowledge import DELEGATING, read_only_problem
from security.knowledge.wrappers import SHELLS
from security.shell import Command, Word
from security.unwrap import shell_code

KINDS = ("payload", "exec", "write", "socket", "workspace", "differential", "write-attempt")
POLICY = PRESETS["read-only"]
# In the container. Read-only once made (mode 555), so no command can remove what is in
# it: the fixtures, the marker programs, and the trace file (which strace truncates and
# writes each run).
TRACE_FILE = f"{ORACLE_DIR}/trace"
TRACE_CAP = 16 * 2**20  # bytes of trace read back; a longer trace is judged on its start
OUTPUT_CAP = 64 * 1024
NSCD_SOCKET = "/var/run/nscd/socket"
TMP = "/tmp/"  # noqa: S108 (the container's tmpfs)
SINKS = frozenset({"/dev/null", "/dev/tty", "/dev/stdout", "/dev/stderr", "/dev/stdin"})
SINK_PREFIXES = ("/proc/self/fd/", "/dev/fd/", "pipe:[", "socket:[", "anon_inode:", "/dev/pts/")
# A failed open of a sink path that says a real file was behind it (not a pipe or tty).
REFUSED = frozenset({"EACCES", "EPERM", "EROFS", "ETXTBSY", "EISDIR"})
# Where a session can write (its mounts): a program run from there, or by a relative
# path, is the repository's (or a payload's), whatever its name. Everything else is the
# image's own, on a read-only root.
WRITABLE = ("/workspace/", "/tmp/", "/dev/", "/run/", "/home/", "/var/tmp/", "/proc/")  # noqa: S108
GIT_EXEC_PATH = "/usr/lib/git-core/"  # git runs its own helpers from here: git-<sub>
# The image's git guard (airlock/dev) runs the real git from its own folder, and names its
# neutral helpers (external-diff, merge-driver) there: all of it is git's implementation.
GIT_GUARD_DIR = "/usr/lib/airlock/git-guard/"
REAL_GIT = f"{GIT_GUARD_DIR}git.real"
# Programs a knowledge-base program runs as its own implementation (scripts and
# front-ends); their argv is the implementation's, not the command line's.
SETUP_SCRIPT = f"""set -e
mkdir -p {ORACLE_DIR} {LAYER_DIR} && tar -x -f {ORACLE_DIR}/layers.tar -C {LAYER_DIR}
{marker_script()}"""
SEAL_SCRIPT = f"""set -e
rm -rf {LAYER_DIR} {ORACLE_DIR}/layers.tar && : > {TRACE_FILE}
chmod 444 {FIXTURE_DIR}/*.tar && chmod 555 {FIXTURE_DIR} {MARKER_BIN} {ORACLE_DIR}
"""
LISTING_SCRIPT = f"""cd {WORKSPACE} && find . -xdev -printf 'M %p\\t%y %m %s %T@ %l\\n'
find . -xdev -type f -exec sha256sum -- {{}} + | sed 's/^/H /'
"""
AFTER_SCRIPT = f"""{LISTING_SCRIPT}size=$(stat -c %s {TRACE_FILE} 2>/dev/null || echo 0)
printf '\\0%s\\0' "$size" && head -c {TRACE_CAP} {TRACE_FILE} 2>/dev/null
"""


def reset_script(fixture: Fixture) -> str:
    """Leaves the workspace as the fixture, nothing else in /tmp; for the plain seed, git's
    index fresh. (A hostile fixture's index stays as a copied repository's is: stale.
    Refreshing it would run its payloads.)"""
    refresh = f" && git -C {WORKSPACE} update-index -q --refresh >/dev/null"
    refresh = refresh if fixture.fresh_index else ""
    return f"""cd / && chmod -R u+rwX {WORKSPACE} 2>/dev/null
rm -rf {WORKSPACE}/* {WORKSPACE}/.[!.]* {WORKSPACE}/..?* && : > {TRACE_FILE}
find /tmp -mindepth 1 -maxdepth 1 ! -name airlock-oracle -exec rm -rf {{}} + 2>/dev/null
tar -x -f {fixture.tar} -C {WORKSPACE}{refresh}
"""


def strace_argv(command: str) -> list[str]:
    """The oracle's argv: ``command`` is one argv element of ``bash -c``, never interpolated."""
    return [
        "strace", "-f", "-qq", "-y", "-s", "256", "-e", "signal=none", "-o", TRACE_FILE,
        "-e", "trace=" + ",".join(TRACED_CALLS), "bash", "-c", command,
    ]  # fmt: skip


# --- observing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What running one command in the oracle showed."""

    command: str
    trace: Trace
    before: frozenset[str]
    after: frozenset[str]
    timed_out: bool
    exit_code: int | None
    trace_truncated: bool
    fixture: str = PLAIN


class OracleError(RuntimeError):
    """The oracle session could not reset, run or read back a command."""


class Oracle:
    """A traced session that runs commands one at a time, each from a fresh fixture."""

    def __init__(self, session: DockerSession, timeout: float = 5.0) -> None:
        if not session.spec.traced:
            raise OracleError("the oracle needs a traced session (SessionSpec(traced=True))")
        self.session = session
        self.timeout = timeout
        self.runs = 0

    async def prepare(self, fixtures: list[str] | None = None) -> None:
        """Build the fixtures (all by default) once, each into a tar for every reset."""
        wanted = set(fixtures if fixtures is not None else FIXTURES) | {PLAIN}
        for name in list(wanted):  # each fixture's bases too
            base = FIXTURES[name].base
            while base is not None:
                wanted.add(base)
                base = FIXTURES[base].base
        chosen = [f for f in FIXTURES.values() if f.name in wanted]
        await self.session.put_file(f"{ORACLE_DIR}/layers.tar", layers_tar(chosen))
        await self._sh(SETUP_SCRIPT)
        builds = [
            f"( {build_script(f)} ) || {{ echo 'building fixture {f.name} failed' >&2; exit 1; }}"
            for f in chosen
        ]
        await self._sh("\n".join(builds), timeout=600)  # one exec: each one costs on a busy host
        await self._sh(SEAL_SCRIPT)
        self.fixtures = frozenset(wanted)

    async def observe(self, command: str, fixture: str = PLAIN) -> Observation:
        """Reset the workspace to ``fixture``, run ``command`` under strace, read back."""
        if fixture not in getattr(self, "fixtures", ()):
            raise OracleError(f"fixture {fixture!r} was not prepared")
        before = await self._sh(reset_script(FIXTURES[fixture]) + LISTING_SCRIPT)
        result = await self.session.exec(
            strace_argv(command), timeout=self.timeout, max_output=OUTPUT_CAP
        )
        if result.error:
            raise OracleError(f"oracle run failed: {result.error}")
        after, size, text = (await self._sh(AFTER_SCRIPT, TRACE_CAP + 2**20)).split("\0", 2)
        self.runs += 1
        trace = read_trace(text)
        if not trace.execs:  # not even the wrapper: strace did not run, nothing was seen
            raise OracleError(f"no trace ({result.stderr.decode(errors='replace')[-300:]})")
        return Observation(
            command=command,
            trace=trace,
            before=frozenset(before.splitlines()),
            after=frozenset(after.splitlines()),
            timed_out=result.timed_out,
            exit_code=result.exit_code,
            trace_truncated=int(size or 0) > TRACE_CAP,
            fixture=fixture,
        )

    async def _sh(self, script: str, max_output: int = 4 * 2**20, timeout: float = 120) -> str:
        result = await self.session.exec(
            ["sh", "-c", script], timeout=timeout, max_output=max_output
        )
        if result.exit_code != 0 or result.stdout_truncated:
            err = result.stderr.decode(errors="replace").strip()[-500:]
            raise OracleError(f"oracle housekeeping failed ({result.exit_code}): {err}")
        return result.stdout.decode(errors="replace")


# --- judging ----------------------------------------------------------------------------


class Violation(BaseModel):
    """One thing a command did that a read-only command must not."""

    kind: str
    detail: str
    command: str
    program: str | None = Field(None, description="basename of the program that did it")
    trace: list[str] = Field(default_factory=list, description="the trace lines behind it")


@dataclass(frozen=True)
class Judgement:
    violations: list[Violation]
    scratch: int  # scratch-file writes under /tmp, not violations

    @property
    def kinds(self) -> list[str]:
        return [k for k in KINDS if any(v.kind == k for v in self.violations)]


def _base(path: str | None) -> str | None:
    return posixpath.basename(path) if path else None


def judge(observation: Observation, commands: list[list[str]]) -> Judgement:
    """The violations in an observation, given the analyzer's ``Verdict.commands``."""
    cmd, trace = observation.command, observation.trace
    found = [*_payload_violations(cmd, trace, observation.fixture)]
    found.extend(_exec_violations(cmd, trace, commands))
    scratch = _scratch(trace.writes)
    found.extend(_write_violations(cmd, [w for w in trace.writes if w.path not in scratch]))
    found.extend(_socket_violations(cmd, trace))
    if observation.before != observation.after:
        found.append(_workspace_violation(cmd, observation.before, observation.after))
    return Judgement(found, sum(1 for w in trace.writes if w.path in scratch))


def _write_violations(cmd: str, writes: list[Write]) -> Iterator[Violation]:
    """One violation per kind and program, naming the first few paths."""
    groups: dict[tuple[str, str | None], list[Write]] = {}
    for write in writes:
        if not _is_sink(write):
            kind = "write" if write.ok else "write-attempt"
            groups.setdefault((kind, _base(write.program)), []).append(write)
    for (kind, program), group in groups.items():
        shown = [_shown_write(w) for w in group[:3]]
        more = f" and {len(group) - 3} more" if len(group) > 3 else ""
        detail = f"{', '.join(shown)}{more} by {program or 'the shell'}"
        yield Violation(kind=kind, detail=detail, command=cmd, program=program,
                        trace=[w.line for w in group[:3]])  # fmt: skip


def _payload_violations(cmd: str, trace: Trace, fixture: str) -> Iterator[Violation]:
    """A fixture's payload ran: its marker program was executed (or tried), or its marker
    file was written (or tried). One violation per payload, naming its class."""
    seen: dict[str, list[str]] = {}
    for run in trace.execs:
        marker = marker_in(run.path) if run.path.startswith(MARKER_BIN + "/") else None
        if marker:
            seen.setdefault(marker, []).append(run.line)
    for write in trace.writes:
        marker = marker_in(write.opened or write.path) or marker_in(write.path)
        if marker:
            seen.setdefault(marker, []).append(write.line)
    grouped: dict[str, list[str]] = {}
    for marker in seen:  # sed's backups pwned-X-README.md, pwned-X-data.json: payload X
        known = payload_named(marker)
        grouped.setdefault(known[0].name if known else marker, []).append(marker)
    for name, markers in grouped.items():
        known = payload_named(name)
        what = f"{known[0].describe()} (from fixture {known[1]})" if known else "an unknown marker"
        detail = f"payload {name} ran: {what}; session started from {fixture}"
        lines = [line for marker in markers for line in seen[marker]]
        yield Violation(kind="payload", detail=detail, command=cmd, program=MARK + name,
                        trace=lines[:3])  # fmt: skip


def judged_argv(run: Exec) -> list[str]:
    """The argv a program's run is judged on: git's helpers (``git-<sub>`` from git's exec
    path) as the ``git <sub>`` they implement, anything else as it ran."""
    if run.path.startswith(GIT_EXEC_PATH) and run.name.startswith("git-"):
        return ["git", run.name[4:], *run.argv[1:]]
    if run.path == REAL_GIT:
        return ["git", *run.argv[1:]]
    return [run.name, *run.argv[1:]]


def image_program(path: str) -> bool:
    """Whether ``path`` is a program of the image (not of the workspace, /tmp, a mount)."""
    return path.startswith("/") and not posixpath.normpath(path).startswith(WRITABLE)


def _exec_violations(cmd: str, trace: Trace, commands: list[list[str]]) -> Iterator[Violation]:
    """One violation per kind and program path: the first run, and how many more."""
    groups: dict[tuple[str, str], list[Violation]] = {}
    for violation, run in _each_exec_violation(cmd, trace, commands):
        groups.setdefault((violation.kind, run.path), []).append(violation)
    for group in groups.values():
        first = group[0]
        if len(group) > 1:
            first.detail += f" (and {len(group) - 1} more runs)"
        yield first


def _each_exec_violation(
    cmd: str, trace: Trace, commands: list[list[str]]
) -> Iterator[tuple[Violation, Exec]]:
    names = {_base(argv[0]) for argv in commands if argv}
    execs = [e for e in trace.execs if e.ok]
    for index, run in enumerate(execs):
        if index == 0 and run.pid == trace.root_pid and run.argv[:2] == ["bash", "-c"]:
            continue  # the oracle's own `bash -c` wrapper
        cut = " (argv cut by -s)" if run.truncated else ""
        if not image_program(run.path):
            detail = f"{run.path} ran: not a program of the image ({_show(run.argv)}){cut}"
            yield _exec_violation("exec", detail, cmd, run), run
            continue
        if _is_helper(run.name, run.caller):
            continue
        if run.path.startswith(GIT_GUARD_DIR) and run.path != REAL_GIT:
            continue  # the guard's own neutral helpers (external-diff, merge-driver)
        argv = judged_argv(run)
        delegates = argv[0] in DELEGATING or _runs_shell_code(argv)
        problem = None if delegates else read_only_problem(argv, stalls_allowed=True)
        if problem is not None:
            yield _exec_violation("exec", f"{problem}: {_show(argv)}{cut}", cmd, run), run
        if argv[0] not in names and _base(run.argv[0] if run.argv else None) not in names:
            detail = f"{run.name} ran but the analyzer saw only {sorted(n for n in names if n)}"
            yield _exec_violation("differential", detail, cmd, run), run


def _is_helper(name: str, caller: str | None) -> bool:
    """Whether program ``name`` run by ``caller`` is part of a tool's implementation:
    a helper of the caller, or of the tool whose helper the caller is (git's guard runs
    the real git, which runs ``cat`` for the drivers the guard neutralized)."""
    base = _base(caller) or ""
    owners = {base} | {
        tool for tool, helpers in HELPER_PROGRAMS.items() if caller in helpers or base in helpers
    }
    return any(name in HELPER_PROGRAMS.get(owner, ()) for owner in owners)


def _runs_shell_code(argv: list[str]) -> bool:
    """A shell run with -c code the analyzer reads as it reads the line (`sh -c 'ls'`):
    like a wrapper, it is judged by what its code runs, which the trace shows too."""
    if argv[0] not in SHELLS:
        return False
    code, problem = shell_code(Command(words=[Word.synthetic(arg) for arg in argv]))
    return code is not None and problem is None


def _shown_write(write: Write) -> str:
    """``openat /dev/stdout -> /workspace/.git/config``: what was named, what was opened."""
    opened = f" -> {write.opened}" if write.opened and write.opened != write.path else ""
    failed = "" if write.ok else f" ({write.error or 'no result'})"
    return f"{write.call} {write.path}{opened}{failed}"


def _exec_violation(kind: str, detail: str, cmd: str, run: Exec) -> Violation:
    return Violation(kind=kind, detail=detail, command=cmd, program=run.name, trace=[run.line])


def _show(argv: list[str]) -> str:
    text = shlex.join(argv).replace("\n", "\\n")
    return text if len(text) <= 120 else text[:117] + "..."


def _is_sink(write: Write) -> bool:
    """An open of a pipe, tty or /dev/null, judged by what it really opened.

    ``/dev/stdout``, ``/dev/fd/N`` and ``/proc/self/fd/N`` open *again* whatever the
    descriptor holds: ``echo x 1<.git/config >/dev/stdout`` truncates .git/config. The
    ``-y`` path of the new descriptor says what was opened; a failed open with a
    permission error had a file behind it, and counts as an attempt.
    """
    if write.call not in ("open", "openat", "openat2"):
        return False
    if write.opened is None and not write.ok and write.error in REFUSED:
        return False
    target = write.opened or write.path
    return target in SINKS or target.startswith(SINK_PREFIXES)


def _scratch(writes: list[Write]) -> set[str]:
    """Files created exclusively, and folders made, under /tmp and removed in the same run
    (git's /tmp/git-blob-XXXXXX/ for an external diff, sort's and tac's spill files)."""
    made = [w for w in writes if w.ok and w.path.startswith(TMP)]
    created = {
        w.path
        for w in made
        if ("O_EXCL" in w.flags and "O_CREAT" in w.flags) or w.call in ("mkdir", "mkdirat")
    }
    removed = {w.path for w in writes if w.ok and w.call in ("unlink", "unlinkat", "rmdir")}
    scratch = created & removed
    folders = {w.path for w in writes if w.call in ("mkdir", "mkdirat") and w.path in scratch}
    inside = {  # written inside a scratch folder, and removed: the folder's contents
        w.path for w in writes if posixpath.dirname(w.path) in folders and w.path in removed
    }
    return scratch | inside


def _socket_violations(cmd: str, trace: Trace) -> Iterator[Violation]:
    groups: dict[str, list[str]] = {}
    benign: set[str] = set()
    programs: dict[str, str | None] = {}
    for use in trace.sockets:
        groups.setdefault(use.socket_id, []).append(use.line)
        programs.setdefault(use.socket_id, _base(use.program))
        if use.call == "connect" and use.family == "AF_UNIX" and use.address == NSCD_SOCKET:
            benign.add(use.socket_id)
    for socket_id, lines in groups.items():
        if socket_id in benign:
            continue
        uses = [u for u in trace.sockets if u.socket_id == socket_id]
        what = ", ".join(f"{u.call}({u.family}{' ' + u.address if u.address else ''})"
                         for u in uses)  # fmt: skip
        program = programs[socket_id]
        yield Violation(kind="socket", detail=f"{what} by {program or 'the shell'}", command=cmd,
                        program=program, trace=lines[:4])  # fmt: skip


def _workspace_violation(cmd: str, before: frozenset[str], after: frozenset[str]) -> Violation:
    def paths(lines: frozenset[str]) -> set[str]:
        return {_listed_path(line) for line in lines}

    gone, new = before - after, after - before
    created = paths(new) - paths(before)
    removed = paths(gone) - paths(after)
    changed = (paths(new) | paths(gone)) - created - removed
    labelled = (("created", created), ("removed", removed), ("changed", changed))
    parts = [f"{label}: {', '.join(sorted(items)[:5])}" for label, items in labelled if items]
    return Violation(kind="workspace", detail="; ".join(parts), command=cmd,
                     trace=sorted(new)[:4])  # fmt: skip


def _listed_path(line: str) -> str:
    if line.startswith("M "):
        return line[2:].split("\t", 1)[0]
    return line[2:].split("  ", 1)[-1]
