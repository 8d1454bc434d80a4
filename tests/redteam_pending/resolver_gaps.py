"""Red team: addresses the resolver lets through although they are not public.

fec0::/10 (IPv6 site-local, deprecated by RFC 3879 but still routed inside some
networks) passes `forbidden_address` because Python's ``is_global`` says True for it.
Run: .venv/bin/python -m tests.redteam_pending.resolver_gaps  (exit 1: broken)
"""

from __future__ import annotations

import asyncio
import sys

from sandbox.egress import Resolver
from sandbox.egress.refusal import EgressRefused

ANSWERS = {"sitelocal.test": ["fec0::1"], "sitelocal-mixed.test": ["fec0:0:0:1::5"]}


async def lookup(name: str, port: int) -> list[str]:
    return ANSWERS[name]


async def main() -> int:
    resolver = Resolver(lookup=lookup)
    broken = 0
    for name in ANSWERS:
        try:
            got = await resolver.resolve(name, 443)
            print(f"{name}: ALLOWED {got}")
            broken += 1
        except EgressRefused as refusal:
            print(f"{name}: refused ({refusal.reason})")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
