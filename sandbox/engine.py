"""Connection to the container engine, with errors that say what to do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import docker
import requests
from docker.errors import DockerException

ENGINE_ERRORS = (DockerException, requests.RequestException)
"""What a call to the engine raises when it fails or does not answer (docker-py lets
requests' connection errors through as they are)."""

SETUP_HINT = "start one with `make setup` (or scripts/ensure-engine.sh as root)"


class EngineUnavailable(RuntimeError):
    """No Docker engine answers on the configured socket."""


DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"


def endpoint() -> str:
    """Where the engine is looked for: ``DOCKER_HOST``, else the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_ENDPOINT


def connect(timeout: float = 30.0) -> docker.DockerClient:
    """Return a client for the engine named by the environment (DOCKER_HOST or the socket)."""
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except ENGINE_ERRORS as exc:
        where = endpoint()
        source = "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else "the default; set DOCKER_HOST"
        raise EngineUnavailable(
            f"no Docker engine answers at {where} ({source}): {exc}; {SETUP_HINT}"
        ) from exc
    return client


@contextmanager
def engine(timeout: float = 30.0) -> Iterator[docker.DockerClient]:
    """A connected client, closed on exit."""
    client = connect(timeout)
    try:
        yield client
    finally:
        client.close()
