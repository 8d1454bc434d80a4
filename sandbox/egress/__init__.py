"""A session's egress proxy: the only way out of a sandbox, judged by host name.

    from sandbox.egress import EgressProxy, Resolver
    from security import NetworkPolicy

    proxy = EgressProxy(NetworkPolicy(allow=["pypi.org"]), Resolver(), audit=print)
    server = await proxy.listen_unix("/run/airlock/egress.sock")  # or proxy.serve(r, w)

Credential brokering (`SessionBroker`): the session holds placeholders, and the proxy
puts the secrets in request headers toward their hosts alone, terminating those hosts'
TLS with the session's own CA (`SessionAuthority`).

`EgressProxy.serve` takes any stream pair, so how connections reach the host (a Unix
socket, streams over the exec channel) is the transport's business. The modules under
this package are the implementation.
"""

from sandbox.egress.addresses import forbidden_address
from sandbox.egress.authority import SessionAuthority
from sandbox.egress.broker import CredentialBroker, SessionBroker
from sandbox.egress.credentials import (
    PLACEHOLDER_PATTERN,
    PLACEHOLDER_PREFIX,
    CredentialError,
    Credentials,
    HeaderRewrite,
    scrub_placeholders,
)
from sandbox.egress.limits import EgressLimits
from sandbox.egress.lookup_pool import BlockingLookup, PooledLookup, getaddrinfo_addresses
from sandbox.egress.proxy import Audit, Connect, EgressProxy, open_upstream
from sandbox.egress.proxy_loop import proxy_loop, run_on_proxy_loop
from sandbox.egress.records import EgressRecord
from sandbox.egress.refusal import REASON_HEADER, EgressRefused
from sandbox.egress.resolver import (
    RESOLVE_ENV,
    Lookup,
    Resolver,
    ResolveSpecError,
    parse_resolve_spec,
)
from sandbox.egress.tls_hello import ClientHello

__all__ = [
    "PLACEHOLDER_PATTERN",
    "PLACEHOLDER_PREFIX",
    "REASON_HEADER",
    "RESOLVE_ENV",
    "Audit",
    "BlockingLookup",
    "ClientHello",
    "Connect",
    "CredentialBroker",
    "CredentialError",
    "Credentials",
    "EgressLimits",
    "EgressProxy",
    "EgressRecord",
    "EgressRefused",
    "HeaderRewrite",
    "Lookup",
    "PooledLookup",
    "ResolveSpecError",
    "Resolver",
    "SessionAuthority",
    "SessionBroker",
    "forbidden_address",
    "getaddrinfo_addresses",
    "open_upstream",
    "parse_resolve_spec",
    "proxy_loop",
    "run_on_proxy_loop",
    "scrub_placeholders",
]
