"""Proven read-only commands run confined by Landlock in real airlock/dev sessions.

Benign commands give the same output confined as unconfined; a hostile repository's
config, reopened redirections, programs of the repo, TCP and signals are refused by the
kernel; gVisor (no Landlock) says so honestly. Each refusal has its unconfined control,
which shows the attack works when nothing stops it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.tools.base import ReadLedger, ToolContext
from orchestrator.tools.bash import Bash, BashInput
from sandbox.confinement import Confinement
from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.results import ExecExit, ExecResult
from sandbox.spec import SessionSpec
from security import analyze

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# The image under test; its current recipe has the private bash copy.
IMAGE = os.environ.get("AIRLOCK_CONFINE_TEST_IMAGE", "airlock/dev")
LOADER = "/lib64/ld-linux-x86-64.so.2"

Body = Callable[[DockerSession], Awaitable[None]]


def in_session(body: Body, runtime: str = "runc", image: str = IMAGE, shell: str = "bash") -> None:
    spec = SessionSpec(image=image, runtime=runtime, shell=shell)

    async def main() -> None:
        async with DockerBackend().session(spec) as s:
            await body(s)

    asyncio.run(main())


def confinement_of(line: str, *extra: str) -> Confinement:
    """What the wiring would ask for (the analyzer's programs), whatever its decision."""
    commands = [*analyze(line, "read-only").commands, *([name] for name in extra)]
    return Confinement.for_commands(commands)


async def confined(s: DockerSession, line: str, *extra: str) -> ExecResult:
    result = await s.exec(line, confinement=confinement_of(line, *extra))
    assert result.confinement is not None and result.confined, result.confinement
    return result


async def unconfined(s: DockerSession, line: str) -> ExecResult:
    result = await s.exec(line)
    assert result.confinement is None
    return result


async def setup(s: DockerSession, script: str) -> None:
    result = await s.exec(f"set -e\ncd /workspace\n{script}")
    assert result.exit_code == 0, result.stderr.decode()


async def files(s: DockerSession, pattern: str = "MARK*") -> list[str]:
    listed = await s.exec(f"cd /workspace && ls -d {pattern} 2>/dev/null || true")
    return listed.stdout.decode().split()


async def digest(s: DockerSession, *paths: str) -> str:
    result = await s.exec(["sha256sum", "--", *paths], cwd="/workspace")
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode()


# --- benign commands: confined == unconfined -------------------------------------------

REPO = r"""
git init -q -b main . && git config user.email t@example.invalid && git config user.name t
export GIT_AUTHOR_DATE=@1700000000 GIT_COMMITTER_DATE=@1700000000
mkdir -p src docs
printf 'def main():\n    print("hello")  # TODO: foo\n' > src/app.py
printf 'alpha\nbeta foo\ngamma\n' > notes.txt
printf '{"name": "seed", "items": [1, 2, 3]}\n' > data.json
printf 'x y\nfoo\n' | gzip -c > docs/notes.gz
printf 'a\nb\nc\n' > left.txt && printf 'a\nB\nc\n' > right.txt
seq 1 40000 > docs/numbers.txt
git add -A && git commit -qm seed && git tag -a v1 -m v1
echo delta >> notes.txt && git commit -qam second
echo epsilon >> notes.txt
seq 1 7000000 > /tmp/big.txt
"""
HEREDOC = "cat <<EOF | wc -c\n$(cat docs/numbers.txt)\n$(cat docs/numbers.txt)\nEOF"
BENIGN = (
    "ls -la",
    "cat notes.txt",
    "head -n 5 docs/numbers.txt && tail -n 3 docs/numbers.txt",
    "wc -l docs/numbers.txt notes.txt",
    "grep -rn foo src docs notes.txt",
    "rg -n --sort path foo",
    "find . -name '*.txt' -not -path './.git/*'",
    "sort -r /tmp/big.txt | md5sum",
    "sort -S 1M /tmp/big.txt | md5sum",  # a 1 MB buffer: the 55 MB input spills to TMPDIR
    "git status",
    "git log -p",
    "git diff",
    "git show --stat HEAD",
    "git blame src/app.py",
    "zgrep foo docs/notes.gz",
    "diff -l left.txt right.txt | grep -v 'Page 1'",  # pr's header holds the time
    "jq '.items | add' data.json",
    "awk '{print NR\": \"$1}' notes.txt",
    "sed -n 2p notes.txt",
    HEREDOC,  # 460 KB of here-document: bash writes it to a TMPDIR file
    # the exec's pipes reopened by name are not path-checked; /dev/null is allowed
    "echo hi >/dev/stdout; echo err >/dev/stderr; echo fd >/proc/self/fd/1; echo x >/dev/null",
    "git describe --dirty",  # last: unconfined, it refreshes .git/index
)


def test_benign_read_only_commands_give_the_same_output_confined() -> None:
    async def body(s: DockerSession) -> None:
        await setup(s, REPO)
        for line in BENIGN:
            inside = await confined(s, line)
            outside = await unconfined(s, line)
            assert (inside.exit_code, inside.stdout, inside.stderr) == (
                outside.exit_code,
                outside.stdout,
                outside.stderr,
            ), line
            assert inside.exit_code == 0 and inside.stdout, (line, inside.stderr)
        report = (await confined(s, "true")).confinement
        assert report is not None and report.private_shell, "rebuild airlock/dev (private bash)"
        assert report.network and report.scoped and report.abi is not None and report.abi >= 6
        # the spill really needs the private TMPDIR: pointed elsewhere, sort cannot write
        spill = await confined(s, "TMPDIR=/workspace sort -S 1M /tmp/big.txt | md5sum")
        assert b"/workspace" in spill.stderr and b"sort:" in spill.stderr
        heredoc = await confined(s, f"TMPDIR=/workspace; {HEREDOC}")
        assert b"here-document: Permission denied" in heredoc.stderr, heredoc.stderr
        leftovers = await unconfined(s, "ls -d /tmp/airlock-ro-* 2>/dev/null | wc -l")
        assert leftovers.stdout == b"0\n"  # every private TMPDIR was removed

    in_session(body)


# --- a hostile repository's config -----------------------------------------------------

HOSTILE = r"""
git init -q -b main . && git config user.email t@example.invalid && git config user.name t
printf 'alpha\nbeta\n' > notes.txt
printf '#!/bin/sh\necho pwned > /workspace/MARK-fsmonitor\n' > hook.sh
printf '#!/bin/sh\necho pwned > /workspace/MARK-textconv\ncat "$1"\n' > conv.sh
printf '#!/bin/sh\necho pwned > /workspace/MARK-external\n' > ext.sh
printf '#!/bin/sh\necho pwned > /workspace/MARK-smudge\ncat\n' > smudge.sh
printf 'echo ran-bash-file >&2; echo pwned > /workspace/MARK-bash\n' > 2
chmod +x hook.sh conv.sh ext.sh smudge.sh
echo '*.txt diff=evil filter=evil' > .gitattributes
git add -A && git commit -qm one && git tag -a v1 -m v1
echo gamma >> notes.txt && git commit -qam two && echo dirty >> notes.txt
printf '#!/bin/sh\necho pwned > /workspace/MARK-index-hook\n' > .git/hooks/post-index-change
chmod +x .git/hooks/post-index-change
git config core.fsmonitor /workspace/hook.sh
git config diff.evil.textconv /workspace/conv.sh
git config diff.external /workspace/ext.sh
git config filter.evil.smudge /workspace/smudge.sh
"""
# airlock/dev's `git` is a guard that neutralizes the repository's programs itself
# (sandbox/image_recipes/dev/git_guard.py); the real binary shows what confinement alone holds.
REAL_GIT = "/usr/lib/airlock/git-guard/git.real"


def real(line: str) -> str:
    """``line`` with its leading ``git`` run as the real binary, past the guard."""
    return f"{REAL_GIT}{line[3:]}" if line.startswith("git ") else line


GIT_LINES = (
    "git status",
    "git log -p",
    "git show",
    "git diff",
    "git cat-file --filters HEAD:notes.txt",
    "git describe --dirty",
)


def test_hostile_git_config_runs_nothing_and_writes_nothing_when_confined() -> None:
    async def body(s: DockerSession) -> None:
        await setup(s, HOSTILE)
        before = await digest(s, ".git/config", ".git/index")
        for line in GIT_LINES:
            result = await confined(s, real(line))
            assert await files(s) == [], (line, result.stderr)
        assert (
            b"cannot exec '/workspace/hook.sh': Permission denied"
            in (await confined(s, real("git status"))).stderr
        )
        # a config that runs plain `bash FILE` (FILE from the repo) meets the private copy
        await setup(s, "git config core.fsmonitor bash && git config diff.evil.textconv bash")
        for line in GIT_LINES:
            await confined(s, real(line))
        assert await files(s) == []
        status = await confined(s, real("git status"))  # bash by name: not the private copy
        assert b"cannot exec 'bash': Permission denied" in status.stderr, status.stderr
        assert b"ran-bash-file" not in status.stderr
        before = await digest(s, ".git/config", ".git/index")
        await confined(s, real("git describe --dirty"))
        assert await digest(s, ".git/config", ".git/index") == before
        # controls: the same lines unconfined run the repository's programs
        await unconfined(s, real("git status"))
        assert await files(s) == ["MARK-bash"]
        await setup(s, "git config core.fsmonitor /workspace/hook.sh")
        await setup(s, "git config diff.evil.textconv /workspace/conv.sh")
        for line in GIT_LINES:
            await unconfined(s, real(line))
        assert await files(s) == [
            "MARK-bash", "MARK-external", "MARK-fsmonitor", "MARK-index-hook", "MARK-smudge",
            "MARK-textconv",
        ]  # fmt: skip

    in_session(body)


# --- reopened redirections, the repo's programs, the loader, TCP --------------------------

ESCAPES = r"""
git init -q . && printf '[core]\n\tbare = false\n' > .git/config
echo original > victim.txt
cp /usr/bin/touch evil
"""


def test_writes_through_reopened_descriptors_and_repo_programs_are_refused() -> None:
    async def body(s: DockerSession) -> None:
        await setup(s, ESCAPES)
        before = await digest(s, ".git/config", "victim.txt")
        reopen = (
            "echo x 1<.git/config >/dev/stdout",
            "echo x 1<.git/config >>/dev/stdout",
            "exec 1<.git/config; echo x >/dev/stdout",
            "exec 3<victim.txt; echo y >/proc/self/fd/3; echo y >>/dev/fd/3",
        )
        for line in reopen:
            result = await confined(s, line)
            assert b"Permission denied" in result.stderr, (line, result.stderr)
        await confined(s, "echo z 2<victim.txt >/dev/stderr")  # its error has nowhere to go
        assert await digest(s, ".git/config", "victim.txt") == before
        # the repo's own program never runs, even when the line names it
        for line in ("./evil MARK-evil", "/workspace/evil MARK-evil"):
            result = await confined(s, line)
            assert result.exit_code == 126 and b"Permission denied" in result.stderr
            assert result.confinement is not None
            assert result.confinement.writable == (line.split()[0],)
        # a private TMPDIR cannot be a way out: no hard link in, a symlink out is the target
        out = await confined(s, 'ln victim.txt "$TMPDIR/v"; ln -s /workspace/victim.txt '
                                '"$TMPDIR/s" && echo w > "$TMPDIR/s"')  # fmt: skip
        assert b"Invalid cross-device link" in out.stderr and b"Permission denied" in out.stderr
        assert await digest(s, ".git/config", "victim.txt") == before
        # Known limit: the dynamic loader must be executable for any program to start,
        # and run as a program it maps its argument without an exec check. The repo's
        # binary then runs, but still inside the domain: its write is refused.
        loaded = await confined(s, f"{LOADER} /workspace/evil /workspace/MARK-loader")
        assert b"cannot touch '/workspace/MARK-loader': Permission denied" in loaded.stderr
        # TCP: connect is refused by the kernel, not by an absent listener
        tcp = "echo > /dev/tcp/127.0.0.1/9"
        assert b"Permission denied" in (await confined(s, tcp)).stderr
        assert b"Connection refused" in (await unconfined(s, tcp)).stderr
        # UDP, which Landlock does not cover: the syscall filter refuses the socket, also
        # to a repo script that the loader runs with the private bash copy
        udp = "echo x > /dev/udp/127.0.0.1/9"
        udp_refused = await confined(s, udp)
        assert b"Permission denied" in udp_refused.stderr, udp_refused.stderr
        assert udp_refused.confinement is not None and udp_refused.confinement.syscall_filter
        assert (await unconfined(s, udp)).exit_code == 0
        await setup(s, "echo 'echo x > /dev/udp/127.0.0.1/9' > u.sh")
        private = f"{LOADER} /usr/lib/airlock/bash /workspace/u.sh"
        assert b"Permission denied" in (await confined(s, private)).stderr
        assert await files(s) == []
        # controls: unconfined, the same lines write and run
        await unconfined(s, reopen[3])
        assert (await unconfined(s, "cat victim.txt")).stdout == b"y\ny\n"
        await unconfined(s, "./evil MARK-evil")
        assert await files(s) == ["MARK-evil"]

    in_session(body)


# --- what code inside the domain finds closed beyond writes -------------------------------


def test_code_inside_the_domain_changes_no_metadata_or_agent_and_leaves_nothing() -> None:
    async def body(s: DockerSession) -> None:
        await setup(s, "echo original > victim.txt && chmod 644 victim.txt")
        stat = "stat -c '%a %Y' victim.txt"
        before = (await unconfined(s, stat)).stdout
        # the loader runs any program inside the domain; metadata is no write to Landlock
        chmod = f"{LOADER} /usr/bin/chmod 600 victim.txt"
        touch = f"{LOADER} /usr/bin/touch -c -d @1 victim.txt"
        # an inode flag (chattr's FS_IOC_SETFLAGS, nodump) through a read-only descriptor
        chattr = (
            'import array, fcntl, os; flags = array.array("l", [0])\n'
            'fd = os.open("victim.txt", os.O_RDONLY); fcntl.ioctl(fd, 0x80086601, flags)\n'
            'fcntl.ioctl(fd, 0x40086602, array.array("l", [flags[0] | 0x40])); print("set")'
        )
        chattr_line = f"{LOADER} /usr/bin/python3 -c '{chattr}'"
        for line in (chmod, touch, chattr_line):
            assert b"Permission denied" in (await confined(s, line)).stderr, line
        assert (await unconfined(s, stat)).stdout == before
        # the exec agent's limits and priority, which every later command inherits
        inherited = "ulimit -n; nice"
        agent_before = (await unconfined(s, inherited)).stdout
        prlimit = f"{LOADER} /usr/bin/prlimit --pid $PPID --nofile=8:8"
        renice = f"{LOADER} /usr/bin/renice -n 19 -p $PPID"
        for line in (prlimit, renice):
            assert b"Permission denied" in (await confined(s, line)).stderr, line
        assert (await unconfined(s, inherited)).stdout == agent_before
        assert (await confined(s, inherited, "nice")).stdout == agent_before
        # a background process with its output closed, and one that leaves the session
        sleepers = "pgrep -f 'sleep [67]00' || echo none"
        linger = (
            f"{LOADER} /usr/bin/sleep 600 >/dev/null 2>&1 & "
            f"{LOADER} /usr/bin/setsid -f {LOADER} /usr/bin/sleep 700 >/dev/null 2>&1; echo started"
        )
        assert (await confined(s, linger)).stdout == b"started\n"
        assert (await unconfined(s, sleepers)).stdout == b"none\n"
        # a TMPDIR folder its owner cannot list still goes with the exec
        locked = 'mkdir -m 300 "$TMPDIR/locked" && echo x > "$TMPDIR/locked/f" && echo made'
        made = await confined(s, locked)
        assert made.stdout == b"made\n" and made.confinement is not None
        assert made.confinement.tmpdir_left is None
        # and so does a tree deeper than Python's recursion limit (it stopped the exit frame)
        deep = (
            'import os; os.chdir(os.environ["TMPDIR"])\n'
            'for _ in range(3000): os.mkdir("d"); os.chdir("d")'
        )
        deep_line = f"{LOADER} /usr/bin/python3 -c '{deep}' && echo deep"
        deep_run = await asyncio.wait_for(confined(s, deep_line), 300)
        assert deep_run.stdout == b"deep\n" and deep_run.confinement is not None
        assert deep_run.confinement.tmpdir_left is None
        leftovers = await unconfined(s, "ls -d /tmp/airlock-ro-* 2>/dev/null | wc -l")
        assert leftovers.stdout == b"0\n"
        # a child of the agent (CLONE_PARENT), a zombie it never reaps: a pid spent each
        clone_parent = (
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "for _ in range(20):\n    libc.syscall(56, 0x8011, 0, 0, 0, 0) or os._exit(0)\n"
        )
        adopt = f"{LOADER} /usr/bin/python3 -c '{clone_parent}'"
        zombies = "ps -o stat= --ppid $PPID | grep -c Z"
        await confined(s, adopt)
        assert (await unconfined(s, zombies)).stdout == b"0\n"
        # controls: unconfined, the same lines make zombies of the agent, change the file
        # and the agent (last), and the background processes outlive their exec
        await unconfined(s, adopt)
        assert (await unconfined(s, zombies)).stdout == b"20\n"
        await unconfined(s, f"{chmod}; {touch}")
        assert (await unconfined(s, stat)).stdout == b"600 1\n"
        assert (await unconfined(s, chattr_line)).stdout == b"set\n"
        await unconfined(s, linger)
        survivors = (await unconfined(s, sleepers)).stdout.split()
        assert len(survivors) == 2, survivors
        await unconfined(s, f"kill -9 {' '.join(p.decode() for p in survivors)}")
        # the agent is root's: out of reach unconfined too; a process of the session's
        # user is the control, which the same lines change when nothing stops them
        await unconfined(s, f"{renice}; {prlimit}")
        assert (await unconfined(s, inherited)).stdout == agent_before
        peer = "sleep 800 >/dev/null 2>&1 & echo $!"
        pid = (await unconfined(s, peer)).stdout.strip().decode()
        on_peer = f"{renice.replace('$PPID', pid)}; {prlimit.replace('$PPID', pid)}"
        limits = f"ps -o ni= -p {pid}; grep 'Max open files' /proc/{pid}/limits"
        peer_before = (await unconfined(s, limits)).stdout
        await confined(s, on_peer)
        assert (await unconfined(s, limits)).stdout == peer_before
        await unconfined(s, on_peer)
        changed = (await unconfined(s, limits)).stdout.split()
        assert changed[0] == b"19" and changed[4:6] == [b"8", b"8"], changed

    in_session(body)


# --- signals ----------------------------------------------------------------------------


async def _pid_of_running(stream: Any) -> int:
    """The pid a running exec printed first (``echo $$``)."""
    async for event in stream:
        assert not isinstance(event, ExecExit), event
        return int(event.data.split()[0])
    raise AssertionError("no output")


def test_confined_commands_cannot_signal_the_agent_or_other_execs() -> None:
    async def body(s: DockerSession) -> None:
        sleeper_line = "echo $$; exec sleep 300"
        for sleeper_confinement in (confinement_of(sleeper_line), None):
            sleeper = s.stream(sleeper_line, confinement=sleeper_confinement)
            pid = await _pid_of_running(sleeper)
            result = await confined(s, f"kill -9 {pid}; kill -9 $PPID; kill -9 1")
            assert result.stderr.count(b"Operation not permitted") == 3, result.stderr
            alive = await unconfined(s, f"kill -0 {pid} && echo alive")
            assert alive.stdout == b"alive\n"  # and the agent answered: it lives too
            # control: unconfined, the kill lands
            await unconfined(s, f"kill -9 {pid}")
            ends = [event async for event in sleeper if isinstance(event, ExecExit)]
            assert len(ends) == 1 and ends[0].signal == 9, ends

    in_session(body)


# --- the Bash tool -----------------------------------------------------------------------


def test_bash_tool_confines_proven_read_only_lines_only_and_notes_refusals() -> None:
    async def body(s: DockerSession) -> None:
        ctx = ToolContext(session=s, reads=ReadLedger())
        tool = Bash()
        shown = await tool.run(BashInput(command='echo "tmp=$TMPDIR"'), ctx)
        assert re.fullmatch(r"tmp=/tmp/airlock-ro-\w+", shown.content), shown.content
        assert shown.confinement is not None and shown.confinement.confined
        assert shown.confinement.syscall_filter
        plain = await tool.run(BashInput(command='touch /tmp/x && echo "tmp=$TMPDIR"'), ctx)
        assert plain.content == "tmp=", plain.content  # not read-only: not confined
        assert plain.confinement is None
        await setup(s, HOSTILE)  # the guard neutralizes the repo's drivers; confined too
        hit = await tool.run(BashInput(command="git log -p"), ctx)
        assert "+gamma" in hit.content and not hit.is_error, hit.content
        assert await files(s) == []

    in_session(body)


# --- gVisor: no Landlock, and it says so -----------------------------------------------


def test_under_gvisor_it_runs_unconfined_and_says_why_or_refuses_when_required() -> None:
    async def body(s: DockerSession) -> None:
        result = await s.exec("echo ran", confinement=confinement_of("echo ran"))
        assert result.stdout == b"ran\n" and not result.confined
        assert result.confinement is not None and result.confinement.reason is not None
        assert "does not implement Landlock" in result.confinement.reason
        required = Confinement(programs=("touch",), required=True)
        refused = await s.exec("touch /workspace/MARK", confinement=required)
        assert refused.exit_code == 126 and refused.error and "required" in refused.error
        assert await files(s) == []

    in_session(body, runtime="runsc")


def test_without_an_exec_agent_it_runs_unconfined_and_says_why() -> None:
    async def body(s: DockerSession) -> None:
        assert not s.uses_agent  # busybox, no python3: `docker exec`
        result = await s.exec("echo ran", confinement=confinement_of("echo ran"))
        assert result.stdout == b"ran\n" and not result.confined
        assert result.confinement is not None and "docker exec" in (result.confinement.reason or "")
        required = Confinement(programs=("touch",), required=True)
        refused = await s.exec("touch /workspace/MARK", confinement=required)
        assert refused.error and refused.error.startswith("not run") and not refused.confined
        assert await files(s) == []

    in_session(body, image="airlock/minimal", shell="sh")


# --- airlock exec ------------------------------------------------------------------------

AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


def airlock_exec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRLOCK, "exec", "--image", IMAGE, *args], capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip


def test_airlock_exec_confines_what_the_read_only_proof_allows_under_any_policy() -> None:
    proven = airlock_exec("--policy", "dev", "--", 'echo "tmp=$TMPDIR"')
    assert re.fullmatch(r"tmp=/tmp/airlock-ro-\w+\n", proven.stdout), proven
    # allowed by dev's rules, not by the read-only proof: runs unconfined
    other = airlock_exec("--policy", "dev", "--", 'touch /tmp/x && echo "tmp=$TMPDIR"')
    assert other.returncode == 0 and other.stdout == "tmp=\n", other
    gvisor = airlock_exec("--runtime", "runsc", "--", "echo in-gvisor")
    assert gvisor.returncode == 0 and gvisor.stdout == "in-gvisor\n"
    assert "proven read-only, but not confined: Landlock is unavailable" in gvisor.stderr
