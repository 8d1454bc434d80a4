"""The network policy: entries read strictly, deny wins, `*.host` means subdomains only,
IP literals in every spelling are refused, and `extends:` joins the lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from security import PRESETS, NetworkPolicy, Policy, PolicyError
from security.network_policy import host_problem, is_ip_literal, normalise_host


def allowed(policy: NetworkPolicy, host: str, port: int = 443) -> bool:
    return policy.decide(host, port)[0]


def test_an_empty_allow_list_means_no_egress() -> None:
    ok, reason = NetworkPolicy().decide("pypi.org", 443)
    assert not ok
    assert "no egress" in reason


def test_every_preset_allows_no_egress() -> None:
    for policy in PRESETS.values():
        assert policy.network == NetworkPolicy()
        assert not allowed(policy.network, "pypi.org")


def test_a_host_entry_allows_that_name_on_any_port_and_nothing_else() -> None:
    policy = NetworkPolicy(allow=["pypi.org"])
    assert allowed(policy, "pypi.org", 443)
    assert allowed(policy, "pypi.org", 8080)
    assert not allowed(policy, "files.pypi.org")
    assert not allowed(policy, "pypi.org.evil.test")
    assert not allowed(policy, "evilpypi.org")


def test_a_wildcard_allows_subdomains_but_not_the_name_itself() -> None:
    policy = NetworkPolicy(allow=["*.pythonhosted.org"])
    assert allowed(policy, "files.pythonhosted.org")
    assert allowed(policy, "a.b.pythonhosted.org")
    assert not allowed(policy, "pythonhosted.org")
    assert not allowed(policy, "evilpythonhosted.org")


def test_a_port_entry_allows_only_that_port() -> None:
    policy = NetworkPolicy(allow=["git.test:8443", "*.npm.test:443"])
    assert allowed(policy, "git.test", 8443)
    assert not allowed(policy, "git.test", 443)
    assert allowed(policy, "registry.npm.test", 443)
    assert not allowed(policy, "registry.npm.test", 80)


def test_deny_wins_over_allow() -> None:
    policy = NetworkPolicy(allow=["*.corp.test", "corp.test"], deny=["secrets.corp.test"])
    assert allowed(policy, "build.corp.test")
    ok, reason = policy.decide("secrets.corp.test", 443)
    assert not ok
    assert reason == "denied by policy (secrets.corp.test)"
    port_deny = NetworkPolicy(allow=["corp.test"], deny=["corp.test:22"])
    assert allowed(port_deny, "corp.test", 443)
    assert not allowed(port_deny, "corp.test", 22)


def test_hosts_are_normalised_before_matching() -> None:
    policy = NetworkPolicy(allow=["pypi.org"], deny=["bad.pypi.org"])
    assert allowed(policy, "PyPI.ORG")
    assert allowed(policy, "pypi.org.")
    assert not allowed(policy, "pypi.org..")
    assert not allowed(policy, "BAD.pypi.org.")
    assert normalise_host("Example.COM.") == "example.com"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "0x7f.1",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "017700000001",
        "1.2.3.4.",
        "::1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "::ffff:7f00:1",
        "169.254.169.254",
        "example.0x10",
        "0x",
    ],
)
def test_ip_literals_are_refused_in_every_spelling(host: str) -> None:
    policy = NetworkPolicy(allow=["pypi.org"])
    ok, reason = policy.decide(host, 80)
    assert not ok
    assert reason == "IP literal"
    assert is_ip_literal(normalise_host(host))


@pytest.mark.parametrize(
    "host", ["", "a..b", "-a.test", "a-.test", "pyp%69.org", "pypi.org/x", "bücher.de", "a b"]
)
def test_malformed_names_are_refused(host: str) -> None:
    ok, reason = NetworkPolicy(allow=["pypi.org"]).decide(host, 80)
    assert not ok
    assert reason == "invalid host name"


def test_a_long_name_is_refused() -> None:
    name = ".".join(["a" * 63] * 4)  # 255 characters
    assert host_problem(name) == "invalid host name"
    assert host_problem(name[:253].rstrip(".")) is None


def test_names_that_merely_contain_digits_are_names() -> None:
    policy = NetworkPolicy(allow=["1e100.net", "*.s3.amazonaws.com"])
    assert allowed(policy, "1e100.net")
    assert allowed(policy, "my_bucket.s3.amazonaws.com")
    assert not is_ip_literal("1e100.net")


def test_a_bad_port_is_refused() -> None:
    policy = NetworkPolicy(allow=["pypi.org"])
    assert policy.decide("pypi.org", 0) == (False, "invalid port")
    assert policy.decide("pypi.org", 65536) == (False, "invalid port")


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("", "empty"),
        ("PyPI.org", "lowercase"),
        ("pypi.org.", "trailing dot"),
        ("https://pypi.org", "not a URL"),
        ("pypi.org/simple", "not a URL"),
        ("user@pypi.org", "not a URL"),
        ("pypi.org:0", "1 to 65535"),
        ("pypi.org:65536", "1 to 65535"),
        ("pypi.org:080", "1 to 65535"),
        ("pypi.org:", "1 to 65535"),
        ("pypi.org:https", "1 to 65535"),
        ("127.0.0.1", "IP literals"),
        ("10.0.0.1:80", "IP literals"),
        ("0x7f.1", "IP literals"),
        ("[::1]:443", "IP literals"),
        ("::1", "IP literals"),
        ("*", "wildcard"),
        ("*.*.test", "wildcard"),
        ("pypi.*", "wildcard"),
        ("*.org", "too wide"),
        ("bücher.de", "xn--bcher-kva.de"),
        (" pypi.org", "spaces"),
        ("a..b", "not a valid host name"),
        ("-x.test", "not a valid host name"),
    ],
)
def test_entries_are_validated_strictly(entry: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NetworkPolicy(allow=[entry])
    assert words in str(caught.value)
    with pytest.raises(ValidationError):
        NetworkPolicy(deny=[entry])


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        NetworkPolicy.model_validate({"allow": [], "alow": ["pypi.org"]})


def test_merged_is_the_union_of_both_lists() -> None:
    parent = NetworkPolicy(allow=["pypi.org", "*.pythonhosted.org"], deny=["evil.test"])
    child = NetworkPolicy(allow=["pypi.org", "registry.npmjs.org"], deny=["pypi.org:80"])
    merged = parent.merged(child)
    assert merged.allow == ["pypi.org", "*.pythonhosted.org", "registry.npmjs.org"]
    assert merged.deny == ["evil.test", "pypi.org:80"]
    assert allowed(merged, "registry.npmjs.org")
    assert not allowed(merged, "pypi.org", 80)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_policy_file_carries_its_network_lists(tmp_path: Path) -> None:
    text = "extends: dev\nnetwork:\n  allow: [pypi.org, '*.pythonhosted.org:443']\n"
    policy = Policy.load(str(write(tmp_path, "p.yaml", text)))
    assert policy.network.allow == ["pypi.org", "*.pythonhosted.org:443"]
    assert policy.network.deny == []
    assert policy.edits == "workspace"  # the rest still comes from dev


def test_extends_joins_the_network_lists(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "network:\n  allow: [pypi.org, git.test]\n  deny: [x.test]\n")
    text = "extends: base.yaml\nnetwork:\n  allow: [npm.test]\n  deny: [git.test]\n"
    policy = Policy.load(str(write(tmp_path, "child.yaml", text))).network
    assert policy.allow == ["pypi.org", "git.test", "npm.test"]
    assert policy.deny == ["x.test", "git.test"]
    assert not allowed(policy, "git.test")
    assert allowed(policy, "pypi.org")
    unchanged = Policy.load(str(write(tmp_path, "plain.yaml", "extends: base.yaml\n"))).network
    assert unchanged.allow == ["pypi.org", "git.test"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("network:\n  alow: [pypi.org]\n", "network.alow: unknown key; did you mean 'allow'?"),
        ("network:\n  allow: [PyPI.org]\n", "network.allow[0]: 'PyPI.org': write the name in"),
        ("network:\n  allow: [pypi.org, 127.0.0.1]\n", "network.allow[1]: '127.0.0.1': IP"),
        ("network:\n  deny: pypi.org\n", "network.deny: should be a list"),
        ("network: [pypi.org]\n", "network: should be a mapping"),
        ("network:\n  allow: [5]\n", "network.allow[0]: should be a string"),
    ],
)
def test_a_bad_network_section_is_a_policy_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "p.yaml", text)
    with pytest.raises(PolicyError) as caught:
        Policy.load(str(path))
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
