"""Remove sandbox containers whose owner is gone or whose time is up."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import docker
from docker.errors import APIError, NotFound
from pydantic import BaseModel

from sandbox import labels
from sandbox.egress_socket import remove_stale_folders

log = logging.getLogger(__name__)


class Leftover(BaseModel):
    """A container the reaper removed (or would remove), and why."""

    container_id: str
    session: str
    reason: str
    removed: bool


def judge(container_labels: dict[str, str], now: float) -> tuple[bool, str] | None:
    """(remove?, why) for a managed container, or None if it is plainly alive.

    An expired TTL always removes. Otherwise a container is removed only when its
    owner is known to be gone; when that cannot be known (owner on another host,
    unreadable labels) it is kept, and the reason says so.
    """
    try:
        expires = float(container_labels.get(labels.EXPIRES, ""))
    except ValueError:
        expires = None
    if expires is not None and expires <= now:
        return True, "ttl passed"
    owner = labels.owner_of(container_labels)
    if owner is None:
        return False, "kept: owner labels unreadable, cannot tell if it is alive"
    if not owner.checkable():
        return False, f"kept: owner runs on {owner.host}, cannot check it from here"
    if not owner.is_alive():
        return True, f"owner pid {owner.pid} is gone"
    if expires is None:
        return False, "kept: expiry label unreadable"
    return None


def left_behind(client: docker.DockerClient) -> list[Any]:
    """Reap, then list the managed containers this process still owns (a leak, when
    all its sessions are closed)."""
    reap(client)
    mine = [f"{labels.MANAGED}=1", f"{labels.OWNER_PID}={os.getpid()}"]
    return list(client.containers.list(all=True, filters={"label": mine}))


def reap(
    client: docker.DockerClient,
    *,
    dry_run: bool = False,
    now: float | None = None,
    session: str | None = None,
) -> list[Leftover]:
    """Remove managed containers whose owner is gone or whose TTL passed.

    Returns what was removed (or would be, with ``dry_run``) and what was kept
    because its owner's state cannot be known. ``session`` removes that one session.
    A sweep also removes the egress socket folders of proxies that are gone.
    """
    now = time.time() if now is None else now
    if session is None and not dry_run:
        for folder in remove_stale_folders(now=now):
            log.info("removed the egress socket folder %s: its proxy is gone", folder)
    wanted = [f"{labels.MANAGED}=1"] + ([f"{labels.SESSION}={session}"] if session else [])
    found: list[Leftover] = []
    # One list call, no per-container inspect: a container removed meanwhile
    # (a session closing) must not fail the sweep.
    for summary in client.api.containers(all=True, filters={"label": wanted}):
        container_id: str = summary["Id"]
        container_labels: dict[str, str] = summary.get("Labels") or {}
        verdict = (True, "requested") if session else judge(container_labels, now)
        if verdict is None:
            continue
        remove, reason = verdict
        removed = False
        if remove and not dry_run:
            try:
                client.api.remove_container(container_id, force=True)
                removed = True
            except NotFound:
                removed = True
            except APIError as exc:
                reason = f"{reason}; removal failed: {exc}"
        found.append(
            Leftover(
                container_id=container_id,
                session=container_labels.get(labels.SESSION, "?"),
                reason=reason,
                removed=removed,
            )
        )
    return found
