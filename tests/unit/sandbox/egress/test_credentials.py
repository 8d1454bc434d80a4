"""A session's credentials: read from the orchestrator's environment, replaced by
placeholders, put back in headers toward their hosts alone; and the session CA."""

from __future__ import annotations

import ssl

import pytest
from cryptography import x509

from sandbox.egress.authority import SessionAuthority
from sandbox.egress.credentials import CredentialError, Credentials
from security import Credential, NetworkPolicy
from security.network_policy import parse_entry

POLICY = NetworkPolicy(
    allow=["api.test", "*.git.test", "other.test"],
    credentials=[
        Credential(env="GH", hosts=["api.test", "*.git.test:443"]),
        Credential(env="NPM", hosts=["other.test"]),
    ],
)
VALUES = {"GH": "gh-secret", "NPM": "npm-secret"}


def test_a_missing_or_unusable_secret_is_named_but_never_shown() -> None:
    with pytest.raises(CredentialError) as caught:
        Credentials.from_policy(POLICY, {"NPM": "ok\r\nX-Injected: 1"})
    message = str(caught.value)
    assert "GH: not set" in message
    assert "NPM: a header cannot carry the value" in message
    assert "Injected" not in message


def test_placeholders_are_all_the_session_holds() -> None:
    credentials = Credentials.from_policy(POLICY, VALUES)
    environment = credentials.environment()
    assert set(environment) == {"GH", "NPM"}
    assert not set(environment.values()) & set(VALUES.values())


def test_each_placeholder_becomes_its_secret_toward_its_hosts_only() -> None:
    credentials = Credentials.from_policy(POLICY, VALUES)
    gh, npm = credentials.environment()["GH"], credentials.environment()["NPM"]
    headers = [("Authorization", f"Bearer {gh}"), ("X-Npm", npm), ("Accept", "*/*")]
    rewrite = credentials.rewrite("a.git.test", 443, headers)
    assert rewrite.headers == [
        ("Authorization", "Bearer gh-secret"),
        ("X-Npm", npm),
        ("Accept", "*/*"),
    ]
    assert rewrite.brokered == {"GH"} and rewrite.withheld == {"NPM"}
    elsewhere = credentials.rewrite("a.git.test", 80, headers)  # the port is not its
    assert elsewhere.headers == headers and elsewhere.withheld == {"GH", "NPM"}
    untouched = credentials.rewrite("api.test", 443, [("Accept", "*/*")])
    assert untouched.headers == [("Accept", "*/*")] and not untouched.brokered


def test_the_session_ca_signs_for_the_brokered_names_only() -> None:
    authority = SessionAuthority([parse_entry("api.test"), parse_entry("*.git.test")])
    certificate = x509.load_pem_x509_certificate(authority.pem)
    constraints = certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = constraints.value.permitted_subtrees or []
    assert sorted(name.value for name in permitted) == ["api.test", "git.test"]
    basic = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca and basic.path_length == 0
    context = authority.server_context("API.test.")
    assert context is authority.server_context("api.test")  # cached per name
    assert isinstance(context, ssl.SSLContext) and context.sni_callback is not None
