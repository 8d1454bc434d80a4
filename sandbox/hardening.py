"""Translate a SessionSpec into the engine's container settings, hardened by default."""

from __future__ import annotations

from typing import Any

from sandbox.command_user import AGENT_CAPABILITIES
from sandbox.command_user import ENV_NAME as COMMAND_USER_ENV
from sandbox.spec import SessionSpec
from security import seccomp
from security.knowledge.environment import SESSION_GUARDS

# Under gVisor the host's pids cgroup counts the threads of gVisor's own kernel (the
# Sentry, a Go program), not the sandboxed processes: 64 kills it at start-up, and
# load needs hundreds. The spec's `pids` is raised to this floor there; processes
# inside gVisor are then bounded by the memory limit (see README, Known limits).
GVISOR_MIN_HOST_PIDS = 4096
AGENT_PROCESS_USER = "0:0"  # the container's main process: tini, the TTL wrapper, the agent


def session_guards() -> dict[str, str]:
    """The environment every session starts with so that proven read-only stays so."""
    return {name: guard.value for name, guard in SESSION_GUARDS.items()}


def container_settings(spec: SessionSpec) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create`` (docker-py) for this spec.

    Commands run as the spec's (non-root) user; the exec agent, which holds the channel
    to the host, runs as root with `AGENT_CAPABILITIES` alone, out of the commands'
    reach (`sandbox/command_user.py`). Read-only root filesystem, tmpfs /tmp and a
    size-limited tmpfs /workspace (root-owned, mode 1777), every other capability
    dropped, no-new-privileges, the project's seccomp profile, an init process, no
    network, pids/memory/cpu limits, and no engine log of its output.
    """
    limits = spec.limits
    return {
        "image": spec.image,
        "runtime": spec.runtime,
        "user": AGENT_PROCESS_USER,
        "working_dir": spec.workdir,
        # the variables that keep the read-only base's tools read-only (git's optional
        # index writes, go's toolchain switch, pip's and npm's version checks and logs)
        "environment": {**session_guards(), **spec.env, COMMAND_USER_ENV: spec.user},
        "labels": dict(spec.labels),
        "network_mode": spec.network,
        "read_only": True,
        # exec: agents build and run programs there (./configure, go test, cargo test);
        # Docker's tmpfs default is noexec. nosuid and no-new-privileges still hold.
        "tmpfs": {
            "/tmp": f"rw,exec,nosuid,nodev,size={limits.tmp_mb}m,nr_inodes={limits.tmp_inodes},"  # noqa: S108 (in the container)
            "mode=1777",
            # root-owned and sticky, like /tmp: the agent creates and removes its own files,
            # but cannot rename or remove the root-owned .git/config and .git/hooks the
            # copy-in leaves there, nor the .git directory holding them (workspace_seed)
            spec.workdir: f"rw,exec,nosuid,nodev,size={limits.workspace_mb}m,"
            f"nr_inodes={limits.workspace_inodes},mode=1777,uid=0,gid=0",
        },
        "cap_drop": ["ALL"],
        "cap_add": list(AGENT_CAPABILITIES),
        "security_opt": ["no-new-privileges:true", seccomp.security_opt(tracing=spec.traced)],
        "init": True,
        "pids_limit": host_pids_limit(spec),
        "mem_limit": f"{limits.memory_mb}m",
        "memswap_limit": f"{limits.memory_mb}m",
        "nano_cpus": int(limits.cpus * 1e9),
        "ipc_mode": "private",
        # The engine keeps nothing of what the sandbox writes: its stdout is the exec
        # channel (every command's output, every byte a session uploads through egress),
        # which the default json-file driver would copy to the host's disk without bound
        # (about 6 bytes per byte of binary output), and at a third of the attach speed.
        "log_config": {"type": "none"},
    }


def host_pids_limit(spec: SessionSpec) -> int:
    """The pids cgroup limit for the container: the spec's, or gVisor's floor."""
    if spec.runtime == "runsc":
        return max(spec.limits.pids, GVISOR_MIN_HOST_PIDS)
    return spec.limits.pids
