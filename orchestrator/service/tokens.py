"""Bearer tokens: who a request is, for which tenant, in which role.

A token is ``alk_`` and 43 characters of `secrets.token_urlsafe` (256 bits). The store
keeps only its SHA-256: a stolen database grants nothing. A request's token is hashed
and looked up by that hash, so no comparison ever touches a stored secret.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from enum import StrEnum

from pydantic import BaseModel, Field

TOKEN_PREFIX = "alk_"  # noqa: S105 (a prefix, not a secret)
TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class Role(StrEnum):
    """What a token may do (`orchestrator.service.roles` says which actions)."""

    ADMIN = "admin"
    RUNNER = "runner"
    APPROVER = "approver"
    VIEWER = "viewer"


class Identity(BaseModel):
    """The holder of a valid token, as every action is attributed."""

    tenant: str
    role: Role
    max_sessions: int | None = Field(None, ge=1)
    token_id: str = Field(description="the first 12 hex digits of the token's hash")


class TokenError(ValueError):
    """A token cannot be made as asked; the message says why."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    store: sqlite3.Connection,
    tenant: str,
    role: Role,
    max_sessions: int | None = None,
    *,
    usd_per_day: float | None = None,
    cpu_seconds_per_day: float | None = None,
) -> str:
    """A new token for ``tenant`` in ``role``, stored as its hash; returns the token,
    which nothing keeps. Its caps bind its whole tenant (the lowest of the tenant's
    tokens' caps holds: `orchestrator.service.quotas`)."""
    if not TENANT_NAME.fullmatch(tenant):
        raise TokenError(
            f"tenant {tenant!r}: use 1-63 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if max_sessions is not None and max_sessions < 1:
        raise TokenError(f"max sessions must be at least 1, not {max_sessions}")
    for name, cap in (("USD", usd_per_day), ("CPU-seconds", cpu_seconds_per_day)):
        if cap is not None and not cap > 0:
            raise TokenError(f"{name} per day must be more than 0, not {cap}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.execute(
        "INSERT INTO tokens (hash, tenant, role, max_sessions, usd_per_day, cpu_seconds_per_day, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (_digest(token), tenant, str(role), max_sessions, usd_per_day, cpu_seconds_per_day,
         time.time()),
    )  # fmt: skip
    return token


def authenticate(store: sqlite3.Connection, token: str) -> Identity | None:
    """Who holds ``token``, or None for one the store does not know."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = _digest(token)
    row = store.execute(
        "SELECT tenant, role, max_sessions FROM tokens WHERE hash = ?", (digest,)
    ).fetchone()
    if row is None:
        return None
    tenant, role, max_sessions = row
    return Identity(tenant=tenant, role=Role(role), max_sessions=max_sessions, token_id=digest[:12])
