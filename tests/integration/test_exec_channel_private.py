"""The exec channel to the host is out of every command's reach, under runc and runsc.

The container's stdin and stdout carry every exec's frames. They are held by root
processes only (tini, the TTL wrapper, the agent), and the engine's pipes are root's with
mode 0600; commands run as uid 1000 with no capabilities. So a command can neither write
a frame (forge another exec's output or exit: what `--verify` trusts) nor stop or trace
the agent. Commands still reopen their own output by name (``/dev/stdout``).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.spec import SessionSpec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Runs in the session: every way in to a root process's fds, and a forged exit for every
# exec id near the victim's, through whatever opened. Prints what it managed as JSON.
FORGER = r"""
import json, os, signal, struct, sys, time
def frame(header, payload=b""):
    head = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    return struct.pack(">I", len(head) + len(payload)) + head + payload
roots, opened, refused, signalled = [], [], [], []
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        continue
    if "\nUid:\t0\t" not in status:
        continue
    roots.append(pid)
    for fd in (0, 1, 2):
        path = f"/proc/{pid}/fd/{fd}"
        for flags in (os.O_WRONLY, os.O_RDONLY):
            try:
                opened.append((path, os.open(path, flags | os.O_NONBLOCK)))
            except OSError as exc:
                refused.append((path, exc.errno))
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        try:
            os.kill(pid, sig)
            signalled.append(pid)
        except OSError:
            pass
time.sleep(0.5)
for path, fd in opened:
    for xid in range(int(sys.argv[1]) + 30):
        try:
            os.write(fd, frame({"type": "output", "id": xid, "stream": "stdout"}, b"FORGED\n"))
            os.write(fd, frame({"type": "exit", "id": xid, "exit_code": 0, "signal": None,
                                "timed_out": False, "oom_killed": False, "duration": 0.1}))
        except OSError:
            break
print(json.dumps({"roots": roots, "opened": [p for p, _ in opened],
                  "refused": len(refused), "signalled": signalled}))
"""


def in_session(runtime: str, body: object) -> None:
    async def main() -> None:
        spec = SessionSpec(image="airlock/dev", runtime=runtime)
        async with DockerBackend().session(spec) as session:
            await body(session)  # type: ignore[operator]

    asyncio.run(main())


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_a_command_cannot_forge_another_execs_exit(runtime: str, runtimes: list[str]) -> None:
    if runtime not in runtimes:
        pytest.skip(f"{runtime} is not registered")

    async def body(session: DockerSession) -> None:
        victim = asyncio.create_task(
            session.exec(["sh", "-c", "sleep 3; echo genuine; exit 7"], timeout=60)
        )
        await asyncio.sleep(0.5)  # the victim's exec id is taken before the forger's
        forger = await session.exec(["python3", "-c", FORGER, "100"], timeout=60)
        assert forger.exit_code == 0, forger.stderr
        seen = json.loads(forger.stdout)
        assert len(seen["roots"]) >= 2, seen  # tini and the agent at least: the probe saw them
        assert seen["opened"] == [] and seen["refused"] == 6 * len(seen["roots"]), seen
        assert seen["signalled"] == [], seen
        result = await victim
        assert (result.exit_code, result.stdout) == (7, b"genuine\n"), result
        assert (await session.exec(["true"], timeout=30)).exit_code == 0  # the agent serves on

    in_session(runtime, body)


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_commands_run_as_the_session_user_and_keep_their_own_stdio(
    runtime: str, runtimes: list[str]
) -> None:
    if runtime not in runtimes:
        pytest.skip(f"{runtime} is not registered")

    async def body(session: DockerSession) -> None:
        script = (
            "id -u; id -g; id -G; echo $HOME; grep -E '^Cap(Prm|Eff):' /proc/self/status; "
            "echo out > /dev/stdout; echo err > /dev/stderr; printf piped | tee /dev/stderr"
        )
        result = await session.exec(script, timeout=30)
        assert result.exit_code == 0, result.stderr
        lines = result.stdout.decode().splitlines()
        assert lines[:4] == ["1000", "1000", "1000", "/home/agent"], lines
        assert [line.split()[1] for line in lines[4:6]] == ["0000000000000000"] * 2, lines
        assert lines[6:] == ["out", "piped"], lines
        assert result.stderr == b"err\npiped", result.stderr
        env = await session.exec(["env"], timeout=30)
        assert b"AIRLOCK_USER=" not in env.stdout and b"AIRLOCK_AGENT" not in env.stdout

    in_session(runtime, body)


def test_a_missing_working_directory_is_reported_as_before(runtimes: list[str]) -> None:
    async def body(session: DockerSession) -> None:
        result = await session.exec(["true"], cwd="/workspace/nowhere", timeout=30)
        assert result.exit_code == 127, result
        assert "No such file or directory" in (result.error or ""), result
        # a directory only its owner may enter: the command enters it as that owner
        made = await session.exec("mkdir -m 700 private && echo x > private/f", timeout=30)
        assert made.exit_code == 0, made.stderr
        inside = await session.exec(["cat", "f"], cwd="/workspace/private", timeout=30)
        assert (inside.exit_code, inside.stdout) == (0, b"x\n"), inside

    in_session("runc", body)


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_commands_start_through_setpriv_which_never_sees_their_environment(
    runtime: str, runtimes: list[str]
) -> None:
    """The agent posix_spawns root's setpriv with an empty environment (not a fork of
    itself): the dynamic loader's debug output, asked for by the command's environment,
    names the command alone, never setpriv or env, which ran before it as root and as
    the user. The command holds its stdio and nothing else of the agent's."""
    if runtime not in runtimes:
        pytest.skip(f"{runtime} is not registered")

    async def body(session: DockerSession) -> None:
        assert session.channel is not None and session.channel.spawns_through == "setpriv"
        traced = await session.exec(["cat", "/proc/self/status"], env={"LD_DEBUG": "libs"},
                                    timeout=30)  # fmt: skip
        assert traced.exit_code == 0, traced.stderr
        loaded = traced.stderr.decode()
        assert "calling init" in loaded, loaded  # the loader did trace the command
        assert "setpriv" not in loaded and "/usr/bin/env" not in loaded, loaded
        status = dict(line.split(":\t", 1) for line in traced.stdout.decode().splitlines())
        assert status["Uid"].split() == ["1000"] * 4 and status["Gid"].split() == ["1000"] * 4
        assert status["Groups"].strip() == "" and status["CapEff"] == "0000000000000000"
        listing = "import os; print(*sorted(map(int, os.listdir('/proc/self/fd'))))"
        fds = await session.exec(["python3", "-c", listing], timeout=30)
        assert fds.stdout == b"0 1 2 3\n", fds  # 3: the listing's own
        missing = await session.exec(["no-such-program", "x"], timeout=30)
        assert missing.exit_code == 127 and "No such file" in (missing.error or ""), missing
        relative = await session.exec("printf 'echo ran $PWD' > run.sh && chmod +x run.sh",
                                      timeout=30)  # fmt: skip
        assert relative.exit_code == 0, relative.stderr
        ran = await session.exec(["./run.sh"], cwd="/workspace", timeout=30)
        assert (ran.exit_code, ran.stdout) == (0, b"ran /workspace\n"), ran
        odd = await session.exec(["env"], env={"-i": "1", "A": "b=c"}, timeout=30)
        assert b"\n-i=1\n" in b"\n" + odd.stdout and b"\nA=b=c\n" in b"\n" + odd.stdout, odd

    in_session(runtime, body)
