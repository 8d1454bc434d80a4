"""The multi-tenant service behind `airlock serve`: its state, tokens and roles.

Built so far (issue 16, first part): the database (`open_store`), tokens kept as hashes
(`create_token`, `authenticate`) and the role table (`allows`). The HTTP API comes next.
"""

from orchestrator.service.roles import PERMISSIONS, Action, allows
from orchestrator.service.store import DATABASE_NAME, StoreError, open_store
from orchestrator.service.tokens import (
    TOKEN_PREFIX,
    Identity,
    Role,
    TokenError,
    authenticate,
    create_token,
)

__all__ = [
    "DATABASE_NAME",
    "PERMISSIONS",
    "TOKEN_PREFIX",
    "Action",
    "Identity",
    "Role",
    "StoreError",
    "TokenError",
    "allows",
    "authenticate",
    "create_token",
    "open_store",
]
