"""The network part of a policy: which hosts a session's egress proxy may reach.

An entry is ``host`` (that name, any port), ``*.host`` (its subdomains, not the name
itself), or either with ``:port``. Entries are written as the proxy will compare them:
lowercase ASCII (an internationalised name in its ``xn--`` form), no trailing dot, no
scheme, path or user. An IP literal is never an entry: the proxy refuses every IP
literal, so an entry naming one would promise what never happens.

`NetworkPolicy.decide` is the whole rule: a host that is not a valid name (an IP literal
in any spelling, ``127.1``, ``0x7f.1``, ``2130706433``, ``[::1]`` included) is refused;
then a matching ``deny`` entry refuses; then a matching ``allow`` entry allows; anything
else is refused, so an empty ``allow`` means no egress. Pure: no I/O, no resolution
(the proxy resolves names and judges the addresses).

``credentials`` name secrets held in the orchestrator's environment and the hosts each
may be sent to (`Credential`): the sandbox sees a placeholder, and the proxy puts the
real value in the request headers toward those hosts alone. Every credential host must
be covered by an ``allow`` entry (a credential toward a host the proxy never reaches
would promise what never happens); a policy file that ``extends:`` another is checked
once merged, so a child may broker a host its parent allows.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

MAX_NAME = 253  # DNS: the longest name, without its trailing dot
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_HEX_NUMBER = re.compile(r"0x[0-9a-f]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Variables the session's egress itself sets: a credential named so would be overwritten
# (or would overwrite them), so it is refused.
RESERVED_ENV = frozenset(
    {
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
        "CURL_CA_BUNDLE",
        "PIP_CERT",
        "PATH",
        "HOME",
    }
)
UNMERGED = "network_unmerged"
"""A validation context key: the policy is one file of an ``extends:`` chain, whose
credential hosts are checked against the allow list once the chain is merged."""


def normalise_host(host: str) -> str:
    """``host`` as names are compared: lowercase, one trailing dot removed."""
    lowered = host.lower()
    return lowered[:-1] if lowered.endswith(".") else lowered


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` (normalised) is an address rather than a name, in any spelling a
    URL parser or ``inet_aton`` accepts: dotted, bracketed or bare IPv6, and names whose
    last label is a number (``127.1``, ``0x7f.1``, ``2130706433``, ``0177.0.0.1``)."""
    if not host or any(c in host for c in "[]:"):
        return bool(host)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        last = host.rsplit(".", 1)[-1]
        return last.isdigit() or bool(_HEX_NUMBER.fullmatch(last))
    return True


def host_problem(host: str) -> str | None:
    """Why ``host`` (normalised) cannot be judged as a name, or None when it can."""
    if is_ip_literal(host):
        return "IP literal"
    if not host.isascii() or len(host) > MAX_NAME:
        return "invalid host name"
    if not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return "invalid host name"
    return None


@dataclass(frozen=True)
class HostPattern:
    """One parsed entry: a name, whether it stands for its subdomains, and a port."""

    name: str
    subdomains: bool
    port: int | None

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.subdomains:
            return host.endswith("." + self.name)
        return host == self.name

    def covers(self, other: HostPattern) -> bool:
        """Whether every host and port ``other`` matches, this matches too."""
        if self.port is not None and self.port != other.port:
            return False
        if other.subdomains and not self.subdomains:
            return False
        if self.subdomains:
            return other.name.endswith("." + self.name) or (
                other.subdomains and other.name == self.name
            )
        return other.name == self.name


def parse_entry(entry: str) -> HostPattern:
    """``entry`` parsed; a `ValueError` says what is wrong with it, in words."""
    if not entry:
        raise ValueError("an empty entry; write a host name")
    if any(c.isspace() for c in entry):
        raise ValueError(f"{entry!r}: no spaces in an entry")
    if "/" in entry or "@" in entry:
        raise ValueError(f"{entry!r}: a host name (such as pypi.org), not a URL")
    if entry.startswith("[") or entry.count(":") > 1:
        raise ValueError(f"{entry!r}: IP literals are always refused; name the host")
    name, colon, port_text = entry.partition(":")
    port = _parse_port(entry, port_text) if colon else None
    subdomains = name.startswith("*.")
    if subdomains:
        name = name[2:]
    if "*" in name:
        raise ValueError(f"{entry!r}: a wildcard is only a leading '*.' (subdomains)")
    if not name.isascii():
        raise ValueError(f"{entry!r}: write the name in ASCII{_idna_hint(name)}")
    if name != name.lower():
        raise ValueError(f"{entry!r}: write the name in lowercase ({entry.lower()!r})")
    if name.endswith("."):
        raise ValueError(f"{entry!r}: no trailing dot")
    if is_ip_literal(name):
        raise ValueError(f"{entry!r}: IP literals are always refused; name the host")
    if host_problem(name):
        raise ValueError(f"{entry!r}: not a valid host name")
    if subdomains and "." not in name:
        raise ValueError(f"{entry!r}: a wildcard over a whole top-level domain is too wide")
    return HostPattern(name, subdomains, port)


def _parse_port(entry: str, text: str) -> int:
    if not text.isascii() or not text.isdigit() or text.startswith("0"):
        raise ValueError(f"{entry!r}: the port should be a number from 1 to 65535")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"{entry!r}: the port should be a number from 1 to 65535")
    return port


def _idna_hint(name: str) -> str:
    try:
        return f" (its IDNA form: {name.encode('idna').decode('ascii')!r})"
    except UnicodeError:
        return ""


def _checked_entry(entry: str) -> str:
    parse_entry(entry)
    return entry


HostEntry = Annotated[str, AfterValidator(_checked_entry)]


def _checked_env_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"{name!r}: an environment variable name (letters, digits, _)")
    if name.upper() in RESERVED_ENV or name.upper().startswith("AIRLOCK_"):
        raise ValueError(f"{name!r}: the session's egress sets this variable itself")
    return name


class Credential(BaseModel):
    """A secret the egress proxy adds for the session: the orchestrator's environment
    variable ``env`` holds it, and it is sent to ``hosts`` alone. The session's ``env``
    variable holds a placeholder, which the proxy replaces in request headers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: Annotated[str, AfterValidator(_checked_env_name)] = Field(
        description="the variable, in the orchestrator's environment, that holds the secret"
    )
    hosts: list[HostEntry] = Field(
        min_length=1, description="where it may be sent: entries as in allow, each allowed"
    )

    def patterns(self) -> tuple[HostPattern, ...]:
        return tuple(parse_entry(entry) for entry in self.hosts)

    def matches(self, host: str, port: int) -> bool:
        """Whether this credential goes to ``host:port`` (a normalised name)."""
        return any(pattern.matches(host, port) for pattern in self.patterns())


class NetworkPolicy(BaseModel):
    """Hosts a session may reach through its egress proxy: deny wins, then allow; an
    empty ``allow`` (the default) means no egress at all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow: list[HostEntry] = Field(
        default_factory=list,
        description="host, *.host (subdomains only) or either with :port; empty = no egress",
    )
    deny: list[HostEntry] = Field(
        default_factory=list, description="entries refused even when an allow entry matches"
    )
    credentials: list[Credential] = Field(
        default_factory=list,
        description="secrets from the orchestrator's environment, each with the allowed "
        "hosts it may be sent to; the session sees placeholders",
    )
    _allow: tuple[tuple[str, HostPattern], ...] = PrivateAttr(default=())
    _deny: tuple[tuple[str, HostPattern], ...] = PrivateAttr(default=())

    def model_post_init(self, context: object, /) -> None:
        self._allow = tuple((entry, parse_entry(entry)) for entry in self.allow)
        self._deny = tuple((entry, parse_entry(entry)) for entry in self.deny)

    @model_validator(mode="after")
    def _credentials_reach_allowed_hosts(self, info: ValidationInfo) -> NetworkPolicy:
        names = [credential.env for credential in self.credentials]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"credential {twice[0]!r} is given twice; list its hosts once")
        if isinstance(info.context, dict) and info.context.get(UNMERGED):
            return self
        problems = self.credential_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def credential_problems(self) -> list[str]:
        """Why a credential's host is not reachable under ``allow`` (and ``deny``)."""
        allow = [parse_entry(entry) for entry in self.allow]
        deny = [parse_entry(entry) for entry in self.deny]
        problems = []
        for credential in self.credentials:
            for entry, pattern in zip(credential.hosts, credential.patterns(), strict=True):
                if not any(rule.covers(pattern) for rule in allow):
                    problems.append(
                        f"credential {credential.env!r}: {entry!r} is not in the allow list "
                        "(allow it too: network.allow or --allow-host)"
                    )
                elif any(rule.covers(pattern) for rule in deny):
                    problems.append(f"credential {credential.env!r}: {entry!r} is denied")
        return problems

    def brokered(self, host: str, port: int) -> list[Credential]:
        """The credentials that go to ``host:port`` (a normalised, allowed name)."""
        return [c for c in self.credentials if c.matches(host, port)]

    def decide(self, host: str, port: int) -> tuple[bool, str]:
        """Whether the proxy may connect to ``host:port``, and a short reason why."""
        if not 1 <= port <= 65535:
            return False, "invalid port"
        name = normalise_host(host)
        problem = host_problem(name)
        if problem:
            return False, problem
        for entry, pattern in self._deny:
            if pattern.matches(name, port):
                return False, f"denied by policy ({entry})"
        for entry, pattern in self._allow:
            if pattern.matches(name, port):
                return True, f"allowed by policy ({entry})"
        if not self._allow:
            return False, "policy allows no egress"
        return False, f"{name}:{port} is not in the allow list"

    def merged(self, child: NetworkPolicy) -> NetworkPolicy:
        """This policy extended by ``child`` (``extends:``): the union of the allow lists
        and of the deny lists, parent's entries first. A child can add a deny that
        overrides a parent's allow, but cannot drop the parent's denies. A credential
        both name is sent to the union of their hosts."""
        hosts: dict[str, list[str]] = {}
        for credential in [*self.credentials, *child.credentials]:
            hosts[credential.env] = list(
                dict.fromkeys([*hosts.get(credential.env, []), *credential.hosts])
            )
        return NetworkPolicy(
            allow=list(dict.fromkeys([*self.allow, *child.allow])),
            deny=list(dict.fromkeys([*self.deny, *child.deny])),
            credentials=[Credential(env=env, hosts=entries) for env, entries in hosts.items()],
        )
