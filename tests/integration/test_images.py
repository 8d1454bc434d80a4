"""The images exist for their current recipes and containers from them run commands."""

from __future__ import annotations

import io
import uuid

import docker
import pytest

from sandbox import images

pytestmark = pytest.mark.integration


def run(client: docker.DockerClient, image: str, command: list[str], runtime: str = "runc") -> str:
    output: bytes = client.containers.run(
        image, command, runtime=runtime, network_mode="none", remove=True, stderr=True
    )
    return output.decode()


@pytest.mark.parametrize("recipe", images.RECIPES, ids=lambda r: r.name)
def test_image_is_current_and_labelled(
    docker_client: docker.DockerClient, recipe: images.Recipe
) -> None:
    status = images.status(docker_client, recipe)
    assert status.state is images.ImageState.CURRENT, f"run `make images`: {status}"
    labels = docker_client.images.get(status.tag).labels
    assert labels[images.HASH_LABEL] == recipe.recipe_hash()
    assert labels[images.RECIPE_LABEL] == recipe.name
    assert docker_client.images.get(f"{recipe.name}:latest").id == status.image_id


def test_ensure_is_a_no_op_when_recipes_are_unchanged(docker_client: docker.DockerClient) -> None:
    before = {r.name: images.status(docker_client, r).image_id for r in images.RECIPES}
    log: list[str] = []
    statuses = images.ensure(docker_client, log=log.append)
    assert log == []
    assert {s.name: s.image_id for s in statuses} == before


def test_minimal_image_is_small_and_runs_as_agent(
    docker_client: docker.DockerClient, runtimes: list[str]
) -> None:
    status = images.status(docker_client, images.recipe_named("minimal"))
    assert status.size_bytes is not None and status.size_bytes < 10_000_000
    for runtime in runtimes:
        out = run(docker_client, "airlock/minimal", ["sh", "-c", "id -u; pwd; echo ok"], runtime)
        assert out.split() == ["1000", "/workspace", "ok"], runtime


def test_dev_image_has_its_tools_and_user(
    docker_client: docker.DockerClient, runtimes: list[str]
) -> None:
    probe = (
        "id -un; "
        # (python's stat, not coreutils': Debian's 2022 runsc answers statx with EINVAL)
        # /workspace is root-owned and sticky, like /tmp (sandbox/workspace_seed.py)
        'python3 -c \'import os, pwd; s = os.stat("/workspace"); '
        "print(pwd.getpwuid(s.st_uid)[0], oct(s.st_mode & 0o7777))'; "
        "for t in bash git python3 rg jq gawk diff find grep sed ps; do "
        "command -v $t >/dev/null || echo missing $t; done; "
        "echo '{\"a\": 41}' | jq '.a + 1'"
    )
    for runtime in runtimes:
        out = run(docker_client, "airlock/dev", ["bash", "-c", probe], runtime)
        assert out.split() == ["agent", "root", "0o1777", "42"], (runtime, out)


def test_runsc_is_registered(runtimes: list[str]) -> None:
    # The hardened tier is part of this machine's setup (scripts/ensure-engine.sh).
    assert runtimes == ["runc", "runsc"]


def test_an_old_tag_in_use_by_a_container_stays_and_the_prune_goes_on(
    docker_client: docker.DockerClient,
) -> None:
    """A rebuild while a session still runs the old image must not fail at housekeeping."""
    recipe = next(r for r in images.RECIPES if r.name == "airlock/minimal")
    current = images.status(docker_client, recipe)
    stale = f"{recipe.name}:stale-{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {recipe.name}:latest\nLABEL airlock.test-stale={stale}\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=stale, rm=True)
    container = docker_client.containers.create(stale, ["true"], network_mode="none")
    try:
        removed = images.prune_old_tags(docker_client, recipe, current.recipe_hash)
        assert stale not in removed
        assert stale in docker_client.images.get(stale).tags  # kept: a container uses it
    finally:
        container.remove(force=True)
    assert stale in images.prune_old_tags(docker_client, recipe, current.recipe_hash)
    assert images.status(docker_client, recipe).state is images.ImageState.CURRENT
