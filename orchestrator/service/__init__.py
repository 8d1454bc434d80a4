"""The multi-tenant service behind `airlock serve`: its state, tokens and roles.

Built so far (issue 16): the database (`open_store`), tokens kept as hashes
(`create_token`, `authenticate`), the role table (`allows`), and the HTTP application
(`create_app`): health, metrics, OpenAPI, and sessions started, listed and ended.
Importing this package loads neither FastAPI nor the sandbox: `create_app` is in
`orchestrator.service.app`.
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
