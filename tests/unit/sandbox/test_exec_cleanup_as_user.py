"""The agent empties a confined exec's TMPDIR as the session's user, in a forked child:
real forks and user changes (root only), nothing mocked but the work the child does."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import exec_cleanup

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing user needs root")
NOBODY = 65534


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A folder the user may pass through (pytest's own is root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="airlock-cleanup-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _scratch(tmp_path: Path) -> Path:
    """A root-owned sticky TMPDIR (as the agent makes it) holding the user's tree."""
    scratch = tmp_path / "airlock-ro-x"
    scratch.mkdir()
    scratch.chmod(0o1777)
    locked = scratch / "locked"
    locked.mkdir()
    (locked / "f").write_text("x")
    for path in (locked / "f", locked):
        os.chown(path, NOBODY, NOBODY)
    locked.chmod(0o300)  # the owner cannot list it until it is made its own again
    return scratch


def test_the_users_child_empties_the_tree_and_root_removes_the_folder(tmp_path: Path) -> None:
    scratch = _scratch(tmp_path)
    assert exec_cleanup.remove_tree(str(scratch), (NOBODY, NOBODY))
    assert not scratch.exists()


def test_the_child_holds_no_descriptor_of_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = _scratch(tmp_path)
    kept = os.open(os.devnull, os.O_RDONLY)  # stands for the channel's pipes (inheritable)
    os.set_inheritable(kept, True)

    def report(root_fd: int) -> None:  # in the child, as the user
        open_fds = sorted(int(fd.name) for fd in Path("/proc/self/fd").iterdir())
        note = os.open("fds", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=root_fd)
        os.write(note, f"{os.getuid()} {open_fds}".encode())

    monkeypatch.setattr(exec_cleanup, "_empty_tree", report)
    try:
        exec_cleanup._empty_as(str(scratch), NOBODY, NOBODY)
    finally:
        os.close(kept)
    uid, fds = (scratch / "fds").read_text().split(" ", 1)
    assert uid == str(NOBODY)
    assert str(kept) not in fds.strip("[]").split(", ")
    assert len(fds.strip("[]").split(", ")) <= 2  # the tree's own fd and the listing's


def test_a_stopped_child_is_killed_and_the_agent_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process of the session's user may SIGSTOP the child: the agent waits its limit,
    kills it, and what is left stays (and is reported by the caller)."""
    scratch = _scratch(tmp_path)
    monkeypatch.setattr(
        exec_cleanup, "_empty_tree", lambda fd: os.kill(os.getpid(), signal.SIGSTOP)
    )
    began = time.monotonic()
    exec_cleanup._empty_as(str(scratch), NOBODY, NOBODY, limit=0.5)
    took = time.monotonic() - began
    assert 0.5 <= took < 5.0, took
    assert (scratch / "locked").exists()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind, not even a zombie


def test_a_signal_to_the_child_ends_the_child_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child is a fork of the agent: it must not run the agent's signal handling.
    Through the wake-up fd it shares with the agent's loop, a SIGTERM to the child once
    stopped the whole session."""
    scratch = _scratch(tmp_path)
    loop_side, wakeup = socket.socketpair()
    wakeup.setblocking(False)
    previous_fd = signal.set_wakeup_fd(wakeup.fileno())
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # as asyncio installs one
    term = lambda fd: os.kill(os.getpid(), signal.SIGTERM)  # noqa: E731
    monkeypatch.setattr(exec_cleanup, "_empty_tree", term)
    try:
        exec_cleanup._empty_as(str(scratch), NOBODY, NOBODY, limit=5.0)
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, previous)
    loop_side.setblocking(False)
    with pytest.raises(BlockingIOError):
        assert loop_side.recv(16) == b"", "the agent's loop was woken by the child's signal"
    loop_side.close()
    wakeup.close()
    assert (scratch / "locked").exists()  # the child died before it emptied anything
