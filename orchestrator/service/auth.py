"""Who a request is: its bearer token, checked against the store, and what its role
allows. 401 without a token the store knows; 403 for an action the role may not do."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from orchestrator.service.roles import Action, allows
from orchestrator.service.tokens import Identity, authenticate

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="airlock"'}


async def identify(request: Request) -> Identity:
    """The identity of ``request``'s ``Authorization: Bearer`` token; 401 otherwise.
    On the event loop's thread, where the store was opened (a lookup by hash)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "an Authorization: Bearer token is required", CHALLENGE)
    store: sqlite3.Connection = request.app.state.store
    who = authenticate(store, token.strip())
    if who is None:
        raise HTTPException(401, "the token is not known to this service", CHALLENGE)
    return who


def requires(action: Action) -> Callable[[Request], Awaitable[Identity]]:
    """A dependency: the request's identity, when its role may do ``action``; 403 when
    it may not."""

    async def check(request: Request) -> Identity:
        who = await identify(request)
        if not allows(who.role, action):
            raise HTTPException(403, f"the role {who.role} may not {action} here")
        return who

    return check
