"""airlock's seccomp profile on the real engine: tools still work, refused syscalls fail."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from typing import Any

import docker
import pyseccomp
import pytest

from security.seccomp import build_profile, security_opt

pytestmark = pytest.mark.integration

IMAGE = "airlock/dev"
LABELS = {"airlock.test": "seccomp"}

EVERYDAY = (
    'ls / >/dev/null && git --version && python3 -c "import threading, subprocess, socket; '
    'subprocess.run([\\"true\\"]); socket.socket(socket.AF_UNIX)" && rg --version '
    "&& jq --version && ps aux >/dev/null && sort /etc/passwd | head -1"
)

# Runs inside the container: tries each syscall through libc's syscall() and prints
# {probe: 0 or errno}, plus the Seccomp mode from /proc/self/status. argv: mode, numbers.
PROBE = r"""
import ctypes, json, os, sys
mode, NR = sys.argv[1], json.loads(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def call(name, *args):
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    res = libc.syscall(ctypes.c_long(NR[name]), *args)
    if name == "clone" and res == 0:   # a child got through: leave at once
        os._exit(0)
    if name == "clone" and res > 0:
        os.waitpid(res, 0)
    return 0 if res >= 0 else ctypes.get_errno()

NO_PATH, SIGCHLD = b"/nonexistent-airlock-seccomp", 17
probes = {
    # These tell the filter from the kernel: unfiltered, each fails with something else.
    "clone_newns_fs": lambda: call("clone", 0x20000 | 0x200 | SIGCHLD, 0, 0, 0, 0),
    "clone3": lambda: call("clone3", None, 0),
    "perf_event_open": lambda: call("perf_event_open", None, 0, -1, -1, 0),
}
if mode == "all":
    probes.update({
        "unshare": lambda: call("unshare", 0x10000000),
        "mount": lambda: call("mount", b"none", NO_PATH, b"tmpfs", 0, None),
        "ptrace": lambda: call("ptrace", 0, 0, 0, 0),
        "bpf": lambda: call("bpf", 0, None, 0),
        "keyctl": lambda: call("keyctl", 0, -2, 0),
        "userfaultfd": lambda: call("userfaultfd", 0o2000000),
        "kexec_load": lambda: call("kexec_load", 0, 0, None, 0x100),
        "init_module": lambda: call("init_module", None, 0, b""),
        "clone": lambda: call("clone", 0x20000 | SIGCHLD, 0, 0, 0, 0),
    })
out = {name: probe() for name, probe in probes.items()}
with open("/proc/self/status") as fh:
    out["Seccomp"] = next(l.split()[1] for l in fh if l.startswith("Seccomp:"))
print(json.dumps(out))
"""

SYSCALL_OF = {
    "clone_newns_fs": "clone",
    "clone3": "clone3",
    "perf_event_open": "perf_event_open",
    "unshare": "unshare",
    "mount": "mount",
    "ptrace": "ptrace",
    "bpf": "bpf",
    "keyctl": "keyctl",
    "userfaultfd": "userfaultfd",
    "kexec_load": "kexec_load",
    "init_module": "init_module",
    "clone": "clone",
}
NUMBERS = json.dumps(
    {name: pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) for name in SYSCALL_OF.values()}
)


def expected_errno(syscall: str) -> int:
    """What the profile says a refused syscall fails with: its rule's errno, else EPERM."""
    for rule in build_profile()["syscalls"]:
        if syscall in rule["names"] and rule["action"] == "SCMP_ACT_ERRNO":
            return int(rule["errnoRet"])
    return errno.EPERM


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    try:
        engine = docker.from_env()
        engine.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"integration tests need the engine: {exc}")
    yield engine
    engine.close()


def runtime_args(client: docker.DockerClient, runtime: str) -> list[str] | None:
    """The runtime's extra arguments, or None when the engine does not know the runtime."""
    runtimes: dict[str, Any] = client.info().get("Runtimes", {})
    if runtime not in runtimes:
        return None
    return list(runtimes[runtime].get("runtimeArgs") or [])


def run(
    client: docker.DockerClient, argv: list[str], runtime: str = "runc", seccomp: str = ""
) -> tuple[int, str]:
    container = client.containers.run(
        IMAGE,
        argv,
        detach=True,
        security_opt=[seccomp or security_opt(), "no-new-privileges:true"],
        cap_drop=["ALL"],
        network_mode="none",
        user="1000:1000",
        runtime=runtime,
        labels=LABELS,
    )
    try:
        status = container.wait(timeout=60)
        logs: bytes = container.logs(stdout=True, stderr=True)
        return int(status["StatusCode"]), logs.decode(errors="replace")
    finally:
        container.remove(force=True)


def probe(client: docker.DockerClient, mode: str, **kwargs: str) -> dict[str, Any]:
    code, out = run(client, ["python3", "-c", PROBE, mode, NUMBERS], **kwargs)
    assert code == 0, out
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def under_runc(client: docker.DockerClient) -> dict[str, Any]:
    return probe(client, "all")


def test_everyday_tools_work(client: docker.DockerClient) -> None:
    code, out = run(client, ["bash", "-c", EVERYDAY])
    assert code == 0, out


def test_kernel_filter_is_active(under_runc: dict[str, Any]) -> None:
    assert under_runc["Seccomp"] == "2"


@pytest.mark.parametrize("name", list(SYSCALL_OF))
def test_refused_syscalls_fail(under_runc: dict[str, Any], name: str) -> None:
    want = expected_errno(SYSCALL_OF[name])
    got = under_runc[name]
    assert got == want, f"{name}: {errno.errorcode.get(got, got)}, wanted {errno.errorcode[want]}"


def test_refusals_come_from_the_profile(client: docker.DockerClient) -> None:
    """Unconfined, the kernel answers the discriminating probes differently."""
    result = probe(client, "discriminating", seccomp="seccomp=unconfined")
    assert result["Seccomp"] == "0"
    assert result["clone_newns_fs"] == errno.EINVAL
    assert result["clone3"] == errno.EINVAL
    assert result["perf_event_open"] == errno.EFAULT


def test_runsc_starts_with_the_profile(client: docker.DockerClient) -> None:
    if runtime_args(client, "runsc") is None:
        pytest.skip("runsc is not registered with the engine")
    # gVisor applies OCI filters in its own sentry, so /proc shows no kernel filter there.
    code, out = run(client, ["true"], runtime="runsc")
    assert code == 0, out


def test_runsc_enforces_the_profile_when_asked(client: docker.DockerClient) -> None:
    args = runtime_args(client, "runsc")
    if args is None:
        pytest.skip("runsc is not registered with the engine")
    if not any(arg.lstrip("-").startswith("oci-seccomp") for arg in args):
        pytest.skip("runsc runs without --oci-seccomp, so gVisor accepts but ignores the profile")
    result = probe(client, "all", runtime="runsc")
    for name in ("unshare", "mount", "bpf", "keyctl", "perf_event_open", "clone3"):
        assert result[name] == expected_errno(SYSCALL_OF[name]), name
