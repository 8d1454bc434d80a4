"""`airlock doctor`: what this machine has, and what to do about what it lacks."""

from __future__ import annotations

import shutil
from enum import StrEnum
from pathlib import Path
from typing import Any

import docker
from pydantic import BaseModel

from sandbox import images
from sandbox.engine import EngineUnavailable, engine


class Health(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but an optional part is missing
    FAIL = "fail"  # a default needs this


class Check(BaseModel):
    name: str
    health: Health
    detail: str
    fix: str = ""


class Report(BaseModel):
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        return all(check.health is not Health.FAIL for check in self.checks)


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


def diagnose() -> Report:
    """Inspect the engine, runtimes, images and kernel features the defaults need."""
    checks: list[Check] = []
    try:
        with engine(timeout=10) as client:
            checks += _engine_checks(client)
            checks += _image_checks(client)
    except EngineUnavailable as exc:
        checks.append(Check(name="engine", health=Health.FAIL, detail=str(exc), fix="make setup"))
    checks += [_user_namespaces(), _libseccomp(), _image_tools()]
    return Report(checks=checks)
