"""The proxy's resolver: the test mapping's syntax (``name=addr`` on every port,
``name:port=addr`` on one), mapped names only, and which addresses a looked-up name may
never have."""

from __future__ import annotations

import asyncio
import logging
from ipaddress import ip_address

import pytest

from sandbox.egress import (
    RESOLVE_ENV,
    EgressRefused,
    Resolver,
    ResolveSpecError,
    forbidden_address,
    parse_resolve_spec,
)


def test_a_spec_maps_names_to_addresses() -> None:
    mapping = parse_resolve_spec("pypi.test=127.0.0.1, Git.Test.=[::1],npm.test = 10.0.0.2")
    assert mapping == {
        "pypi.test": ip_address("127.0.0.1"),
        "git.test": ip_address("::1"),
        "npm.test": ip_address("10.0.0.2"),
    }
    assert parse_resolve_spec("") == {}
    assert parse_resolve_spec("  ") == {}


def test_a_spec_pins_a_name_to_one_port() -> None:
    mapping = parse_resolve_spec(
        "pypi.test:8080=127.0.0.1, Git.Test.:0443=[::1],pypi.test=10.0.0.2"
    )
    assert mapping == {
        "pypi.test:8080": ip_address("127.0.0.1"),
        "git.test:443": ip_address("::1"),
        "pypi.test": ip_address("10.0.0.2"),
    }
    assert parse_resolve_spec("a.test:1=127.0.0.1,a.test:65535=127.0.0.1") == {
        "a.test:1": ip_address("127.0.0.1"),
        "a.test:65535": ip_address("127.0.0.1"),
    }


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("pypi.test", "expected name=address or name:port=address"),
        ("pypi.test=", "expected name=address"),
        ("=127.0.0.1", "expected name=address"),
        ("pypi.test=127.0.0.1,", "expected name=address"),
        (":80=127.0.0.1", "'' is not a host name"),
        ("pypi.test:0=127.0.0.1", "port '0' is not from 1 to 65535"),
        ("pypi.test:000=127.0.0.1", "port '000' is not from 1 to 65535"),
        ("pypi.test:65536=127.0.0.1", "port '65536' is not from 1 to 65535"),
        pytest.param("pypi.test:" + "9" * 5000 + "=1.1.1.1", "not from 1 to 65535", id="huge port"),
        ("pypi.test:=127.0.0.1", "port '' is not a number"),
        ("pypi.test:http=127.0.0.1", "port 'http' is not a number"),
        ("pypi.test:-1=127.0.0.1", "port '-1' is not a number"),
        ("pypi.test:+80=127.0.0.1", "port '+80' is not a number"),
        ("pypi.test:\uff18\uff10=127.0.0.1", "is not a number"),  # fullwidth digits
        ("pypi.test:80:81=127.0.0.1", "port '80:81' is not a number"),
        ("pypi.test:80=127.0.0.1,PYPI.test.:080=127.0.0.2", "'pypi.test:80' is mapped twice"),
        ("127.0.0.1=127.0.0.1", "is not a host name"),
        ("*.pypi.test=127.0.0.1", "is not a host name"),
        ("pypi.test=localhost", "is not an IP address"),
        ("pypi.test=127.1", "is not an IP address"),
        ("pypi.test=127.0.0.1,PYPI.test=127.0.0.2", "mapped twice"),
    ],
)
def test_a_bad_spec_is_a_clear_error(spec: str, words: str) -> None:
    with pytest.raises(ResolveSpecError) as caught:
        parse_resolve_spec(spec)
    assert str(caught.value).startswith(f"{RESOLVE_ENV}: ")
    assert words in str(caught.value)


def resolve(resolver: Resolver, host: str) -> list[str]:
    return [str(a) for a in asyncio.run(resolver.resolve(host, 443))]


def refusal(resolver: Resolver, host: str) -> EgressRefused:
    with pytest.raises(EgressRefused) as caught:
        asyncio.run(resolver.resolve(host, 443))
    return caught.value


def table(answers: dict[str, list[str]], asked: list[str] | None = None) -> Resolver:
    async def lookup(name: str, port: int) -> list[str]:
        if asked is not None:
            asked.append(name)
        if name not in answers:
            raise OSError("no such name")
        return answers[name]

    return Resolver({"pypi.test": ip_address("127.0.0.1")}, lookup=lookup)


def test_a_mapped_name_resolves_without_a_lookup_even_to_loopback() -> None:
    asked: list[str] = []
    resolver = table({"pypi.test": ["8.8.8.8"]}, asked)
    assert resolve(resolver, "PyPI.test.") == ["127.0.0.1"]
    assert asked == []


def test_the_environment_gives_the_mapping() -> None:
    resolver = Resolver.from_environment({RESOLVE_ENV: "pypi.test=127.0.0.1"})
    assert resolver.mapping == {"pypi.test": ip_address("127.0.0.1")}
    assert Resolver.from_environment({}).mapping == {}
    with pytest.raises(ResolveSpecError):
        Resolver.from_environment({RESOLVE_ENV: "pypi.test"})


def test_a_pinned_mapping_holds_on_its_port_alone() -> None:
    asked: list[tuple[str, int]] = []

    async def lookup(name: str, port: int) -> list[str]:
        asked.append((name, port))
        raise OSError("no such name")

    pinned = Resolver(parse_resolve_spec("pypi.test:8080=127.0.0.1"), lookup=lookup)
    assert asyncio.run(pinned.resolve("PyPI.test.", 8080)) == [ip_address("127.0.0.1")]
    with pytest.raises(EgressRefused) as caught:
        asyncio.run(pinned.resolve("pypi.test", 8081))
    assert (caught.value.status, caught.value.reason) == (502, "name does not resolve")
    assert asked == [("pypi.test", 8081)]  # another port is looked up as any name is


def test_a_pinned_mapping_wins_over_the_plain_one_on_its_port() -> None:
    both = Resolver(parse_resolve_spec("pypi.test=10.0.0.2,pypi.test:8080=127.0.0.1"))
    assert asyncio.run(both.resolve("pypi.test", 8080)) == [ip_address("127.0.0.1")]
    assert asyncio.run(both.resolve("pypi.test", 8081)) == [ip_address("10.0.0.2")]
    assert asyncio.run(both.resolve("pypi.test", 80)) == [ip_address("10.0.0.2")]


def test_a_plain_mapping_to_a_forbidden_address_is_warned_of_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="sandbox.egress.resolver"):
        Resolver.from_environment({RESOLVE_ENV: "pypi.test=127.0.0.1,git.test=[fd12::1]"})
    (record,) = caplog.records
    message = record.getMessage()
    assert "pypi.test=127.0.0.1 (loopback), git.test=fd12::1 (private)" in message
    assert "every TCP port of its address is reachable" in message
    assert "name:port=address (pypi.test:PORT=127.0.0.1)" in message

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sandbox.egress.resolver"):
        Resolver.from_environment(
            {RESOLVE_ENV: "pypi.test:8080=127.0.0.1,cdn.test=93.184.215.14,v6.test:443=[::1]"}
        )
        Resolver()
    assert caplog.records == []


def test_a_public_answer_is_kept_whole() -> None:
    resolver = table({"cdn.test": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]})
    assert resolve(resolver, "cdn.test") == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]


def test_one_forbidden_address_refuses_the_name() -> None:
    error = refusal(table({"mixed.test": ["93.184.215.14", "192.168.1.1"]}), "mixed.test")
    assert (error.status, error.reason) == (403, "mixed.test resolves to a private address")


def test_unresolvable_and_slow_names_are_502s() -> None:
    assert refusal(table({}), "nowhere.test").status == 502
    assert refusal(table({"empty.test": []}), "empty.test").reason == "name does not resolve"

    async def slow(name: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return []

    error = refusal(Resolver(lookup=slow, timeout=0.05), "slow.test")
    assert (error.status, error.reason) == (502, "name lookup timed out")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.1", "private"),
        ("fd12::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("::", "unspecified"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("192.0.2.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a00:1", "private"),
        ("2002:a00:1::1", "private"),
        ("2001::1", "private"),
        ("fec0::1", "site-local"),  # deprecated, routed inside sites; Python calls it global
        ("4000::1", "reserved"),  # outside 2000::/3, the IPv6 unicast space assigned
    ],
)
def test_forbidden_addresses(address: str, kind: str) -> None:
    assert forbidden_address(ip_address(address)) == kind


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_fine(address: str) -> None:
    assert forbidden_address(ip_address(address)) is None
