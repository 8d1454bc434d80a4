"""Which role may do what: one table, read by every route's check."""

from __future__ import annotations

from enum import StrEnum

from orchestrator.service.tokens import Role


class Action(StrEnum):
    """What a request asks to do."""

    READ = "read"  # list and read sessions, runs, events, patches, approvals
    RUN = "run"  # start, use and end sessions and runs
    APPROVE = "approve"  # answer approval requests


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.RUNNER: frozenset({Action.READ, Action.RUN}),
    Role.APPROVER: frozenset({Action.READ, Action.APPROVE}),
    Role.VIEWER: frozenset({Action.READ}),
}


def allows(role: Role, action: Action) -> bool:
    """Whether ``role`` may do ``action``."""
    return action in PERMISSIONS[role]
