"""Names to addresses, by the proxy and never inside the sandbox, with the test mapping.

`Resolver.resolve` returns the addresses the proxy may connect to, and the proxy
connects to those, never resolving again: a name cannot answer the check with one
address and the connection with another (DNS rebinding). When any address a name
resolves to is forbidden (`forbidden_address`), the name is refused. Lookups run on a
bounded pool of their own (`sandbox.egress.lookup_pool`), never on the event loop's
default executor.

``AIRLOCK_EGRESS_RESOLVE="name=127.0.0.1[,name2=addr]"`` (like curl's ``--resolve``)
maps names for tests and local development: a mapped name resolves to its address
alone, without a lookup, and that address is allowed even when it is loopback or
private. No other name is. ``name=addr`` maps the name on every port;
``name:port=addr`` on that port alone, and wins over ``name=addr`` there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from ipaddress import ip_address

from sandbox.egress.addresses import IPAddress, forbidden_address
from sandbox.egress.lookup_pool import PooledLookup
from sandbox.egress.refusal import EgressRefused
from security.network_policy import host_problem, normalise_host

RESOLVE_ENV = "AIRLOCK_EGRESS_RESOLVE"
Lookup = Callable[[str, int], Awaitable[Sequence[str]]]
"""``lookup(name, port)``: the addresses ``name`` has, as text (getaddrinfo's)."""

log = logging.getLogger(__name__)


class ResolveSpecError(ValueError):
    """An ``AIRLOCK_EGRESS_RESOLVE`` value that cannot be read; the message says why."""


def parse_resolve_spec(spec: str) -> dict[str, IPAddress]:
    """``"name=addr,name2:port=addr2"`` as a mapping of ``name`` or ``name:port`` (the
    name normalised, the port a number from 1 to 65535) to addresses; an IPv6
    address may be bracketed. An empty ``spec`` maps nothing."""
    mapping: dict[str, IPAddress] = {}
    if not spec.strip():
        return mapping
    for item in spec.split(","):
        target, equals, address_text = (part.strip() for part in item.partition("="))
        where = f"{RESOLVE_ENV}: {item.strip()!r}"
        if not equals or not target or not address_text:
            raise ResolveSpecError(
                f"{where}: expected name=address or name:port=address"
                " (such as pypi.test=127.0.0.1 or pypi.test:8080=127.0.0.1)"
            )
        key = mapping_key(target, where)
        try:
            address = ip_address(address_text.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise ResolveSpecError(f"{where}: {address_text!r} is not an IP address") from None
        if key in mapping:
            raise ResolveSpecError(f"{where}: {key!r} is mapped twice")
        mapping[key] = address
    return mapping


def mapping_key(target: str, where: str = RESOLVE_ENV) -> str:
    """``name`` or ``name:port`` as a mapping's key: the name normalised, the port in
    decimal; a `ResolveSpecError` (its message starting with ``where``) otherwise."""
    name_text, colon, port_text = target.strip().partition(":")
    name = normalise_host(name_text.strip())
    if not name_text.strip() or host_problem(name):
        raise ResolveSpecError(f"{where}: {name!r} is not a host name")
    if not colon:
        return name
    port_text = port_text.strip()
    if not (port_text.isascii() and port_text.isdigit()):
        raise ResolveSpecError(f"{where}: port {port_text!r} is not a number")
    digits = port_text.lstrip("0")
    if not digits or len(digits) > 5 or int(digits) > 65535:
        raise ResolveSpecError(f"{where}: port {port_text!r} is not from 1 to 65535")
    return f"{name}:{int(digits)}"


class Resolver:
    """Resolves names for one proxy: mapped names first (``name:port`` keys on their
    port, then ``name`` keys), then ``lookup`` within ``timeout`` seconds. The default
    lookup is the system's on the shared lookup pool, with this resolver's own share
    of it (`PooledLookup`)."""

    def __init__(
        self,
        mapping: Mapping[str, IPAddress] | None = None,
        *,
        lookup: Lookup | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.mapping = {mapping_key(key): address for key, address in (mapping or {}).items()}
        self.lookup: Lookup = lookup if lookup is not None else PooledLookup()
        self.timeout = timeout
        _warn_of_every_port(self.mapping)

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], *, lookup: Lookup | None = None, timeout: float = 10.0
    ) -> Resolver:
        """A resolver with the mapping ``environ[RESOLVE_ENV]`` gives (none if unset);
        a `ResolveSpecError` when it is malformed."""
        return cls(parse_resolve_spec(environ.get(RESOLVE_ENV, "")), lookup=lookup, timeout=timeout)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses the proxy may connect to for ``host``, or `EgressRefused`: 403
        when any address is forbidden, 502 when the name does not resolve."""
        name = normalise_host(host)
        mapped = self.mapping.get(f"{name}:{port}")
        if mapped is None:
            mapped = self.mapping.get(name)
        if mapped is not None:
            return [mapped]
        try:
            async with asyncio.timeout(self.timeout):
                texts = await self.lookup(name, port)
        except TimeoutError:
            raise EgressRefused("name lookup timed out", 502) from None
        except OSError:
            raise EgressRefused("name does not resolve", 502) from None
        addresses: list[IPAddress] = []
        for text in texts:
            try:
                address = ip_address(text)
            except ValueError:
                raise EgressRefused("name resolves to something not an address", 502) from None
            problem = forbidden_address(address)
            if problem:
                raise EgressRefused(f"{name} resolves to a {problem} address", 403)
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise EgressRefused("name does not resolve", 502)
        return addresses


def _warn_of_every_port(mapping: Mapping[str, IPAddress]) -> None:
    """One warning for the names mapped on every port to a forbidden address."""
    open_names = [
        (key, address, problem)
        for key, address in mapping.items()
        if ":" not in key and (problem := forbidden_address(address))
    ]
    if not open_names:
        return
    listed = ", ".join(f"{key}={address} ({problem})" for key, address, problem in open_names)
    key, address, _ = open_names[0]
    pinned = f"{key}:PORT=[{address}]" if address.version == 6 else f"{key}:PORT={address}"
    log.warning(
        "%s maps %s on every port: where a policy allows such a name without a port, "
        "every TCP port of its address is reachable through it; map one port alone "
        "with name:port=address (%s)",
        RESOLVE_ENV,
        listed,
        pinned,
    )
