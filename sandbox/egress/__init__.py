"""A session's egress proxy: the only way out of a sandbox, judged by host name.

    from sandbox.egress import EgressProxy, Resolver
    from security import NetworkPolicy

    proxy = EgressProxy(NetworkPolicy(allow=["pypi.org"]), Resolver(), audit=print)
    server = await proxy.listen_unix("/run/airlock/egress.sock")  # or proxy.serve(r, w)

`EgressProxy.serve` takes any stream pair, so how connections reach the host (a Unix
socket, streams over the exec channel) is the transport's business. The modules under
this package are the implementation.
"""

from sandbox.egress.addresses import forbidden_address
from sandbox.egress.broker import CredentialBroker
from sandbox.egress.limits import EgressLimits
from sandbox.egress.proxy import Audit, Connect, EgressProxy, open_upstream
from sandbox.egress.records import EgressRecord
from sandbox.egress.refusal import REASON_HEADER, EgressRefused
from sandbox.egress.resolver import (
    RESOLVE_ENV,
    Lookup,
    Resolver,
    ResolveSpecError,
    parse_resolve_spec,
    system_lookup,
)
from sandbox.egress.tls_hello import ClientHello

__all__ = [
    "REASON_HEADER",
    "RESOLVE_ENV",
    "Audit",
    "ClientHello",
    "Connect",
    "CredentialBroker",
    "EgressLimits",
    "EgressProxy",
    "EgressRecord",
    "EgressRefused",
    "Lookup",
    "ResolveSpecError",
    "Resolver",
    "forbidden_address",
    "open_upstream",
    "parse_resolve_spec",
    "system_lookup",
]
