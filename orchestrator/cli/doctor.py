"""`airlock doctor`: what this machine has, and what to do about what it lacks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import docker

from orchestrator.cli.doctor_probe import probe
from orchestrator.cli.doctor_report import Check, Health, Report
from sandbox import DEFAULT_IMAGE, images
from sandbox.engine import EngineUnavailable, engine


def _engine_checks(client: docker.DockerClient) -> list[Check]:
    info: dict[str, Any] = client.info()
    version: dict[str, Any] = client.version()
    runtimes = set(info.get("Runtimes", {}))
    security = " ".join(info.get("SecurityOptions", []))
    cgroup_version = str(info.get("CgroupVersion", "?"))
    return [
        Check(
            name="engine",
            health=Health.OK,
            detail=f"Docker {version.get('Version')} (API {version.get('ApiVersion')})",
        ),
        Check(
            name="runtime runc",
            health=Health.OK if "runc" in runtimes else Health.FAIL,
            detail="registered" if "runc" in runtimes else "not registered",
            fix="" if "runc" in runtimes else "install runc and restart the engine",
        ),
        Check(
            name="runtime runsc (gVisor)",
            health=Health.OK if "runsc" in runtimes else Health.WARN,
            detail="registered" if "runsc" in runtimes else "not registered: no hardened tier",
            fix=""
            if "runsc" in runtimes
            else 'install runsc and add {"runtimes": {"runsc": {"path": "runsc", '
            '"runtimeArgs": ["--network=none"]}}} to /etc/docker/daemon.json',
        ),
        Check(
            name="seccomp",
            health=Health.OK if "seccomp" in security else Health.FAIL,
            detail=security or "no security options reported",
            fix="" if "seccomp" in security else "use an engine built with seccomp support",
        ),
        Check(
            name="cgroups",
            health=Health.OK,
            detail=f"v{cgroup_version}, driver {info.get('CgroupDriver', '?')}",
        ),
    ]


def _image_checks(client: docker.DockerClient) -> list[Check]:
    checks = []
    for recipe in images.RECIPES:
        try:
            state = images.status(client, recipe)
        except images.ImageBuildError as exc:  # its recipe is missing: a broken install
            checks.append(Check(name=f"image {recipe.name}", health=Health.FAIL, detail=str(exc)))
            continue
        health = {
            images.ImageState.CURRENT: Health.OK,
            images.ImageState.OUTDATED: Health.WARN,
            images.ImageState.MISSING: Health.FAIL,
        }[state.state]
        size = f", {state.size_bytes / 1e6:.0f} MB" if state.size_bytes else ""
        checks.append(
            Check(
                name=f"image {recipe.name}",
                health=health,
                detail=f"{state.state.value} (recipe {state.recipe_hash}{size})",
                fix="" if health is Health.OK else "make images",
            )
        )
    return checks


def _user_namespaces() -> Check:
    path = Path("/proc/sys/user/max_user_namespaces")
    try:
        limit = int(path.read_text())
    except (OSError, ValueError):
        limit = -1
    if limit > 0:
        return Check(name="user namespaces", health=Health.OK, detail=f"up to {limit}")
    return Check(
        name="user namespaces",
        health=Health.WARN,
        detail="unavailable" if limit == 0 else "unknown",
        fix="sysctl -w user.max_user_namespaces=15000",
    )


def _libseccomp() -> Check:
    try:
        import pyseccomp

        pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    except (ImportError, OSError, RuntimeError) as exc:
        return Check(
            name="libseccomp binding",
            health=Health.FAIL,
            detail=str(exc),
            fix="apt-get install libseccomp2 (pyseccomp loads it)",
        )
    return Check(name="libseccomp binding", health=Health.OK, detail="pyseccomp loads libseccomp")


def _image_tools() -> Check:
    missing = [tool for tool in ("mmdebstrap", "apt-get", "dpkg-deb") if not shutil.which(tool)]
    if not missing:
        return Check(name="image tools", health=Health.OK, detail="mmdebstrap, apt-get, dpkg-deb")
    return Check(
        name="image tools",
        health=Health.WARN,
        detail=f"missing {', '.join(missing)}: images cannot be rebuilt here",
        fix="apt-get install mmdebstrap",
    )


def _image_present(client: docker.DockerClient, image: str) -> Check | None:
    """None when ``image`` is on this machine, else the failed check saying so."""
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return Check(
            name=f"image {image}",
            health=Health.FAIL,
            detail="not on this machine (images are built here, never pulled)",
            fix=f"docker build -t {image} . (FROM airlock/dev), or airlock images build",
        )
    return None


def _runtimes(client: docker.DockerClient) -> set[str]:
    return set(client.info().get("Runtimes", {}))


def _machine_checks() -> list[Check]:
    return [_user_namespaces(), _libseccomp(), _image_tools()]


def diagnose() -> Report:
    """Inspect the engine, runtimes, images and kernel features the defaults need, then
    try a real session with the default image under each registered runtime."""
    try:
        with engine(timeout=10) as client:
            checks = _engine_checks(client) + _image_checks(client)
            runtimes = _runtimes(client)
            default_image_here = _image_present(client, DEFAULT_IMAGE) is None
    except EngineUnavailable as exc:
        engine_down = Check(name="engine", health=Health.FAIL, detail=str(exc), fix="make setup")
        return Report(checks=[engine_down, *_machine_checks()])
    if default_image_here:
        for runtime in ("runc", "runsc"):
            if runtime in runtimes:
                checks += probe(
                    DEFAULT_IMAGE, runtime, required=runtime == "runc", label=f"{runtime} session"
                )
    return Report(checks=checks + _machine_checks())


def diagnose_image(image: str, runtime: str = "runc") -> Report:
    """Whether airlock can run sessions with ``image`` under ``runtime``, and what the
    image lacks (`doctor --image`)."""
    try:
        with engine(timeout=10) as client:
            absent = _image_present(client, image)
            runtimes = _runtimes(client)
    except EngineUnavailable as exc:
        return Report(checks=[Check(name="engine", health=Health.FAIL, detail=str(exc))])
    if absent is not None:
        return Report(checks=[absent])
    if runtime not in runtimes:
        detail = f"not registered (registered: {', '.join(sorted(runtimes))})"
        return Report(checks=[Check(name=f"runtime {runtime}", health=Health.FAIL, detail=detail)])
    return Report(checks=probe(image, runtime, required=True))
