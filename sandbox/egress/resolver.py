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
private. No other name is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from ipaddress import ip_address

from sandbox.egress.addresses import IPAddress, forbidden_address
from sandbox.egress.lookup_pool import PooledLookup
from sandbox.egress.refusal import EgressRefused
from security.network_policy import host_problem, normalise_host

RESOLVE_ENV = "AIRLOCK_EGRESS_RESOLVE"
Lookup = Callable[[str, int], Awaitable[Sequence[str]]]
"""``lookup(name, port)``: the addresses ``name`` has, as text (getaddrinfo's)."""


class ResolveSpecError(ValueError):
    """An ``AIRLOCK_EGRESS_RESOLVE`` value that cannot be read; the message says why."""


def parse_resolve_spec(spec: str) -> dict[str, IPAddress]:
    """``"name=addr,name2=addr2"`` as a mapping of normalised names to addresses; an
    IPv6 address may be bracketed. An empty ``spec`` maps nothing."""
    mapping: dict[str, IPAddress] = {}
    if not spec.strip():
        return mapping
    for item in spec.split(","):
        name, equals, address_text = (part.strip() for part in item.partition("="))
        where = f"{RESOLVE_ENV}: {item.strip()!r}"
        if not equals or not name or not address_text:
            raise ResolveSpecError(f"{where}: expected name=address (such as pypi.test=127.0.0.1)")
        name = normalise_host(name)
        if host_problem(name):
            raise ResolveSpecError(f"{where}: {name!r} is not a host name")
        try:
            address = ip_address(address_text.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise ResolveSpecError(f"{where}: {address_text!r} is not an IP address") from None
        if name in mapping:
            raise ResolveSpecError(f"{where}: {name!r} is mapped twice")
        mapping[name] = address
    return mapping


class Resolver:
    """Resolves names for one proxy: mapped names first, then ``lookup`` within
    ``timeout`` seconds. The default lookup is the system's on the shared lookup pool,
    with this resolver's own share of it (`PooledLookup`)."""

    def __init__(
        self,
        mapping: Mapping[str, IPAddress] | None = None,
        *,
        lookup: Lookup | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.mapping = {normalise_host(name): address for name, address in (mapping or {}).items()}
        self.lookup: Lookup = lookup if lookup is not None else PooledLookup()
        self.timeout = timeout

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
