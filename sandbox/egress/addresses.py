"""Which resolved addresses the proxy never connects to.

Loopback, private, link-local, site-local (``fec0::/10``, which Python calls global),
multicast, unspecified, reserved, shared (CGNAT, 100.64.0.0/10), anything else not
globally routable (for IPv6: outside ``2000::/3``), and the cloud metadata services,
some of which sit on public addresses (Azure's 168.63.129.16). An IPv6 address that
carries an IPv4 one (mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4) is judged
by the IPv4 address inside it too.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

IPAddress = IPv4Address | IPv6Address

METADATA_NETWORKS: tuple[IPv4Network | IPv6Network, ...] = tuple(
    ip_network(text)
    for text in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
        "169.254.170.2/32",  # AWS ECS task metadata
        "169.254.170.23/32",  # AWS EKS pod identity
        "168.63.129.16/32",  # Azure wire server (public address space)
        "100.100.100.200/32",  # Alibaba Cloud
        "192.0.0.192/32",  # Oracle Cloud (classic)
        "fd00:ec2::/64",  # AWS instance metadata, DNS and time over IPv6
        "fd20:ce::254/128",  # GCP metadata over IPv6
    )
)
_SHARED = IPv4Network("100.64.0.0/10")
_NAT64 = IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")  # the only IPv6 unicast space assigned


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def forbidden_address(address: IPAddress) -> str | None:
    """What kind of address ``address`` is when the proxy must not connect to it (a few
    words: ``"loopback"``, ``"cloud metadata"``, ...), or None when it may."""
    if isinstance(address, IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            problem = forbidden_address(inner)
            if problem or address.ipv4_mapped is not None or address in _NAT64:
                return problem
    if any(address in network for network in METADATA_NETWORKS):
        return "cloud metadata"
    checks = (
        (address.is_loopback, "loopback"),
        (address.is_unspecified, "unspecified"),
        (address.is_link_local, "link-local"),
        (isinstance(address, IPv6Address) and address.is_site_local, "site-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, IPv4Address) and address in _SHARED, "shared (CGNAT)"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "non-global"),
        (isinstance(address, IPv6Address) and address not in _GLOBAL_UNICAST_V6, "non-global"),
    )
    return next((kind for hit, kind in checks if hit), None)
