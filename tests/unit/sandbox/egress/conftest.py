"""Fixtures for the egress tests: the test CA, loopback upstreams, proxies in threads."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from security import NetworkPolicy
from tests.unit.sandbox.egress.loopback import (
    MAPPED,
    Certificates,
    ProxyThread,
    Upstream,
    make_certificates,
    server_tls,
)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI makes the test CA")
    folder: Path = tmp_path_factory.mktemp("egress-ca")
    return make_certificates(folder, MAPPED)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_upstream(certs: Certificates) -> Iterator[Upstream]:
    server = Upstream(server_tls(certs))
    yield server
    server.stop()


@pytest.fixture
def start_proxy() -> Iterator[Callable[..., ProxyThread]]:
    started: list[ProxyThread] = []

    def start(policy: NetworkPolicy | None = None, **options: Any) -> ProxyThread:
        proxy = ProxyThread(policy or NetworkPolicy(allow=["pypi.test"]), **options)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.close()
