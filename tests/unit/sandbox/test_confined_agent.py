"""Confined execs through the real agent, run locally (this machine's kernel has Landlock).

The agent runs as an unprivileged user, as in a session: for root every file on a
writable filesystem is one the session could change, so nothing would be granted EXECUTE.
"""

from __future__ import annotations

import errno
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import exec_cleanup, landlock
from tests.unit.sandbox.test_exec_agent import Client

pytestmark = pytest.mark.timeout(30)
NOBODY = 65534


def _landlock_or_skip() -> int:
    try:
        return landlock.abi_version()
    except landlock.Unavailable as exc:
        pytest.skip(f"this machine has no Landlock: {exc}")


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder the agent's user may write to (outside its confinement)."""
    with tempfile.TemporaryDirectory(prefix="airlock-confine-test-") as name:
        folder = Path(name)
        folder.chmod(0o777)
        yield folder


@pytest.fixture
def agent() -> Iterator[Client]:
    _landlock_or_skip()
    user: dict[str, Any] = {}
    if os.getuid() == 0:  # as nobody, with a python3 that nobody may run
        python = shutil.which("python3", path="/usr/bin:/bin")
        if python is None:
            pytest.skip("no system python3 to run the agent as an unprivileged user")
        user = {"user": NOBODY, "group": NOBODY, "extra_groups": [], "executable": python}
    client = Client(cwd="/", **user)
    yield client
    client.close()


def confine(*programs: str, required: bool = False) -> dict[str, Any]:
    return {"confine": {"programs": list(programs), "required": required}}


def test_confined_exec_writes_only_its_tmpdir_and_reports_it(agent: Client, place: Path) -> None:
    line = f'echo no > {place}/f; echo yes > "$TMPDIR/f" && cat "$TMPDIR/f"; echo "$TMPDIR"'
    result = agent.run(["sh", "-c", line], **confine("echo", "cat"))
    assert not (place / "f").exists()
    assert b"Permission denied" in result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "yes" and lines[1].startswith("/tmp/airlock-ro-")
    report = result.exit["confinement"]
    assert report["confined"] and report["mechanism"] == "landlock"
    assert report["abi"] == landlock.abi_version() and report["tmpdir"] == lines[1]
    assert not Path(lines[1]).exists()  # removed when the exec ended
    # the same line unconfined writes: the denial above is the confinement's
    agent.run(["sh", "-c", line], xid=2)
    assert (place / "f").read_text() == "no\n"


def test_only_listed_programs_and_their_interpreters_run(agent: Client, place: Path) -> None:
    result = agent.run(["sh", "-c", "cat /dev/null && echo cat-ran; ls / >/dev/null"],
                       **confine("cat"))  # fmt: skip
    assert result.stdout == b"cat-ran\n" and result.exit["exit_code"] == 126
    assert b"Permission denied" in result.stderr
    granted = result.exit["confinement"]["programs"]
    assert any(path.endswith("/cat") for path in granted)
    assert any("ld-linux" in path or "/ld-" in path for path in granted), granted


def test_a_program_the_session_could_change_is_refused_even_if_listed(
    agent: Client, place: Path
) -> None:
    script = place / "tool"
    script.write_text("#!/bin/sh\necho ran\n")
    script.chmod(0o777)  # writable by the agent's user: it could have put anything there
    result = agent.run(["sh", "-c", str(script)], **confine(str(script)))
    assert result.stdout == b"" and result.exit["exit_code"] == 126
    assert result.exit["confinement"]["writable"] == [str(script)]


def test_invalid_confine_field_is_an_error_and_nothing_runs(agent: Client, place: Path) -> None:
    for bad in ({"programs": "cat"}, {"programs": [1]}, {"required": "yes"}, ["cat"]):
        agent.send({"type": "exec", "id": 7, "argv": ["sh", "-c", f"touch {place}/x"],
                    "confine": bad})  # fmt: skip
        header = agent.next_for(7)[0]
        assert header["type"] == "error" and "confine" in header["message"], bad
        ended = agent.next_for(7)[0]  # refused before it started: it still ends
        assert ended["type"] == "exit" and ended["exit_code"] == 126, bad
    assert not (place / "x").exists()


def test_a_program_name_that_cannot_be_looked_up_refuses_the_exec(
    agent: Client, place: Path
) -> None:
    result = agent.run(["sh", "-c", f"touch {place}/ran"], **confine("touch", "x\0y"))
    assert result.exit["exit_code"] == 126 and not result.exit["confinement"]["confined"]
    assert "null byte" in result.exit["confinement"]["reason"]
    assert not (place / "ran").exists()


def test_required_confinement_runs_where_landlock_exists(agent: Client) -> None:
    result = agent.run(["sh", "-c", "echo ok"], **confine("echo", required=True))
    assert result.stdout == b"ok\n" and result.exit["confinement"]["confined"]


def test_without_confine_nothing_changes(agent: Client, place: Path) -> None:
    result = agent.run(["sh", "-c", f"echo w > {place}/g && echo done"])
    assert result.stdout == b"done\n" and "confinement" not in result.exit


def test_a_confined_exec_still_times_out_and_its_tmpdir_goes(agent: Client) -> None:
    result = agent.run(["sh", "-c", 'echo "$TMPDIR"; exec sleep 30'], timeout=0.3,
                       **confine("echo", "sleep"))  # fmt: skip
    assert result.exit["timed_out"] and result.exit["signal"] is not None
    tmpdir = result.stdout.decode().strip()
    assert tmpdir.startswith("/tmp/airlock-ro-") and not Path(tmpdir).exists()


def test_a_confined_exec_that_cannot_start_says_it_did_not_run_confined(agent: Client) -> None:
    result = agent.run(["no-such-program-for-airlock"], env={"PATH": "/usr/bin:/bin"}, **confine())
    assert result.exit["exit_code"] == 127
    report = result.exit["confinement"]
    assert not report["confined"] and "No such file" in report["reason"]
    assert not Path(report["tmpdir"]).exists()


PROBE = r"""
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
def attempt(name, make):
    try:
        make()
        print(name, "ok")
    except OSError as exc:
        print(name, exc.errno)
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close())
attempt("udp6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close())
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close())
attempt("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
attempt("pair", lambda: [s.close() for s in socket.socketpair()])
def created(value):
    if value < 0:
        raise OSError(ctypes.get_errno(), "refused")
    return value
IPC_PRIVATE, IPC_RMID = 0, 0
def shm():
    libc.shmctl(created(libc.shmget(IPC_PRIVATE, 4096, 0o600)), IPC_RMID, None)
attempt("shmget", shm)
attempt("msgget", lambda: libc.msgctl(created(libc.msgget(IPC_PRIVATE, 0o600)), IPC_RMID, None))
"""


def test_code_inside_the_domain_opens_no_network_socket_and_no_ipc_object(agent: Client) -> None:
    argv = ["python3", "-c", PROBE]
    result = agent.run(argv, **confine("python3"))
    report = result.exit["confinement"]
    assert report["confined"] and report["syscall_filter"], report
    outcome = dict(line.split() for line in result.stdout.decode().splitlines())
    denied = str(errno.EACCES)
    assert outcome == {
        "udp": denied, "udp6": denied, "netlink": denied, "shmget": denied, "msgget": denied,
        "unix": "ok", "pair": "ok",
    }, result.stderr  # fmt: skip
    # control: the same program unconfined gets every one of them
    free = agent.run(argv, xid=2)
    assert set(free.stdout.decode().split()[1::2]) == {"ok"}, free.stdout


# --- what code inside the domain finds closed beyond writes -----------------------------

METADATA_PROBE = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
AT_FDCWD = -100
path = sys.argv[1]
name = path.encode()
def attempt(what, make):
    try:
        make()
        print(what, "ok")
    except OSError as exc:
        print(what, exc.errno)
def raw(*args):
    def call():
        done = libc.syscall(*[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
        if done < 0:
            raise OSError(ctypes.get_errno(), "refused")
    return call
value = ctypes.create_string_buffer(b"1")
xattr_args = ctypes.create_string_buffer(struct.pack("=QII", ctypes.addressof(value), 1, 0), 16)
nodump = ctypes.create_string_buffer(struct.pack("=QIIII", 0x80, 0, 0, 0, 0), 24)
attempt("chmod", lambda: os.chmod(path, 0o600))
attempt("fchmod", lambda: os.fchmod(os.open(path, os.O_RDONLY), 0o640))
attempt("fchmodat2", raw(452, AT_FDCWD, name, 0o604, 0))
attempt("chown", lambda: os.chown(path, -1, os.getgid()))
attempt("utime", lambda: os.utime(path, (1, 1)))
attempt("setxattr", lambda: os.setxattr(path, "user.planted", b"1"))
attempt("setxattrat", raw(463, AT_FDCWD, name, 0, b"user.other", xattr_args, 16))
attempt("removexattrat", raw(466, AT_FDCWD, name, 0, b"user.kept"))
attempt("file_setattr", raw(469, AT_FDCWD, name, nodump, 24, 0))
def chattr():  # FS_IOC_GETFLAGS, then FS_IOC_SETFLAGS with FS_NODUMP_FL, on a read-only fd
    import array, fcntl
    fd, flags = os.open(path, os.O_RDONLY), array.array("l", [0])
    fcntl.ioctl(fd, 0x80086601, flags)
    fcntl.ioctl(fd, 0x40086602, array.array("l", [flags[0] | 0x40]))
attempt("chattr", chattr)
"""
METADATA_CALLS = ("chmod", "fchmod", "fchmodat2", "chown", "utime", "setxattr", "setxattrat",
                  "removexattrat", "file_setattr", "chattr")  # fmt: skip


def _metadata(path: Path) -> tuple[Any, ...]:
    st = path.stat()
    return st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, sorted(os.listxattr(path))


def test_code_inside_the_domain_changes_no_metadata_of_a_file_it_owns(
    agent: Client, place: Path
) -> None:
    victim = place / "victim"
    victim.write_text("x")
    os.setxattr(victim, "user.kept", b"1")
    if os.getuid() == 0:
        os.chown(victim, NOBODY, NOBODY)  # the agent's user owns it, as in a session
    before = _metadata(victim)
    argv = ["python3", "-c", METADATA_PROBE, str(victim)]
    result = agent.run(argv, **confine("python3"))
    outcome = dict(line.split() for line in result.stdout.decode().splitlines())
    assert outcome == dict.fromkeys(METADATA_CALLS, str(errno.EACCES)), result.stderr
    assert _metadata(victim) == before
    # control: the same calls unconfined change the file
    free = agent.run(argv, xid=2)
    assert set(free.stdout.decode().split()[1::2]) == {"ok"}, free.stdout
    assert _metadata(victim) != before


SCHEDULING_PROBE = r"""
import os, resource, sys
def attempt(what, make):
    try:
        make()
        print(what, "ok")
    except OSError as exc:
        print(what, exc.errno)
for who in sys.argv[1:]:
    pid = int(who)
    attempt("prlimit", lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (16, 16)))
    attempt("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, pid, 15))
    attempt("affinity", lambda: os.sched_setaffinity(pid, {min(os.sched_getaffinity(0))}))
    attempt("scheduler", lambda: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0)))
attempt("user-priority", lambda: os.setpriority(os.PRIO_USER, os.getuid(), 15))
attempt("own-limit", lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
attempt("own-nice", lambda: os.nice(1))
"""


def _scheduling(pid: int) -> tuple[Any, ...]:
    return (
        os.getpriority(os.PRIO_PROCESS, pid),
        os.sched_getaffinity(pid),
        os.sched_getscheduler(pid),
        Path(f"/proc/{pid}/limits").read_text(),
    )


def test_code_inside_the_domain_changes_no_limit_or_priority_of_the_agent_or_others(
    agent: Client,
) -> None:
    other = agent.proc.pid  # the agent itself: what a later command inherits from
    before = _scheduling(other)
    result = agent.run(["python3", "-c", SCHEDULING_PROBE, str(other)], **confine("python3"))
    outcome = dict(line.split() for line in result.stdout.decode().splitlines())
    denied = str(errno.EACCES)
    assert outcome == {
        "prlimit": denied, "setpriority": denied, "affinity": denied, "scheduler": denied,
        "user-priority": denied, "own-limit": "ok", "own-nice": "ok",
    }, result.stderr  # fmt: skip
    assert _scheduling(other) == before
    later = agent.run(["sh", "-c", "ulimit -n; nice"], xid=2, **confine("nice"))
    niceness = str(before[0]).encode()  # the agent's own: 0, or more when run under `nice`
    assert later.exit["exit_code"] == 0 and later.stdout.split()[1] == niceness, later.stdout
    # control: unconfined, the same calls change another process of the same user
    sleeper = agent.run(["sh", "-c", "sleep 3600 >/dev/null 2>&1 & echo $!"], xid=3)
    target = int(sleeper.stdout)
    try:
        untouched = _scheduling(target)
        free = agent.run(["python3", "-c", SCHEDULING_PROBE, str(target)], xid=4)
        assert set(free.stdout.decode().split()[1:8:2]) == {"ok"}, free.stdout
        assert _scheduling(target) != untouched
    finally:
        os.kill(target, 9)


LINGER_PROBE = r"""
import os, sys, time
if os.fork() == 0:
    try:
        os.setsid()  # out of the exec's session and process group
        print("setsid ok", flush=True)
    except OSError as exc:
        print("setsid", exc.errno, flush=True)
    if os.fork() == 0:
        print("pid", os.getpid(), flush=True)
        os.closerange(0, 3)  # nothing left for the agent to wait on
        time.sleep(3600)
    os._exit(0)
os.wait()
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_no_process_of_a_confined_exec_outlives_it(agent: Client) -> None:
    result = agent.run(["python3", "-c", LINGER_PROBE], **confine("python3"))
    lines = dict(line.split(None, 1) for line in result.stdout.decode().splitlines())
    assert lines["setsid"] == str(errno.EACCES), result.stdout
    assert _gone(int(lines["pid"]))
    assert "processes_left" not in result.exit["confinement"]
    # control: unconfined, it leaves the session and keeps running after the exec
    free = agent.run(["python3", "-c", LINGER_PROBE], xid=2)
    survivor = int(dict(line.split(None, 1) for line in free.stdout.decode().splitlines())["pid"])
    try:
        assert b"setsid ok" in free.stdout and _alive(survivor)
    finally:
        os.kill(survivor, 9)


STATE_PROBE = r"""
import ctypes, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def attempt(what, done):
    print(what, "ok" if done >= 0 else ctypes.get_errno())
IPC_RMID, KEY_SPEC_USER_KEYRING, KEYCTL_INVALIDATE = 0, -4, 21
attempt("shmctl-rmid", libc.shmctl(int(sys.argv[1]), IPC_RMID, None))
key = libc.syscall(248, b"user", b"airlock-planted", b"v", 1, KEY_SPEC_USER_KEYRING)
attempt("add_key", key)
if key >= 0:
    libc.syscall(250, KEYCTL_INVALIDATE, key)  # the control leaves no key behind
try:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind("\0airlock-confined-listener")
    listener.listen()
    print("listen ok")
except OSError as exc:
    print("listen", exc.errno)
"""


def test_code_inside_the_domain_leaves_no_ipc_key_or_listener_behind(agent: Client) -> None:
    if platform.machine() != "x86_64":
        pytest.skip("the probe uses x86_64 syscall numbers")
    make = "import ctypes; print(ctypes.CDLL(None).shmget(0, 4096, 0o600))"
    made = agent.run(["python3", "-c", make])
    segment = made.stdout.decode().strip()
    assert int(segment) >= 0
    argv = ["python3", "-c", STATE_PROBE, segment]
    result = agent.run(argv, xid=2, **confine("python3"))
    outcome = dict(line.split() for line in result.stdout.decode().splitlines())
    denied = str(errno.EACCES)
    assert outcome == {"shmctl-rmid": denied, "add_key": denied, "listen": denied}, outcome
    # control: unconfined, the segment is removed, the key planted, the socket listens
    free = agent.run(argv, xid=3)
    assert set(free.stdout.decode().split()[1::2]) == {"ok"}, free.stdout


TMPDIR_PROBE = r"""
import os, sys
top = os.environ["TMPDIR"]
print(top, flush=True)
os.mkdir(f"{top}/locked", 0o300)  # its owner may add to it but not list it
with open(f"{top}/locked/data", "w") as handle:
    handle.write("x")
os.symlink(sys.argv[1], f"{top}/out")  # a link to a folder outside
os.symlink(sys.argv[1], f"{top}/locked/out")
os.chdir(top)
for _ in range(3000):  # deeper than any recursion limit
    os.mkdir("d")
    os.chdir("d")
"""


def test_a_tmpdir_made_unlistable_deep_or_with_links_out_is_still_removed(
    agent: Client, place: Path
) -> None:
    kept = place / "kept"
    kept.write_text("kept")
    before = (place.stat().st_mode, kept.stat().st_mode)
    result = agent.run(["python3", "-c", TMPDIR_PROBE, str(place)], **confine("python3"))
    assert result.exit["exit_code"] == 0, result.stderr
    report = result.exit["confinement"]
    tmpdir = result.stdout.decode().split()[0]
    assert report["tmpdir"] == tmpdir and "tmpdir_left" not in report, report
    assert "cleanup_error" not in report and not Path(tmpdir).exists()
    assert kept.read_text() == "kept" and (place.stat().st_mode, kept.stat().st_mode) == before


def test_a_program_inside_a_tree_the_session_can_write_is_never_granted(
    agent: Client, place: Path
) -> None:
    hooks = place / "hooks"  # like the copy-in's root-owned .git/hooks in /workspace
    hooks.mkdir()
    tool = hooks / "tool"
    tool.write_text("#!/bin/sh\necho repo-program-ran\n")
    tool.chmod(0o555)
    hooks.chmod(0o555)  # neither it nor its folder is writable by the agent's user
    result = agent.run(["sh", "-c", str(tool)], **confine(str(tool)))
    assert result.stdout == b"" and result.exit["exit_code"] == 126
    assert result.exit["confinement"]["writable"] == [str(tool)]
    hooks.chmod(0o755)


CHILD_OF_THE_AGENT_PROBE = r"""
import ctypes, os, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_PARENT, SIGCHLD = 0x8000, 17
clone = {"x86_64": 56, "aarch64": 220}[platform.machine()]
made = 0
for _ in range(50):
    pid = libc.syscall(clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)  # a zombie of the agent, which never waits for it
    if pid < 0:
        print("clone", ctypes.get_errno())
        break
    made += 1
print("made", made)
"""


TRACEME_PROBE = r"""
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
traced = libc.ptrace(0, 0, 0, 0)  # PTRACE_TRACEME: the parent, the agent, traces it
print("traceme", "ok" if traced == 0 else ctypes.get_errno(), flush=True)
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
os.kill(os.getpid(), signal.SIGUSR1)  # a tracee stops on it, ignored or not
print("ran on", flush=True)
"""


def _zombies_of(parent: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        count += fields[0] == "Z" and fields[1] == str(parent)
    return count


def test_code_inside_the_domain_makes_no_child_of_the_agent(agent: Client) -> None:
    argv = ["python3", "-c", CHILD_OF_THE_AGENT_PROBE]
    result = agent.run(argv, **confine("python3"))
    assert result.stdout == f"clone {errno.EACCES}\nmade 0\n".encode(), result.stderr
    assert _zombies_of(agent.proc.pid) == 0
    traced = agent.run(["python3", "-c", TRACEME_PROBE], xid=2, **confine("python3"))
    assert traced.stdout == f"traceme {errno.EACCES}\nran on\n".encode(), traced.stderr
    assert traced.exit["exit_code"] == 0 and _zombies_of(agent.proc.pid) == 0
    # controls: unconfined, each exited child stays a zombie of the agent (a pid spent),
    # and a process the agent traces unknowingly reads as killed and is never reaped
    free = agent.run(argv, xid=3)
    assert free.stdout == b"made 50\n" and _zombies_of(agent.proc.pid) == 50
    free_traced = agent.run(["python3", "-c", TRACEME_PROBE], xid=4)
    assert free_traced.stdout == b"traceme ok\n" and free_traced.exit["signal"] is not None
    assert _zombies_of(agent.proc.pid) == 51


FORKING_PROBE = r"""
import os, time
if os.fork() == 0:
    os.closerange(0, 3)
    for _ in range(200):  # keeps starting processes while the agent ends them
        if os.fork() == 0:
            time.sleep(3600)
            os._exit(0)
    time.sleep(3600)
print("main exits", flush=True)
"""


def test_every_process_of_a_confined_exec_ends_even_while_they_fork(agent: Client) -> None:
    result = agent.run(["python3", "-c", FORKING_PROBE], **confine("python3"))
    session = result.header("started")["pid"]
    assert result.stdout == b"main exits\n" and "processes_left" not in result.exit["confinement"]
    deadline = time.monotonic() + 60
    while exec_cleanup.session_members(session) and time.monotonic() < deadline:
        time.sleep(0.05)  # the killed ones may still be exiting
    assert exec_cleanup.session_members(session) == []


def test_no_command_can_open_the_agents_descriptors(agent: Client) -> None:
    """The agent's fds hold the channel to the host: a command of the same user, even
    unconfined (the `dev` policy), must not open them through /proc to forge frames."""
    line = (
        "for n in 0 1 2 3 4 5 6 7 8 9; do"
        ' (: > "/proc/$PPID/fd/$n") 2>/dev/null && echo "opened $n"; done;'
        ' ls "/proc/$PPID/fd" >/dev/null 2>&1 && echo listed; echo done'
    )
    result = agent.run(["sh", "-c", line])
    assert result.stdout == b"done\n", result.stdout
