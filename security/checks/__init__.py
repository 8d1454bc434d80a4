"""The numbered checks. Importing this package registers all of them."""

from security.checks import (
    arithmetic,
    code,
    effects,
    environment,
    files,
    readonly,
    structure,
    text,
    tools,
    zsh,
)
from security.checks.base import REGISTRY, Check, Context, Hit

__all__ = [
    "REGISTRY",
    "Check",
    "Context",
    "Hit",
    "arithmetic",
    "code",
    "effects",
    "environment",
    "files",
    "readonly",
    "structure",
    "text",
    "tools",
    "zsh",
]
