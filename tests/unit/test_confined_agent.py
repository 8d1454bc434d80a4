"""Confined execs through the real agent, run locally (this machine's kernel has Landlock).

The agent runs as an unprivileged user, as in a session: for root every file on a
writable filesystem is one the session could change, so nothing would be granted EXECUTE.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import landlock
from tests.unit.test_exec_agent import Client

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
    assert not (place / "x").exists()


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
