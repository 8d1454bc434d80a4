"""Differential execution fuzzing: run what the analyzer allows and watch what happens.

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

A violating command is shrunk (its list parts alone, then delta debugging over words and
characters) while the analyzer still allows it and its program still shows the same
kinds, and saved as one JSON file under ``tests/corpus/regressions/pending/``, for the
analyzer's owners to fix and move up (see the README there).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import random
import re
import shlex
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from docker.errors import DockerException
from pydantic import BaseModel, Field

from orchestrator.prove.trace import TRACED_CALLS, Exec, Trace, Write, read_trace
from sandbox.docker_backend import DockerBackend, DockerSession, SandboxError
from sandbox.spec import SessionSpec
from security import PRESETS, Decision, analyze
from security.knowledge import DELEGATING, GIT_READ_ONLY, READ_ONLY, read_only_problem

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
REGRESSIONS = CORPUS / "regressions"
PENDING = REGRESSIONS / "pending"

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
MAX_ORACLE_ERRORS = 5  # lost sessions tolerated per run (another process may reap them)
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
        problem = None if run.name in DELEGATING else read_only_problem(argv)
        if problem is not None:
            yield _exec_violation("exec", f"{problem}: {_show(argv)}{cut}", cmd, run)
        if run.name not in names and _base(run.argv[0] if run.argv else None) not in names:
            detail = f"{run.name} ran but the analyzer saw only {sorted(n for n in names if n)}"
            yield _exec_violation("differential", detail, cmd, run)


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


# --- generating -------------------------------------------------------------------------

FILES = ("README.md", "notes.txt", "src/app.py", "data.json", "docs/list.txt", "docs/notes.gz",
         "src", "docs", ".", "missing.txt", "/etc/hostname", "-", "*.md", "src/*", "*")  # fmt: skip
OUTPUTS = ("pwn", "out.txt", "/workspace/pwn", f"{TMP}pwn", "notes.txt", "src/new.py")
WORDS = ("foo", "alpha", "TODO", "x", "a b", "-", "--", "1", "HEAD", "main", "-n", "%s", "")
# Ordinary arguments per program: {f} a file, {o} a file to write, {w} a word.
ARGS: dict[str, str] = {
    "ls": "-la -l -a -1 -R -d -t -h --color=never {f} {f} src",
    "cat": "{f} {f} -n -A --",
    "head": "-n1 -n 2 -c 5 -q {f} {f}",
    "tail": "-n1 -n +2 -c 5 {f} --pid=1",
    "grep": "-rn -i -c -l -E -v -o -H -e {w} foo TODO alpha . src --include=*.py {f} {f}",
    "egrep": "foo a|b {f} -c",
    "rg": "foo -n -i --files -l TODO {f} -g *.py --hidden",
    "wc": "-l -w -c {f} {f}",
    "sort": "-r -n -u -k1 -t: {f} {f} -m -c",
    "uniq": "-c -d -u {f} {f}",
    "cut": "-d: -f1 -c1-3 {f}",
    "tr": "a-z A-Z -d x -s ' '",
    "sed": "-n -e -E -s -z --expression=1p 1p p s/a/b/ s/a/b/g /foo/d $= y/ab/ba/ {f} {f}",
    "awk": "-F: -v x=1 {prog} {prog} {f} {f}",
    "gawk": "-F: {prog} {f}",
    "find": ". src -name *.py -type f -type d -maxdepth 1 -print -print0 -ls -newer {f} -empty "
    "-exec cat {} ; -exec ls {} + -path ./.git -prune -o",
    "git": "{git}",
    "echo": "{w} {w} -n -e $HOME",
    "printf": "%s\\n {w} {w} -- %b",
    "test": "-f {f} -d src -n {w} -z {w} = -e {f} -v x",
    "[": "-f {f} -d src -n {w} -v x ]",
    "read": "-r x y -a arr -p p",
    "cd": "src .. / -",
    "pushd": "src /tmp",
    "date": "+%s -u -d @0 -R -I",
    "hostname": "-s -f",
    "jq": ". .name .items[] -r -c -n input_filename --arg x y {f}",
    "diff": "{f} {f} -u -q -r",
    "cmp": "{f} {f} -l",
    "comm": "{f} {f} -12",
    "stat": "{f} -c %s",
    "du": "-sh -a {f}",
    "df": "-h .",
    "realpath": "{f}",
    "readlink": "-f {f}",
    "basename": "{f} .py",
    "dirname": "{f}",
    "which": "ls git sh",
    "type": "ls cd -a",
    "tac": "{f}",
    "rev": "{f}",
    "nl": "{f}",
    "od": "-c {f}",
    "fold": "-w 3 {f}",
    "paste": "{f} {f} -s",
    "expand": "-t 2 {f}",
    "fmt": "-w 5 {f}",
    "join": "{f} {f}",
    "pr": "-2 {f}",
    "base64": "{f} -d -w0",
    "md5sum": "{f} {f}",
    "sha256sum": "{f} -c",
    "id": "-u -g -n",
    "uname": "-a -r",
    "ps": "aux -ef",
    "free": "-m",
    "who": "-a",
    "diff3": "{f} {f} {f}",
    "base32": "{f} -d",
    "seq": "3 1 2",
    "expr": "1 + 2",
    "sleep": "0 0.1",
    "zcat": "docs/notes.gz",
    "zgrep": "foo docs/notes.gz",
    "true": "",
    ":": "{w}",
    "pwd": "-P",
    "whoami": "",
    "locale": "-a",
    "nproc": "",
    "getconf": "PATH",
    "tty": "",
    "factor": "12",
    "numfmt": "--to=si 1000",
    "wait": "",
}
GIT_ARGS: dict[str, str] = {
    "status": "-s --short --porcelain -b",
    "log": "--oneline -n1 -p --stat --format=%H --all HEAD -- notes.txt",
    "show": "HEAD --stat --name-only HEAD:notes.txt",
    "diff": "HEAD --stat --cached --name-only",
    "branch": "-a -v --list main --sort x --contains HEAD",
    "tag": "-l --list",
    "config": "--get --list -l user.name core.bare --global --local --get-regexp user",
    "stash": "list show",
    "reflog": "show",
    "rev-parse": "HEAD --show-toplevel --git-dir",
    "ls-files": "-s -m",
    "blame": "notes.txt -L1,2",
    "describe": "--always --tags",
    "shortlog": "-sn HEAD",
    "remote": "-v",
    "cat-file": "-p HEAD -t",
    "grep": "foo -n",
}
AWK_PROGRAMS = (
    "{print}", "{print $1}", "NR==1", "BEGIN{print 1}", "END{print NR}", "/foo/",
    '{print > "out.txt"}', '{print | "cat"}', 'BEGIN{system("id")}', 'BEGIN{"id" | getline x}',
    'BEGIN{while ((getline l < "notes.txt") > 0) print l}', '{printf "%s", $0 > "/dev/stderr"}',
)  # fmt: skip
WRAPPERS = ("timeout 2", "env", "nice", "stdbuf -oL", "command", "exec", "env -i", "nice -n 5")
ASSIGNMENTS = ("X=1", "LC_ALL=C", "TZ=UTC", "HOME=/workspace", "TMPDIR=/workspace",
               "GIT_TRACE={o}", "GIT_INDEX_FILE={o}", "POSIXLY_CORRECT=1", "IFS=,",
               "XDG_CONFIG_HOME=/workspace")  # fmt: skip
REDIRECTS = ("2>/dev/null", ">/dev/null", "< {f}", "<<< {w}", "2>&1", ">&2", "&>/dev/null",
             ">|/dev/null", ">> /dev/null", "<>{f}", "> {o}", "2>{o}", "0<{f}",
             "<<EOF\nhello\nEOF", "<<-'EOF'\n\t$HOME\nEOF")  # fmt: skip
GIT_ASSIGNMENTS = ("GIT_TRACE={o}", "GIT_TRACE2={o}", "GIT_TRACE_SETUP={o}", "GIT_INDEX_FILE={o}",
                   "GIT_DIR=.git", "GIT_PAGER=cat", "GIT_OPTIONAL_LOCKS=0", "GIT_WORK_TREE=src",
                   "GIT_CONFIG_GLOBAL={f}", "GIT_TRACE_PERFORMANCE={o}")  # fmt: skip
# How often a program is picked, against 1: those whose arguments decide what they do.
WEIGHTS = {"git": 8, "sed": 3, "awk": 3, "find": 2, "sort": 2, "date": 2, "read": 2, "test": 2,
           "[": 2, "hostname": 2, "uniq": 2, "tail": 2, "rg": 2}  # fmt: skip
ZSH = ("=ls", "ls *(.)", "echo ${(f)x}", "cat =(ls)", "echo ${~x}", "ls **/*.py")


def _edge_fragments() -> dict[str, list[str]]:
    """Options the knowledge base forbids, spelled as getopt accepts them (abbreviated too)."""
    edges: dict[str, list[str]] = {}
    specs = {**READ_ONLY, **{f"git {sub}": spec for sub, spec in GIT_READ_ONLY.items()}}
    for name, spec in specs.items():
        out = [f"-{ch}" for ch in spec.forbidden_short]
        out += [f"-{ch} {{o}}" for ch in spec.forbidden_short]
        for long in spec.forbidden_long:
            out += [f"--{long}", f"--{long}={{o}}"]
            out += [f"--{long[:k]}={{o}}" for k in range(1, len(long))]
        if out:
            edges[name] = out
    extra = {
        "sed": ["--expression=w {o}", "-e w\\ {o}", "--in-place", "-i", "--file=-", "1e id"],
        "awk": ["-d", "--dump-variables", "-p", "--profile", "-o", "--pretty-print", "-E {f}"],
        "date": ["--set 2020-01-01", "-s 2020-01-01"],
        "hostname": ["{w}", "sandbox", "-F {f}"],
        "uniq": ["{f} {o}"],
        "git": ["-C src", "-C .git", "--no-pager", "-c x=y", "--git-dir=.git"],
        "git config": ["a.b get", "user.name list", "--add a.b c", "a.b"],
        "git branch": ["x", "-l x", "-d x", "-f x"],
        "git tag": ["-a x -l", "v1"],
        "read": ["'a[$(id)]'", "PATH"],
        "test": ["-v 'a[$(id)]'"],
        "[": ["-v 'a[$(id)]' ]"],
    }
    for name, fragments in extra.items():
        edges.setdefault(name, []).extend(fragments)
    return edges


EDGES = _edge_fragments()


def _abbreviate(word: str, rng: random.Random) -> str:
    """``--expression=x`` as getopt also takes it: ``--exp=x``, ``--e=x``."""
    name, sep, value = word.partition("=")
    if not re.fullmatch(r"--[a-z][a-z-]+", name):
        return word
    return name[: rng.randint(3, len(name) - 1)] + sep + value


def load_corpus(root: Path = CORPUS) -> list[str]:
    """Every ``cmd`` of tests/corpus/*.jsonl (benign first)."""
    lines: list[str] = []
    for path in sorted(root.glob("*.jsonl")):
        for raw in path.read_text().splitlines():
            if raw.strip():
                lines.append(json.loads(raw)["cmd"])
    return lines


class Generator:
    """Shell commands from a grammar biased to what the read-only policy allows.

    Mostly knowledge-base programs with ordinary arguments, sometimes an option the base
    forbids (spelled as getopt accepts it), and words respelled the ways a shell decodes
    them at run time (quotes, escapes, braces, substitutions, variables), in pipelines,
    lists, loops, wrappers and ``xargs``; plus mutations of the corpus lines.
    """

    def __init__(self, seed: int, corpus: list[str] | None = None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (reproducible fuzzing, not secrets)
        self.corpus = corpus if corpus is not None else load_corpus()
        self.programs = sorted(ARGS)
        self.weights = [WEIGHTS.get(name, 1) for name in self.programs]

    def command(self) -> str:
        if self.corpus and self.rng.random() < 0.3:
            return self._mutant()
        if self.rng.random() < 0.02:
            return self.rng.choice(ZSH)
        return self._list(0)

    # grammar

    def _list(self, depth: int) -> str:
        parts = [self._pipeline(depth)]
        while len(parts) < 3 and self.rng.random() < 0.3:
            parts += [self.rng.choice(("; ", " && ", " || ", "\n")), self._pipeline(depth)]
        return "".join(parts)

    def _pipeline(self, depth: int) -> str:
        rng = self.rng
        if rng.random() < 0.12:  # stdin feeding options to a program through xargs
            name = self._program()
            words = " ".join(self._fill(self._fragment(name, edge=0.6)) for _ in range(2))
            return f"echo {words} | xargs {rng.choice(('', '-n2 ', '-0 '))}{name}"
        stages = [self._statement(depth)]
        while len(stages) < 3 and rng.random() < 0.25:
            stages.append(self._simple())
        return " | ".join(stages)

    def _statement(self, depth: int) -> str:
        rng = self.rng
        roll = rng.random()
        if depth >= 2 or roll < 0.6:
            return self._simple()
        inner = self._list(depth + 1)
        if roll < 0.68:
            return f"( {inner} )"
        if roll < 0.74:
            return f"{{ {inner}; }}"
        if roll < 0.8:
            return f"for x in {self._fill('{w} {f}')}; do {inner}; done"
        if roll < 0.85:
            return f"if {self._simple()}; then {inner}; fi"
        if roll < 0.9:
            return f"while read -r line; do {inner}; done < {self._fill('{f}')}"
        if roll < 0.95:
            word = self._fill(self._fragment(self._program(), edge=0.5))
            return f"v={self._quote(word)}; {self._simple(var='$v')}"
        return f"{rng.choice(WRAPPERS)} {self._simple()}"

    def _simple(self, var: str | None = None) -> str:
        rng = self.rng
        name = self._program()
        words = [self._respell(name) if rng.random() < 0.05 else name]
        assignments = ASSIGNMENTS
        if name == "git":
            sub = rng.choice(sorted(GIT_ARGS))
            if rng.random() < 0.15:
                words.append(self._fill(rng.choice(EDGES["git"])))
            words.append(sub)
            name, assignments = f"git {sub}", GIT_ASSIGNMENTS
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            words.append(self._fill(self._fragment(name)))
        if var is not None:
            words.insert(rng.randint(1, len(words)), var)
        if rng.random() < 0.15:
            words = [*words[:1], *(self._respell(w) for w in words[1:])]
        if rng.random() < 0.1:
            words = [_abbreviate(w, rng) for w in words]
        if rng.random() < (0.25 if assignments is GIT_ASSIGNMENTS else 0.1):
            words.insert(0, self._fill(rng.choice(assignments)))
        if rng.random() < 0.2:
            words.append(self._fill(rng.choice(REDIRECTS)))
        if rng.random() < 0.08:
            words.append(f"<({self._simple()})" if rng.random() < 0.5 else f"$({self._simple()})")
        return " ".join(w for w in words if w)

    def _program(self) -> str:
        return self.rng.choices(self.programs, self.weights)[0]

    def _fragment(self, name: str, edge: float = 0.12) -> str:
        rng = self.rng
        if name in EDGES and rng.random() < edge:
            return rng.choice(EDGES[name])
        if name.startswith("git "):
            pool = GIT_ARGS[name[4:]].split()
        else:
            pool = ARGS.get(name, "{w}").split() or [""]
        return rng.choice(pool)

    def _fill(self, fragment: str) -> str:
        rng = self.rng
        out = fragment
        for key, pool in (("{f}", FILES), ("{o}", OUTPUTS), ("{w}", WORDS)):
            while key in out:
                out = out.replace(key, self._quote(rng.choice(pool)), 1)
        while "{prog}" in out:
            out = out.replace("{prog}", "'" + rng.choice(AWK_PROGRAMS) + "'", 1)
        while "{git}" in out:
            out = out.replace("{git}", rng.choice(sorted(GIT_ARGS)), 1)
        return out

    def _quote(self, word: str) -> str:
        if word and re.fullmatch(r"[\w./*:%+=@-]+", word):
            return word
        return "'" + word.replace("'", "'\\''") + "'"

    def _respell(self, word: str) -> str:
        """The same word as the shell will see it at run time, spelled another way."""
        if not word or " " in word or "'" in word:
            return word
        options = [
            f"'{word}'", f'"{word}"', f"\\{word}", f"{word[0]}''{word[1:]}", f"$'{word}'",
            f"{{{word},}}", f"$(echo {word})", f"`echo {word}`", f'"$(printf %s {word})"',
            f"${{X:-{word}}}", f"${{X-{word}}}", f"{word}$(true)",
        ]  # fmt: skip
        if " " not in word and word.startswith("-"):
            options.append(f"{{{word},{self._fill('{o}')}}}")
        return self.rng.choice(options)

    # corpus mutation

    def _mutant(self) -> str:
        rng = self.rng
        line = rng.choice(self.corpus)
        for _ in range(rng.randint(1, 2)):
            words = line.split(" ")
            roll = rng.random()
            i = rng.randrange(len(words))
            if roll < 0.3:
                words[i] = self._respell(words[i])
            elif roll < 0.5:
                name = words[0] if words[0] in ARGS or words[0] in EDGES else self._program()
                words.insert(min(1, len(words)), self._fill(self._fragment(name, edge=0.5)))
            elif roll < 0.6:
                words.insert(0, self._fill(rng.choice(ASSIGNMENTS)))
            elif roll < 0.7:
                words.append(self._fill(rng.choice(REDIRECTS)))
            elif roll < 0.8:
                words += [rng.choice(("|", ";", "&&", "||")), self._simple()]
            elif roll < 0.9:
                words = [f"echo {self._fill('{w}')} | xargs", *words]
            else:
                words[i] = f"$({words[i]})" if words[i] else words[i]
            line = " ".join(words)
        return line


# --- shrinking --------------------------------------------------------------------------


# Where a shell line splits into parts that can stand alone (pipeline stages too).
_SEPARATORS = re.compile(r"\s*(?:;|&&|\|\||\||\n|[(){}]|\b(?:do|done|then|else|fi)\b)\s*")


async def shrink(
    command: str,
    still_fails: Callable[[str], Awaitable[bool]],
    budget: int = 200,
    deadline: float | None = None,
) -> str:
    """The smallest command found: a part that fails alone, then delta debugging.

    First each run of list parts (``a; b && c``, loop and ``if`` bodies) is tried alone,
    shortest first; then words are removed, then characters (never whitespace, so words
    stay apart). ``still_fails`` says whether a candidate still shows the violation; at
    most ``budget`` distinct candidates are tried, none after ``deadline`` (monotonic).
    """
    tried: dict[str, bool] = {}

    async def check(candidate: str) -> bool:
        if candidate not in tried:
            if len(tried) >= budget or (deadline is not None and time.monotonic() > deadline):
                return False
            tried[candidate] = await still_fails(candidate)
        return tried[candidate]

    best = command
    cuts = [0, *(i for m in _SEPARATORS.finditer(command) for i in m.span()), len(command)]
    parts = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=True) if command[a:b].strip()]
    runs = {command[a:d].strip() for i, (a, _) in enumerate(parts) for _, d in parts[i:]}
    for candidate in sorted(runs - {command}, key=len):
        if await check(candidate):
            best = candidate
            break
    for by_chars in (False, True):
        best = await _ddmin(best, check, by_chars)
    return best


def _units(text: str, by_chars: bool) -> list[str]:
    return list(text) if by_chars else re.findall(r"\s+|\S+\s*", text)


async def _ddmin(text: str, check: Callable[[str], Awaitable[bool]], by_chars: bool) -> str:
    """Remove chunks of halving size while the check holds; again until nothing goes."""
    units = _units(text, by_chars)
    changed = True
    while changed:
        changed = False
        size = max(1, len(units) // 2)
        while size >= 1:
            start = 0
            while start < len(units):
                chunk = units[start : start + size]
                candidate = "".join(units[:start] + units[start + size :]).strip()
                if by_chars and any(u.isspace() for u in chunk):
                    start += size
                elif candidate and await check(candidate):
                    units, changed = _units(candidate, by_chars), True
                else:
                    start += size
            size //= 2
    return "".join(units).strip()


# --- the run ----------------------------------------------------------------------------


class Finding(BaseModel):
    """A violating command, shrunk, as saved under tests/corpus/regressions/."""

    cmd: str
    kind: str
    detail: str
    program: str | None = None
    kinds: list[str]
    trace: list[str]
    found: str
    original: str


class FuzzReport(BaseModel):
    """What one `make fuzz-diff` run did and found."""

    seed: int
    seconds: float
    generated: int = 0
    allowed: int = 0
    executed: int = 0
    oracle_runs: int = 0  # executed plus the runs that shrinking made
    timeouts: int = 0
    truncated_traces: int = 0
    oracle_errors: int = 0
    scratch_writes: int = 0
    violating_commands: int = 0
    violations: dict[str, int] = Field(default_factory=dict)  # commands showing each kind
    exec_per_s: float = 0.0  # oracle runs (each: reset, traced run, read back) per second
    findings: list[Finding] = Field(default_factory=list)
    saved: list[str] = Field(default_factory=list)

    def summary(self) -> list[str]:
        """The figures, one per line, then each finding and each saved file."""
        figures = self.model_dump(exclude={"findings", "saved", "violations"})
        by_kind = ", ".join(f"{kind} {n}" for kind, n in self.violations.items())
        lines = [f"{name:<20} {value}" for name, value in figures.items()]
        lines.append(f"{'violations':<20} {by_kind or 'none'}")
        lines += [f"{f.kind}: {f.cmd!r}: {f.detail}" for f in self.findings]
        return lines + [f"saved {path}" for path in self.saved]


def features(command: str) -> tuple[str, ...]:
    """Syntactic traits of a command: findings with the same traits are shrunk once."""
    traits = {
        "brace": r"\{[^}\s]*,", "subst": r"\$\(|`", "var": r"\$[A-Za-z_{]", "xargs": r"\bxargs\b",
        "find-exec": r"-exec", "pipe": r"[^|]\|[^|]", "loop": r"\b(for|while)\b",
        "redirect": r"[<>]", "assign": r"(^|\s)\w+=", "quote": r"['\"\\]",
        "wrapper": r"\b(timeout|env|nice|stdbuf|command|exec|builtin)\b",
    }  # fmt: skip
    return tuple(name for name, pattern in traits.items() if re.search(pattern, command))


def _primary(violations: list[Violation]) -> Violation:
    return min(violations, key=lambda v: KINDS.index(v.kind))


def known_commands(root: Path = REGRESSIONS) -> set[str]:
    """Commands already saved, fixed or pending."""
    return {json.loads(p.read_text())["cmd"] for p in root.rglob("*.json")}


def save_finding(finding: Finding, directory: Path = PENDING) -> Path:
    """Write ``<kind>-<sha256(cmd)[:10]>.json``; the path."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(finding.cmd.encode()).hexdigest()[:10]
    path = directory / f"{finding.kind}-{digest}.json"
    path.write_text(json.dumps(finding.model_dump(), indent=2, ensure_ascii=False) + "\n")
    return path


class Campaign:
    """One fuzzing run: a generator, an oracle session, and what they found."""

    def __init__(self, seed: int, out_dir: Path | None, shrinking: bool, max_shrinks: int,
                 timeout: float, progress: Callable[[str], None] | None) -> None:  # fmt: skip
        self.report = FuzzReport(seed=seed, seconds=0.0)
        self.generator = Generator(seed)
        self.out_dir = out_dir
        self.shrinking = shrinking
        self.max_shrinks = max_shrinks
        self.timeout = timeout
        self.progress = progress
        self.known = known_commands() if out_dir is not None else set()
        self.shrunk: set[tuple[str, str | None, tuple[str, ...]]] = set()  # kind, program, traits
        self.shrinks = 0
        self.by_kind: Counter[str] = Counter()
        self.deadline: float | None = None

    async def run(self, seconds: float | None, count: int | None) -> FuzzReport:
        report = self.report
        started = time.monotonic()
        deadline = self.deadline = None if seconds is None else started + seconds
        runs = 0
        while (count is None or report.generated < count) and (
            deadline is None or time.monotonic() < deadline
        ):
            session = await DockerBackend().start(SessionSpec(traced=True))
            oracle = Oracle(session, timeout=self.timeout)
            try:
                await oracle.prepare()
                await self._loop(oracle, deadline, count)
            except (OracleError, SandboxError) as exc:  # a lost session: count, start another
                report.oracle_errors += 1
                if report.oracle_errors > MAX_ORACLE_ERRORS:
                    raise
                if self.progress:
                    self.progress(f"oracle error, new session: {exc}")
            finally:
                runs += oracle.runs
                with contextlib.suppress(DockerException):
                    await session.close()
        report.oracle_runs = runs
        report.seconds = round(time.monotonic() - started, 1)
        report.violations = {k: self.by_kind[k] for k in KINDS if self.by_kind[k]}
        report.exec_per_s = round(runs / max(report.seconds, 1e-9), 2)
        return report

    async def _loop(self, oracle: Oracle, deadline: float | None, count: int | None) -> None:
        report = self.report
        while (count is None or report.generated < count) and (
            deadline is None or time.monotonic() < deadline
        ):
            command = self.generator.command()
            report.generated += 1
            verdict = analyze(command, POLICY)
            if verdict.decision is not Decision.ALLOW:
                continue
            report.allowed += 1
            observation = await oracle.observe(command)
            report.executed += 1
            report.timeouts += observation.timed_out
            report.truncated_traces += observation.trace_truncated
            judgement = judge(observation, verdict.commands)
            report.scratch_writes += judgement.scratch
            if judgement.violations:
                await self._record(oracle, observation, judgement)

    async def _record(self, oracle: Oracle, observation: Observation, judgement: Judgement) -> None:
        report, command = self.report, observation.command
        report.violating_commands += 1
        self.by_kind.update(judgement.kinds)
        main = _primary(judgement.violations)
        if self.progress:
            self.progress(f"{main.kind}: {main.detail} <- {command!r}")
        key = (main.kind, main.program, features(command))
        words = set(command.split())
        seen = any(
            f.kind == main.kind and f.program == main.program and set(f.cmd.split()) <= words
            for f in report.findings
        )  # an earlier, smaller finding of the same kind and program is inside this one
        if seen or key in self.shrunk or self.shrinks >= self.max_shrinks:
            return
        self.shrinks += 1
        self.shrunk.add(key)
        finding = await make_finding(oracle, observation, self.shrinking, self.deadline)
        small_key = (finding.kind, finding.program, features(finding.cmd))
        if small_key in self.shrunk and small_key != key:
            return  # shrunk to the shape of an earlier finding
        self.shrunk.add(small_key)
        report.findings.append(finding)
        if self.out_dir is not None and finding.cmd not in self.known:
            self.known.add(finding.cmd)
            report.saved.append(str(save_finding(finding, self.out_dir)))


def signature(judgement: Judgement, program: str | None) -> set[str]:
    """The kinds a program's violations show (its workspace change counts with its writes)."""
    kinds = {v.kind for v in judgement.violations if v.program == program}
    return kinds | ({"workspace"} if "write" in kinds and "workspace" in judgement.kinds else set())


async def make_finding(
    oracle: Oracle, observation: Observation, shrinking: bool = True, deadline: float | None = None
) -> Finding:
    """Shrink a violating command and describe it for saving.

    A smaller command must still be allowed and make the same program show at least the
    same kinds (``sort -o x`` that wrote stays a command that writes, not just one the
    knowledge base rejects).
    """
    command = observation.command
    judgement = judge(observation, analyze(command, POLICY).commands)
    main = _primary(judgement.violations)
    wanted = signature(judgement, main.program)

    async def still_fails(candidate: str) -> bool:
        verdict = analyze(candidate, POLICY)
        if verdict.decision is not Decision.ALLOW:
            return False
        again = judge(await oracle.observe(candidate), verdict.commands)
        return wanted <= signature(again, main.program)

    small = await shrink(command, still_fails, deadline=deadline) if shrinking else command
    if small != command:
        observation = await oracle.observe(small)
        judgement = judge(observation, analyze(small, POLICY).commands)
        same = [v for v in judgement.violations if v.program == main.program]
        main = _primary(same) if same else main
    execs = [e.line for e in observation.trace.execs if e.ok][:6]
    behind = [line for v in judgement.violations if v.program == main.program for line in v.trace]
    return Finding(
        cmd=small, kind=main.kind, detail=main.detail, program=main.program,
        kinds=judgement.kinds, trace=list(dict.fromkeys([*execs, *main.trace, *behind]))[:12],
        found=date.today().isoformat(), original=command,
    )  # fmt: skip


async def fuzz_async(
    *,
    seed: int = 0,
    seconds: float | None = 120.0,
    count: int | None = None,
    out_dir: Path | None = PENDING,
    shrinking: bool = True,
    max_shrinks: int = 25,
    timeout: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Generate, keep what the analyzer allows, run it in the oracle, judge, shrink, save.

    Stops after ``seconds`` or ``count`` generated commands, whichever comes first.
    """
    campaign = Campaign(seed, out_dir, shrinking, max_shrinks, timeout, progress)
    return await campaign.run(seconds, count)
