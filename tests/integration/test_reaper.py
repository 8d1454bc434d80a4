"""The reaper removes what a dead orchestrator or an expired TTL left behind."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import docker
import pytest

from sandbox import labels
from sandbox.reaper import judge, reap

pytestmark = pytest.mark.integration


def dead_owner() -> labels.Owner:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return labels.Owner(pid=child.pid, start="1", host=labels.Owner.current().host)


def make(client: docker.DockerClient, session: str, owner: labels.Owner, ttl: int) -> str:
    container = client.containers.create(
        "airlock/minimal",
        ["sleep", "60"],
        network_mode="none",
        labels=labels.session_labels(session, ttl, owner),
    )
    container.start()
    return str(container.id)


def test_reaps_dead_owners_and_expired_ttls_only(docker_client: docker.DockerClient) -> None:
    tag = f"t{int(time.time() * 1000)}"
    orphan = make(docker_client, f"{tag}-orphan", dead_owner(), ttl=600)
    expired = make(docker_client, f"{tag}-expired", labels.Owner.current(), ttl=1)
    alive = make(docker_client, f"{tag}-alive", labels.Owner.current(), ttl=600)
    try:
        preview = {r.session: r for r in reap(docker_client, dry_run=True, now=time.time() + 5)}
        assert preview[f"{tag}-orphan"].reason.startswith("owner pid")
        assert preview[f"{tag}-expired"].reason == "ttl passed"
        assert f"{tag}-alive" not in preview
        assert not any(r.removed for r in preview.values())
        assert preview[f"{tag}-orphan"].reason and preview[f"{tag}-expired"].reason

        reaped = {r.session for r in reap(docker_client, now=time.time() + 5) if r.removed}
        assert {f"{tag}-orphan", f"{tag}-expired"} <= reaped
        # ignore_removed: another run's container may go between the list and its inspect
        remaining = {c.id for c in docker_client.containers.list(all=True, ignore_removed=True)}
        assert orphan not in remaining and expired not in remaining and alive in remaining
    finally:
        for cid in (orphan, expired, alive):
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.containers.get(cid).remove(force=True)


def test_judge_rules() -> None:
    me = labels.Owner.current()
    now = time.time()
    assert judge(labels.session_labels("s", 60, me), now) is None
    assert judge(labels.session_labels("s", 60, me), now + 120) == (True, "ttl passed")
    kept, why = judge({labels.EXPIRES: str(now + 60)}, now) or (None, "")
    assert kept is False and why.startswith("kept: owner labels unreadable")
    elsewhere = labels.Owner(pid=1, start="1", host="another-host")
    kept, why = judge(labels.session_labels("s", 60, elsewhere), now) or (None, "")
    assert kept is False and "another-host" in why
    # another host's expired session still goes: the TTL needs no owner check
    assert judge(labels.session_labels("s", 60, elsewhere), now + 120) == (True, "ttl passed")
