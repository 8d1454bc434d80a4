"""A container made from a default SessionSpec is hardened as DESIGN.md says."""

from __future__ import annotations

import asyncio

import docker
import pytest

from sandbox.docker_backend import DockerBackend
from sandbox.hardening import GVISOR_MIN_HOST_PIDS, container_settings
from sandbox.spec import ResourceLimits, SessionSpec
from security.knowledge.environment import SESSION_GUARDS

# What a session looks like from inside: user, root fs, network, seccomp, capabilities.
PROBE = (
    'echo "user        $(id -un) ($(id -u))"; '
    'echo "root fs     $(touch /etc/probe 2>&1 | sed "s/.*: //")"; '
    'echo "interfaces  $(awk -F: \'NR>2{gsub(/ /,"",$1); printf "%s ", $1}\' /proc/net/dev)"; '
    'echo "routes      $(($(wc -l < /proc/net/route) - 1))"; '
    "echo \"seccomp     $(awk '/^Seccomp:/{print $2}' /proc/self/status)\"; "
    "echo \"caps        $(awk '/^CapEff:/{print $2}' /proc/self/status)\"; "
    'echo "kernel      $(uname -sr)"'
)

pytestmark = pytest.mark.integration


async def _probe(runtime: str) -> str:
    async with DockerBackend().session(SessionSpec(runtime=runtime)) as session:  # type: ignore[arg-type]
        result = await session.exec(PROBE)
        assert result.exit_code == 0, result.stderr
        return result.text


def probe(runtime: str) -> dict[str, str]:
    lines = asyncio.run(_probe(runtime)).splitlines()
    return {line[:12].strip(): line[12:].strip() for line in lines}


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_default_session_is_hardened(runtime: str, runtimes: list[str]) -> None:
    if runtime not in runtimes:
        pytest.skip(f"{runtime} is not registered with the engine")
    seen = probe(runtime)
    assert seen["user"] == "agent (1000)"
    assert seen["root fs"] in {"Read-only file system", "Permission denied"}
    assert seen["interfaces"] == "lo"
    assert seen["routes"] == "0"
    assert seen["caps"] == "0000000000000000"
    # gVisor filters syscalls in its own sentry; the kernel filter shows only under runc.
    assert seen["seccomp"].startswith("2" if runtime == "runc" else "0")


def test_settings_carry_the_limits(docker_client: docker.DockerClient) -> None:
    spec = SessionSpec(image="airlock/minimal", labels={"airlock.test": "limits"})
    container = docker_client.containers.create(command=["true"], **container_settings(spec))
    try:
        host = container.attrs["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"][0] == "no-new-privileges:true"
        assert host["SecurityOpt"][1].startswith("seccomp=")
        assert host["NetworkMode"] == "none"
        assert host["PidsLimit"] == spec.limits.pids
        assert container_settings(spec.model_copy(update={"runtime": "runsc"}))["pids_limit"] == (
            GVISOR_MIN_HOST_PIDS  # gVisor's own threads count against the host's limit
        )
        assert host["Memory"] == spec.limits.memory_mb * 2**20
        assert host["Init"] is True
        assert host["LogConfig"]["Type"] == "none"  # the exec channel is not copied to disk
        assert host["CapAdd"] == ["SETUID", "SETGID", "KILL"]  # the agent's, never a command's
        assert container.attrs["Config"]["User"] == "0:0"  # the agent; commands: AIRLOCK_USER
        assert "AIRLOCK_USER=1000:1000" in container.attrs["Config"]["Env"]
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_built_programs_run_in_the_workspace_and_tmp_but_setuid_does_not(
    runtime: str, runtimes: list[str]
) -> None:
    if runtime not in runtimes:
        pytest.skip(f"{runtime} is not registered with this engine")
    script = (
        "for d in /workspace /tmp; do printf '#!/bin/sh\\necho ran in %s\\n' $d > $d/s.sh;"
        " chmod +x $d/s.sh; $d/s.sh; done; grep -E ' (/workspace|/tmp) ' /proc/mounts"
    )

    async def body() -> str:
        async with DockerBackend().session(SessionSpec(runtime=runtime)) as session:  # type: ignore[arg-type]
            result = await session.exec(script)
            assert result.exit_code == 0, result.stderr
            return result.text

    text = asyncio.run(body())
    assert "ran in /workspace" in text and "ran in /tmp" in text
    mounts = [line for line in text.splitlines() if line.startswith(("tmpfs", "none"))]
    assert len(mounts) == 2, text
    if runtime == "runc":  # gVisor lists its own mount flags, without nosuid/nodev
        assert all("nosuid" in line and "nodev" in line for line in mounts), text


@pytest.mark.parametrize("traced", [False, True])
def test_only_an_oracle_session_may_trace(traced: bool) -> None:
    """strace needs ptrace: allowed in oracle sessions (traced), refused in agents' ones."""

    async def body() -> tuple[int | None, str]:
        async with DockerBackend().session(SessionSpec(traced=traced)) as session:
            result = await session.exec("strace -f -qq -e trace=execve sh -c 'true; ls /' 2>&1")
            return result.exit_code, result.text

    code, text = asyncio.run(body())
    if traced:
        assert code == 0, text
        assert 'execve("/usr/bin/ls"' in text or 'execve("/bin/ls"' in text, text
    else:
        assert code != 0 and "Operation not permitted" in text, text


def test_a_flood_of_empty_files_hits_the_inode_cap_not_the_memory_limit() -> None:
    """tmpfs keeps inodes in memory: uncapped, ~1.2M empty files end the whole session."""
    spec = SessionSpec(limits=ResourceLimits(workspace_inodes=2_048, tmp_inodes=1_024))
    script = (
        "import os\n"
        "for root, cap in (('/workspace', 2048), ('/tmp', 1024)):\n"
        "    made = 0\n"
        "    try:\n"
        "        while made < cap * 2:\n"
        "            open(f'{root}/f{made}', 'w').close(); made += 1\n"
        "    except OSError as e:\n"
        "        print(root, made, e.errno)\n"
    )

    async def body() -> tuple[str, int | None]:
        async with DockerBackend().session(spec) as session:
            flood = await session.exec(["python3", "-c", script])
            after = await session.exec("echo still here")
            return flood.text, after.exit_code

    text, after = asyncio.run(body())
    lines = dict(line.split(" ", 1) for line in text.splitlines())
    assert lines["/workspace"].endswith(" 28") and lines["/tmp"].endswith(" 28"), text  # ENOSPC
    assert int(lines["/workspace"].split()[0]) < 2_048 and after == 0


def test_every_session_starts_with_the_read_only_guards() -> None:
    """The analyzer proves git, go, pip and npm read-only only with these set."""

    async def body() -> dict[str, str]:
        async with DockerBackend().session(SessionSpec()) as session:
            result = await session.exec(["env"])
        pairs = (line.split("=", 1) for line in result.stdout.decode().splitlines())
        return {name: value for name, value in pairs}

    env = asyncio.run(body())
    assert SESSION_GUARDS  # the table the analyzer reads
    for name, guard in SESSION_GUARDS.items():
        assert env.get(name) == guard.value, name
