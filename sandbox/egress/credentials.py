"""The secrets one session's proxy brokers: each is read from the orchestrator's
environment when the session starts, and the session sees only its placeholder.

A placeholder is ``airlock-credential-<NAME>-<32 hex digits>``, new for every session:
recognisable in a log or a patch, and guessed by nobody. `Credentials.rewrite` puts the
real value where a request header holds the placeholder, toward the credential's hosts
alone (also inside a ``Basic`` authorization's base64, as git sends a token); toward
any other host the placeholder goes out as it is, and the record names it as withheld.
Nothing else of a request (its line, its body) is rewritten.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from security.network_policy import Credential, NetworkPolicy

PLACEHOLDER_PREFIX = "airlock-credential-"
PLACEHOLDER_PATTERN = re.compile(rb"airlock-credential-([A-Za-z_][A-Za-z0-9_]*)-[0-9a-f]{32}")
"""Any session's placeholder, in bytes (the name is group 1): what `scrub_placeholders` replaces."""
_BASIC = re.compile(r"(?i)(basic[ \t]+)([A-Za-z0-9+/]+=*)")
_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


class CredentialError(ValueError):
    """A credential that cannot be brokered (its variable is unset, empty or holds what
    a header cannot carry); the message names every such variable, never a value."""


@dataclass(frozen=True)
class Brokered:
    """One credential of a session: its name, the secret, the placeholder, where it goes."""

    credential: Credential
    secret: str = field(repr=False)
    placeholder: str

    @property
    def name(self) -> str:
        return self.credential.env


@dataclass(frozen=True)
class HeaderRewrite:
    """Headers as they go upstream, the credentials put in, and those whose placeholder
    was seen toward a host they do not go to (left as they were)."""

    headers: list[tuple[str, str]]
    brokered: frozenset[str] = frozenset()
    withheld: frozenset[str] = frozenset()


def scrub_placeholders(data: bytes) -> bytes:
    """``data`` with every placeholder written as ``${NAME}``: what a patch carries
    instead (worthless outside its session, and a form .npmrc and shells expand)."""
    return PLACEHOLDER_PATTERN.sub(rb"${\1}", data)


def placeholder_for(name: str) -> str:
    """A fresh placeholder for the credential ``name``."""
    return f"{PLACEHOLDER_PREFIX}{name}-{secrets.token_hex(16)}"


class Credentials:
    """The brokered credentials of one session."""

    def __init__(self, brokered: Sequence[Brokered]) -> None:
        self.brokered = tuple(brokered)

    @classmethod
    def from_policy(cls, policy: NetworkPolicy, environ: Mapping[str, str]) -> Credentials:
        """Each of ``policy``'s credentials, its secret read from ``environ``; a
        `CredentialError` names the variables that are unset or unusable."""
        found: list[Brokered] = []
        missing: list[str] = []
        unusable: list[str] = []
        for credential in policy.credentials:
            value = environ.get(credential.env)
            if not value:
                missing.append(credential.env)
            elif not _HEADER_SAFE.fullmatch(value):
                unusable.append(credential.env)
            else:
                found.append(Brokered(credential, value, placeholder_for(credential.env)))
        problems = []
        if missing:
            problems.append(f"{', '.join(missing)}: not set (or empty) in this environment")
        if unusable:
            problems.append(
                f"{', '.join(unusable)}: a header cannot carry the value (printable ASCII, "
                "no surrounding spaces)"
            )
        if problems:
            raise CredentialError("cannot broker credentials: " + "; ".join(problems))
        return cls(found)

    def environment(self) -> dict[str, str]:
        """What the session's environment holds instead of the secrets."""
        return {item.name: item.placeholder for item in self.brokered}

    def brokers(self, host: str, port: int) -> bool:
        """Whether a credential goes to ``host:port`` (a normalised name)."""
        return any(item.credential.matches(host, port) for item in self.brokered)

    def rewrite(self, host: str, port: int, headers: Sequence[tuple[str, str]]) -> HeaderRewrite:
        """``headers`` with the placeholders of the credentials bound for ``host:port``
        replaced by their secrets; other placeholders stay, and are reported withheld."""
        brokered: set[str] = set()
        withheld: set[str] = set()
        given = [item for item in self.brokered if item.placeholder in _joined(headers)]
        if not given:
            return HeaderRewrite(list(headers))
        going = {item.name for item in given if item.credential.matches(host, port)}

        def substitute(text: str) -> str:
            for item in given:
                if item.placeholder in text:
                    if item.name in going:
                        text = text.replace(item.placeholder, item.secret)
                        brokered.add(item.name)
                    else:
                        withheld.add(item.name)
            return text

        rewritten = [(name, _in_basic(substitute(value), substitute)) for name, value in headers]
        return HeaderRewrite(rewritten, frozenset(brokered), frozenset(withheld))


def _joined(headers: Sequence[tuple[str, str]]) -> str:
    """Every header value, and what a Basic authorization's base64 holds, in one text."""
    parts = []
    for _, value in headers:
        parts.append(value)
        for match in _BASIC.finditer(value):
            decoded = _decoded(match.group(2))
            if decoded is not None:
                parts.append(decoded)
    return "\n".join(parts)


def _decoded(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        return None


def _in_basic(value: str, substitute: Callable[[str], str]) -> str:
    """``value`` with ``substitute`` applied inside each Basic credential's base64."""

    def replace(match: re.Match[str]) -> str:
        decoded = _decoded(match.group(2))
        if decoded is None:
            return match.group(0)
        changed = substitute(decoded)
        if changed == decoded:
            return match.group(0)
        return match.group(1) + base64.b64encode(changed.encode("latin-1")).decode("ascii")

    return _BASIC.sub(replace, value)
