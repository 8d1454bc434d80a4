"""The agent's own fork and exec: real processes, the status pipe read from a loop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time

import pytest

from sandbox import command_spawn, command_user

ME = command_user.parse(None)  # the test's own user: no change of user here


def spawn(argv: list[str], **options: object) -> tuple[command_spawn.SpawnedCommand, int]:
    settings: dict[str, object] = {"executable": None, "env": dict(os.environ), "cwd": None,
                                   "confine": None}  # fmt: skip
    settings.update(options)
    return command_spawn.spawn(argv, ME, False, **settings)  # type: ignore[arg-type]


def reap(command: command_spawn.SpawnedCommand, limit: float = 10.0) -> int:
    deadline = time.monotonic() + limit
    while command.poll() is None:
        assert time.monotonic() < deadline, "the child did not end"
        time.sleep(0.01)
    assert command.returncode is not None
    return command.returncode


def test_a_command_runs_and_its_exec_reads_as_the_end_of_the_status_pipe() -> None:
    command, status = spawn(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert asyncio.run(command_spawn.exec_status(status, 10)) is None
    assert command.stdout.read() == b"out\n" and command.stderr.read() == b"err\n"
    assert reap(command) == 3


def test_failures_say_their_step_and_code() -> None:
    missing, status = spawn(["/nonexistent/program"])
    failed = asyncio.run(command_spawn.exec_status(status, 10))
    assert failed is not None and (failed.code, failed.step) == (127, "exec")
    assert "No such file or directory" in failed.error
    assert reap(missing) == 127
    elsewhere, status = spawn(["true"], cwd="/nonexistent/dir")
    failed = asyncio.run(command_spawn.exec_status(status, 10))
    assert failed is not None and (failed.code, failed.step) == (127, "working directory")
    reap(elsewhere)

    def refuse() -> None:
        raise PermissionError(13, "confinement refused")

    confined, status = spawn(["true"], confine=refuse)
    failed = asyncio.run(command_spawn.exec_status(status, 10))
    assert failed is not None and (failed.code, failed.step) == (126, "confinement")
    reap(confined)


def test_a_child_stopped_before_exec_holds_up_nothing_but_itself() -> None:
    """What a process of the session's user can do to a child between its change of
    user and exec: stop it. The loop that waits for its exec goes on meanwhile."""
    command, status = spawn(["true"], confine=lambda: os.kill(os.getpid(), signal.SIGSTOP))

    async def scenario() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        with pytest.raises(asyncio.TimeoutError):
            await command_spawn.exec_status(status, 1.0)
        ticker.cancel()
        return ticks

    assert asyncio.run(scenario()) > 20  # the loop ran on while the child was stopped
    command.kill_alone(signal.SIGKILL)
    assert reap(command) == -signal.SIGKILL


def test_the_child_keeps_only_its_stdio_and_none_of_the_agents_signal_handling() -> None:
    inherited = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(inherited, True)
    loop_side, wakeup = socket.socketpair()
    wakeup.setblocking(False)
    previous_fd = signal.set_wakeup_fd(wakeup.fileno())
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # as asyncio installs one
    try:
        lister, status = spawn(["ls", "/proc/self/fd"])
        assert asyncio.run(command_spawn.exec_status(status, 10)) is None
        listed = lister.stdout.read().split()
        reap(lister)
        term = lambda: os.kill(os.getpid(), signal.SIGTERM)  # noqa: E731
        termed, status = spawn(["true"], confine=term)
        asyncio.run(command_spawn.exec_status(status, 10))
        assert reap(termed) == -signal.SIGTERM  # the default action: it ended, alone
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, previous)
        os.close(inherited)
    assert listed == [b"0", b"1", b"2", b"3"], listed  # stdio and ls's own listing
    loop_side.setblocking(False)
    with pytest.raises(BlockingIOError):
        assert loop_side.recv(16) == b"", "the child's signal reached the parent's loop"
    loop_side.close()
    wakeup.close()
