"""Remove sandbox containers whose owner is gone or whose time is up."""

from __future__ import annotations

import time

import docker
from docker.errors import APIError, NotFound
from pydantic import BaseModel

from sandbox import labels


class Leftover(BaseModel):
    """A container the reaper removed (or would remove), and why."""

    container_id: str
    session: str
    reason: str
    removed: bool


def reason_to_reap(container_labels: dict[str, str], now: float) -> str | None:
    """Why a managed container should go, or None if it may stay."""
    try:
        expires = float(container_labels.get(labels.EXPIRES, "0"))
    except ValueError:
        return "unreadable expiry label"
    if expires <= now:
        return "ttl passed"
    owner = labels.owner_of(container_labels)
    if owner is None:
        return "no owner label"
    if not owner.is_alive():
        return f"owner pid {owner.pid} is gone"
    return None


def reap(
    client: docker.DockerClient,
    *,
    dry_run: bool = False,
    now: float | None = None,
    session: str | None = None,
) -> list[Leftover]:
    """Find managed containers to remove; remove them unless ``dry_run``."""
    now = time.time() if now is None else now
    wanted = [f"{labels.MANAGED}=1"] + ([f"{labels.SESSION}={session}"] if session else [])
    found: list[Leftover] = []
    for container in client.containers.list(all=True, filters={"label": wanted}):
        container_labels = container.labels or {}
        reason = "requested" if session else reason_to_reap(container_labels, now)
        if reason is None:
            continue
        removed = False
        if not dry_run:
            try:
                container.remove(force=True)
                removed = True
            except NotFound:
                removed = True
            except APIError:
                removed = False
        found.append(
            Leftover(
                container_id=container.id,
                reason=reason,
                removed=removed,
                session=container_labels.get(labels.SESSION, "?"),
            )
        )
    return found
