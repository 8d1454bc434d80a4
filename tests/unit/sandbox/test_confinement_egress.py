"""Confinement in a session with egress: the proof under the session's allow list, a
Landlock ruleset that lets TCP connect reach the proxy's port alone, its wire form and
its report. The kernel's side is in `test_confined_agent_egress.py`."""

from __future__ import annotations

import pytest

from sandbox import EGRESS_PORT, landlock
from sandbox.confinement import Confinement, failure_note, read_only_confinement
from sandbox.landlock import NET_BIND_TCP, NET_CONNECT_TCP, PortRule, read_only_ruleset
from sandbox.results import ConfinementReport
from security import NetworkPolicy

FILES = NetworkPolicy(allow=["files.test"])
FETCH = "curl -s http://files.test:8080/hello.txt"


def test_a_fetch_from_an_allowed_host_is_confined_with_the_proxy_port_only() -> None:
    confinement = read_only_confinement(FETCH, FILES)
    assert confinement is not None
    assert confinement.programs == ("curl",) and confinement.connect_ports == (EGRESS_PORT,)
    assert confinement.wire() == {
        "programs": ["curl"], "required": False, "connect_ports": [EGRESS_PORT]
    }  # fmt: skip
    wget = read_only_confinement("wget -qO- http://files.test/a", FILES)
    assert wget is not None and wget.connect_ports == (EGRESS_PORT,)


def test_without_egress_nothing_differs_from_before() -> None:
    for egress in (None, NetworkPolicy(), NetworkPolicy(allow=[], deny=["files.test"])):
        assert read_only_confinement(FETCH, egress) is None  # not proven: runs unconfined
        plain = read_only_confinement("cat README.md", egress)
        assert plain is not None and plain.connect_ports == ()
        assert plain.wire() == {"programs": ["cat"], "required": False}


def test_egress_proves_fetches_but_nothing_that_writes_or_posts() -> None:
    # the host is the proxy's to judge (it refuses other.test): the fetch is still read-only
    assert read_only_confinement("curl -s http://other.test/x", FILES) is not None
    assert read_only_confinement("curl -s -o out.txt http://files.test/x", FILES) is None
    assert read_only_confinement("curl -s -d x=1 http://files.test/x", FILES) is None
    # a command that is read-only anyway gets the proxy port too (the session has egress)
    listed = read_only_confinement("ls", FILES)
    assert listed is not None and listed.connect_ports == (EGRESS_PORT,)


def test_connect_ports_are_bounded_tcp_ports() -> None:
    with pytest.raises(ValueError):
        Confinement(programs=("curl",), connect_ports=(0,))
    with pytest.raises(ValueError):
        Confinement(programs=("curl",), connect_ports=(65536,))
    with pytest.raises(ValueError):
        Confinement(programs=("curl",), connect_ports=tuple(range(1, 20)))


@pytest.mark.parametrize("abi", range(4, 10))
def test_the_ruleset_grants_connect_to_the_proxy_port_and_bind_nowhere(abi: int) -> None:
    ruleset = read_only_ruleset(abi, "/tmp/scratch", ["/usr/bin/curl"], (EGRESS_PORT,))
    assert ruleset.handled_net == NET_BIND_TCP | NET_CONNECT_TCP  # both handled: denied...
    assert ruleset.port_rules == (PortRule(EGRESS_PORT, NET_CONNECT_TCP),)  # ...but this
    assert read_only_ruleset(abi, "/tmp/scratch", ["/usr/bin/curl"]).port_rules == ()


@pytest.mark.parametrize("abi", range(1, 4))
def test_below_abi_4_a_port_cannot_be_granted(abi: int) -> None:
    with pytest.raises(ValueError, match="cannot limit TCP connect"):
        read_only_ruleset(abi, "/tmp/scratch", [], (EGRESS_PORT,))
    assert read_only_ruleset(abi, "/tmp/scratch", []).handled_net == 0


def test_the_report_says_connect_was_limited_to_the_proxy_port() -> None:
    egress = ConfinementReport(
        confined=True, abi=7, network=True, connect_ports=(3128,), syscall_filter=True
    )
    summary = egress.summary()
    assert "TCP connect only to the egress proxy (port 3128)" in summary
    assert "no other network sockets" in summary and "no network sockets" not in summary
    plain = ConfinementReport(confined=True, abi=7, network=True, syscall_filter=True)
    assert "no network sockets" in plain.summary() and "3128" not in plain.summary()
    assert landlock.NET_ABI == 4


def test_the_failure_note_names_the_proxy_as_the_only_way_out() -> None:
    egress = ConfinementReport(confined=True, network=True, connect_ports=(3128,))
    assert "no network but TCP to the egress proxy (127.0.0.1:3128)" in failure_note(egress)
    plain = ConfinementReport(confined=True, network=True)
    assert "no network sockets" in failure_note(plain) and "proxy" not in failure_note(plain)
