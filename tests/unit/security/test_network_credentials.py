"""Credentials in the network policy: named by a variable, sent to allowed hosts alone,
read strictly, joined by ``extends:``, added with ``--credential``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from security import PRESETS, Credential, NetworkPolicy, Policy, PolicyError


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_credential_goes_to_its_hosts_alone() -> None:
    policy = NetworkPolicy(
        allow=["api.test", "*.git.test", "other.test"],
        credentials=[Credential(env="GH_TOKEN", hosts=["api.test", "*.git.test:443"])],
    )
    assert [c.env for c in policy.brokered("api.test", 8443)] == ["GH_TOKEN"]
    assert [c.env for c in policy.brokered("a.git.test", 443)] == ["GH_TOKEN"]
    assert policy.brokered("a.git.test", 80) == []
    assert policy.brokered("other.test", 443) == []
    assert policy.brokered("api.test.evil", 443) == []


@pytest.mark.parametrize(
    ("allow", "hosts", "problem"),
    [
        ([], ["api.test"], "'api.test' is not in the allow list"),
        (["api.test:443"], ["api.test"], "'api.test' is not in the allow list"),
        (["a.test"], ["*.a.test"], "'*.a.test' is not in the allow list"),
        (["*.a.test"], ["a.test"], "'a.test' is not in the allow list"),
    ],
)
def test_each_credential_host_must_be_allowed(
    allow: list[str], hosts: list[str], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        NetworkPolicy(allow=allow, credentials=[Credential(env="T", hosts=hosts)])


def test_an_allow_entry_covers_narrower_credential_hosts() -> None:
    policy = NetworkPolicy(
        allow=["*.a.test", "b.test"],
        credentials=[Credential(env="T", hosts=["x.a.test", "*.y.a.test", "b.test:443"])],
    )
    assert policy.credential_problems() == []


def test_a_denied_credential_host_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"'x\.a\.test' is denied"):
        NetworkPolicy(
            allow=["*.a.test"],
            deny=["x.a.test"],
            credentials=[Credential(env="T", hosts=["x.a.test"])],
        )


@pytest.mark.parametrize(
    ("credential", "message"),
    [
        ({"env": "1TOKEN", "hosts": ["api.test"]}, "an environment variable name"),
        ({"env": "A-B", "hosts": ["api.test"]}, "an environment variable name"),
        ({"env": "HTTPS_PROXY", "hosts": ["api.test"]}, "sets this variable itself"),
        ({"env": "ssl_cert_file", "hosts": ["api.test"]}, "sets this variable itself"),
        ({"env": "AIRLOCK_X", "hosts": ["api.test"]}, "sets this variable itself"),
        ({"env": "T", "hosts": []}, "at least 1 item"),
        ({"env": "T", "hosts": ["https://api.test/"]}, "not a URL"),
        ({"env": "T", "hosts": ["api.test"], "value": "x"}, "Extra inputs"),
    ],
)
def test_credentials_are_read_strictly(credential: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NetworkPolicy(allow=["api.test"], credentials=[credential])  # type: ignore[list-item]


def test_a_credential_named_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="'T' is given twice"):
        NetworkPolicy(
            allow=["a.test"],
            credentials=[
                Credential(env="T", hosts=["a.test"]),
                Credential(env="T", hosts=["a.test"]),
            ],
        )


def test_a_policy_file_carries_credentials(tmp_path: Path) -> None:
    text = (
        "network:\n  allow: [api.test]\n"
        "  credentials:\n    - env: GH_TOKEN\n      hosts: [api.test]\n"
    )
    policy = Policy.load(str(write(tmp_path, "p.yaml", text))).network
    assert policy.credentials == [Credential(env="GH_TOKEN", hosts=["api.test"])]


def test_extends_checks_credentials_once_merged_and_joins_their_hosts(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.yaml",
        "network:\n  allow: [api.test, git.test]\n  credentials: [{env: T, hosts: [api.test]}]\n",
    )
    child = (
        "extends: base.yaml\nnetwork:\n"
        "  credentials: [{env: T, hosts: [git.test]}, {env: U, hosts: [api.test]}]\n"
    )
    policy = Policy.load(str(write(tmp_path, "child.yaml", child))).network
    assert policy.credentials == [
        Credential(env="T", hosts=["api.test", "git.test"]),
        Credential(env="U", hosts=["api.test"]),
    ]
    wrong = "extends: base.yaml\nnetwork:\n  credentials: [{env: V, hosts: [evil.test]}]\n"
    path = write(tmp_path, "wrong.yaml", wrong)
    with pytest.raises(PolicyError) as caught:
        Policy.load(str(path))
    assert str(path) in str(caught.value)
    assert "credential 'V': 'evil.test' is not in the allow list" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "network:\n  allow: [a.test]\n  credentials: [{env: T, host: [a.test]}]\n",
            "network.credentials[0].host: unknown key; did you mean 'hosts'?",
        ),
        ("network:\n  credentials: [{env: T, hosts: [a.test]}]\n", "not in the allow list"),
        ("network:\n  credentials: T\n", "network.credentials: should be a list"),
    ],
)
def test_a_bad_credential_is_a_policy_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "p.yaml", text)
    with pytest.raises(PolicyError) as caught:
        Policy.load(str(path))
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_the_credential_option_adds_credentials() -> None:
    policy = PRESETS["dev"].allowing_hosts(["api.test", "git.test"])
    brokered = policy.brokering(["T=api.test", "T=git.test", "U=api.test,git.test"]).network
    assert brokered.credentials == [
        Credential(env="T", hosts=["api.test", "git.test"]),
        Credential(env="U", hosts=["api.test", "git.test"]),
    ]
    assert policy.brokering([]) is policy


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("T", "expected NAME=HOST[,HOST]"),
        ("=api.test", "expected NAME=HOST[,HOST]"),
        ("T=", "expected NAME=HOST[,HOST]"),
        ("T=evil.test", "--credential: credential 'T': 'evil.test' is not in the allow list"),
        ("T=api.test,", "an empty entry"),
        ("NO_PROXY=api.test", "sets this variable itself"),
    ],
)
def test_a_bad_credential_option_says_why(item: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PRESETS["dev"].allowing_hosts(["api.test"]).brokering([item])
