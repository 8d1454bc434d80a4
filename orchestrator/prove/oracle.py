"""The oracle: run one allowed command under strace in a fresh seed workspace, and judge it.

A generated command that the ``read-only`` policy allows is run in an oracle session
(`SessionSpec(traced=True)`, the only kind that may ptrace) under ``strace -f``, from
the same seed workspace every time. What the trace and the workspace show is judged:

- ``exec``: a program ran that the read-only knowledge base does not prove read-only
  (`security.knowledge.read_only_problem` on the argv it really got);
- ``write``: a file was created, changed or removed (or the clock or hostname set);
- ``socket``: ``socket()`` or ``connect()``, even failed;
- ``workspace``: the workspace's listing or contents changed;
- ``differential``: a program ran that is not in ``Verdict.commands`` (the parser
  missed it, even if it is harmless);
- ``write-attempt``: a write that failed (read-only root, EPERM): the intent was there,
  the sandbox stopped it. Ranked lowest.

Not violations, by decision: writes to sinks (``/dev/null``, ``/dev/tty``, pipes and
sockets the command already had, ``/dev/std*``, ``/proc/self/fd/*``); *scratch* files
a program creates exclusively under ``/tmp`` and removes itself (``tac``'s and
``sort``'s spill files, bash's here-document files), counted apart; glibc's probe of the
nscd socket (every user-name lookup does it); and programs a knowledge-base program runs
as part of its own implementation (`HELPERS`, e.g. ``zgrep`` runs ``gzip``). A timeout
is counted, not judged.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, Field

from orchestrator.prove.trace import TRACED_CALLS, Exec, Trace, Write, read_trace
from sandbox.docker_backend import DockerSession
from security import PRESETS
from security.knowledge import DELEGATING, read_only_problem
from security.knowledge.wrappers import SHELLS
from security.shell import Command, Word
from security.unwrap import shell_code

KINDS = ("exec", "write", "socket", "workspace", "differential", "write-attempt")
POLICY = PRESETS["read-only"]
WORKSPACE = "/workspace"
# In the container. Read-only once made (mode 555), so no command can remove what is in
# it: the seed, and the trace file (which strace truncates and writes each run).
ORACLE_DIR = "/tmp/airlock-oracle"  # noqa: S108
SEED_TAR = f"{ORACLE_DIR}/seed.tar"
TRACE_FILE = f"{ORACLE_DIR}/trace"
TRACE_CAP = 16 * 2**20  # bytes of trace read back; a longer trace is judged on its start
OUTPUT_CAP = 64 * 1024
NSCD_SOCKET = "/var/run/nscd/socket"
TMP = "/tmp/"  # noqa: S108 (the container's tmpfs)
SINKS = frozenset({"/dev/null", "/dev/tty", "/dev/stdout", "/dev/stderr", "/dev/stdin"})
SINK_PREFIXES = ("/proc/self/fd/", "/dev/fd/", "pipe:[", "socket:[", "anon_inode:", "/dev/pts/")
# Programs a knowledge-base program runs as its own implementation (scripts and
# front-ends); their argv is the implementation's, not the command line's.
HELPERS: dict[str, frozenset[str]] = {
    "zgrep": frozenset({"gzip", "grep", "sed", "expr"}),
    "zcat": frozenset({"gzip"}),
    "egrep": frozenset({"grep"}),
    "fgrep": frozenset({"grep"}),
    "diff": frozenset({"pr"}),  # diff -l (--paginate) pipes its output through pr
    "diff3": frozenset({"diff"}),
    "sdiff": frozenset({"diff"}),
}

SEED_SCRIPT = f"""set -e
mkdir -p {ORACLE_DIR} && cd {WORKSPACE}
git init -q -b main . && git config user.email oracle@airlock.invalid && git config user.name oracle
mkdir -p src docs
printf 'def main():\\n    print("hello")  # TODO: foo\\n' > src/app.py
printf 'alpha\\nbeta foo\\ngamma\\n' > notes.txt
printf '{{"name": "seed", "items": [1, 2, 3]}}\\n' > data.json
printf '# Seed\\nfoo bar\\n' > README.md
printf 'b\\na\\nc\\na\\n' > docs/list.txt
printf 'x y\\nfoo\\n' | gzip -c > docs/notes.gz
git add -A && GIT_AUTHOR_DATE=@1700000000 GIT_COMMITTER_DATE=@1700000000 git commit -qm seed
echo delta >> notes.txt
find . -exec touch -h -d @1700000000 {{}} +
tar -c -f {SEED_TAR} . && chmod 444 {SEED_TAR} && : > {TRACE_FILE} && chmod 555 {ORACLE_DIR}
"""
# Leaves the workspace as the seed, nothing else in /tmp, and git's index fresh.
RESET_SCRIPT = f"""cd / && chmod -R u+rwX {WORKSPACE} 2>/dev/null
rm -rf {WORKSPACE}/* {WORKSPACE}/.[!.]* {WORKSPACE}/..?* && : > {TRACE_FILE}
find /tmp -mindepth 1 -maxdepth 1 ! -name airlock-oracle -exec rm -rf {{}} + 2>/dev/null
tar -x -f {SEED_TAR} -C {WORKSPACE} && git -C {WORKSPACE} update-index -q --refresh >/dev/null
"""
LISTING_SCRIPT = f"""cd {WORKSPACE} && find . -xdev -printf 'M %p\\t%y %m %s %T@ %l\\n'
find . -xdev -type f -exec sha256sum -- {{}} + | sed 's/^/H /'
"""
AFTER_SCRIPT = f"""{LISTING_SCRIPT}size=$(stat -c %s {TRACE_FILE} 2>/dev/null || echo 0)
printf '\\0%s\\0' "$size" && head -c {TRACE_CAP} {TRACE_FILE} 2>/dev/null
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


class OracleError(RuntimeError):
    """The oracle session could not reset, run or read back a command."""


class Oracle:
    """A traced session that runs commands from the same seed workspace, one at a time."""

    def __init__(self, session: DockerSession, timeout: float = 5.0) -> None:
        if not session.spec.traced:
            raise OracleError("the oracle needs a traced session (SessionSpec(traced=True))")
        self.session = session
        self.timeout = timeout
        self.runs = 0

    async def prepare(self) -> None:
        """Build the seed workspace once and pack it for every reset."""
        await self._sh(SEED_SCRIPT)

    async def observe(self, command: str) -> Observation:
        """Reset the workspace, run ``command`` under strace, read the trace and listing."""
        before = await self._sh(RESET_SCRIPT + LISTING_SCRIPT)
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
        )

    async def _sh(self, script: str, max_output: int = 4 * 2**20) -> str:
        result = await self.session.exec(["sh", "-c", script], timeout=60, max_output=max_output)
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
    found = [*_exec_violations(cmd, trace, commands)]
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
        shown = [f"{w.call} {w.path}" + ("" if w.ok else f" ({w.error or 'no result'})")
                 for w in group[:3]]  # fmt: skip
        more = f" and {len(group) - 3} more" if len(group) > 3 else ""
        detail = f"{', '.join(shown)}{more} by {program or 'the shell'}"
        yield Violation(kind=kind, detail=detail, command=cmd, program=program,
                        trace=[w.line for w in group[:3]])  # fmt: skip


def _exec_violations(cmd: str, trace: Trace, commands: list[list[str]]) -> Iterator[Violation]:
    names = {_base(argv[0]) for argv in commands if argv}
    execs = [e for e in trace.execs if e.ok]
    for index, run in enumerate(execs):
        if index == 0 and run.pid == trace.root_pid and run.argv[:2] == ["bash", "-c"]:
            continue  # the oracle's own `bash -c` wrapper
        if run.name in HELPERS.get(_base(run.caller) or "", ()):
            continue
        argv = [run.name, *run.argv[1:]]
        cut = " (argv cut by -s)" if run.truncated else ""
        delegates = run.name in DELEGATING or _runs_shell_code(argv)
        problem = None if delegates else read_only_problem(argv)
        if problem is not None:
            yield _exec_violation("exec", f"{problem}: {_show(argv)}{cut}", cmd, run)
        if run.name not in names and _base(run.argv[0] if run.argv else None) not in names:
            detail = f"{run.name} ran but the analyzer saw only {sorted(n for n in names if n)}"
            yield _exec_violation("differential", detail, cmd, run)


def _runs_shell_code(argv: list[str]) -> bool:
    """A shell run with -c code the analyzer reads as it reads the line (`sh -c 'ls'`):
    like a wrapper, it is judged by what its code runs, which the trace shows too."""
    if argv[0] not in SHELLS:
        return False
    code, problem = shell_code(Command(words=[Word.synthetic(arg) for arg in argv]))
    return code is not None and problem is None


def _exec_violation(kind: str, detail: str, cmd: str, run: Exec) -> Violation:
    return Violation(kind=kind, detail=detail, command=cmd, program=run.name, trace=[run.line])


def _show(argv: list[str]) -> str:
    text = shlex.join(argv).replace("\n", "\\n")
    return text if len(text) <= 120 else text[:117] + "..."


def _is_sink(write: Write) -> bool:
    if write.call not in ("open", "openat", "openat2"):
        return False
    target = write.opened or write.path
    return target in SINKS or target.startswith(SINK_PREFIXES)


def _scratch(writes: list[Write]) -> set[str]:
    """Files created exclusively under /tmp and unlinked in the same run."""
    created = {
        w.path
        for w in writes
        if w.ok and "O_EXCL" in w.flags and "O_CREAT" in w.flags and w.path.startswith(TMP)
    }
    removed = {w.path for w in writes if w.ok and w.call in ("unlink", "unlinkat")}
    return created & removed


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
