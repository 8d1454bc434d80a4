"""A session's egress settings: the proxy's variables, and with credentials the
placeholders, the trust variables and the CA bundle."""

from __future__ import annotations

import pytest

from sandbox.egress import CredentialError
from sandbox.session_egress import CA_BUNDLE, TRUST_VARIABLES, SessionEgress, proxy_environment
from security import Credential, NetworkPolicy

SECRET = "s3cret-value"  # noqa: S105 (a test value)
BROKERING = NetworkPolicy(
    allow=["api.test"], credentials=[Credential(env="TOKEN", hosts=["api.test"])]
)


def test_without_credentials_the_session_gets_the_proxy_only() -> None:
    egress = SessionEgress(NetworkPolicy(allow=["api.test"]), {})
    assert egress.broker is None
    assert egress.environment() == proxy_environment()
    assert egress.trust_bundle(b"system") == b""


def test_with_credentials_it_gets_placeholders_and_its_ca() -> None:
    egress = SessionEgress(BROKERING, {"TOKEN": SECRET})
    environment = egress.environment()
    assert environment["TOKEN"].startswith("airlock-credential-TOKEN-")
    assert SECRET not in "".join(environment.values())
    assert all(environment[name] == CA_BUNDLE for name in TRUST_VARIABLES)
    assert egress.broker is not None
    bundle = egress.trust_bundle(b"-----SYSTEM CAS-----")
    assert bundle.startswith(b"-----SYSTEM CAS-----\n")
    assert bundle.endswith(egress.broker.authority.pem)
    assert egress.trust_bundle(b"") == egress.broker.authority.pem


def test_a_missing_secret_is_named() -> None:
    with pytest.raises(CredentialError, match="TOKEN: not set"):
        SessionEgress(BROKERING, {})
