"""The check registry: numbered checks, each a small function with its own docstring."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from security.argv import has_option, operands
from security.shell import Command
from security.unwrap import Scene
from security.verdict import Decision, Risk

Shell = Literal["any", "bash", "sh", "zsh"]
__all__ = ["Context", "Hit", "Trigger", "command_check", "has_option", "line_check", "operands"]


class Hit(NamedTuple):
    """What a check reports: why, and what decision and risk it asks for."""

    detail: str
    decision: Decision = Decision.ASK
    risk: Risk = Risk.HIGH
    command: int | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What the checks know of the deployment, from the policy.

    ``egress``: the policy names hosts the session may reach (``network.allow``), so the
    session's egress proxy is there and decides by host name; the sandbox has no
    interface but loopback. Reaching the network through it is then no reason to ask
    (S28, S32, and the read-only base's fetchers: S37); what else a command does is
    judged as ever.
    """

    shell: Shell = "any"
    workspace: str = "/workspace"
    egress: bool = False

    @property
    def zsh_possible(self) -> bool:
        return self.shell in ("any", "zsh")


LineCheck = Callable[[Scene, Context], Iterable[Hit]]
CommandCheck = Callable[[Command, Scene, Context], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Trigger:
    """What a command must show for a command check to be able to fire on it.

    The analyzer skips the check on commands that show none of these; any one is
    enough. ``tokens`` are looked for in `Command.text` (every word, assignment and
    redirection target, raw and unquoted). tests/unit/security/test_triggers.py
    holds the triggers to changing no verdict.
    """

    names: frozenset[str] = frozenset()
    name_pattern: re.Pattern[str] | None = None  # e.g. versioned names: python3.11
    tokens: tuple[str, ...] = ()
    redirects: bool = False
    assignments: bool = False
    background: bool = False

    def fires(self, command: Command, present: frozenset[str]) -> bool:
        """Whether ``command`` (with these ``present`` tokens) may make the check fire."""
        name = command.base_name
        return (
            name in self.names
            or (self.name_pattern is not None and self.name_pattern.fullmatch(name) is not None)
            or (self.redirects and bool(command.redirects))
            or (self.assignments and bool(command.assignments))
            or (self.background and command.background)
            or any(token in present for token in self.tokens)
        )


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    structural: bool  # the analyzer cannot fully see the line: no rule may allow it
    line: LineCheck | None = None
    command: CommandCheck | None = None
    when: Trigger | None = None  # a command check runs only on commands that fire this

    @property
    def doc(self) -> str:
        func = self.line or self.command
        return (func.__doc__ or "").strip() if func else ""


REGISTRY: dict[str, Check] = {}


def _register(check: Check) -> None:
    if check.id in REGISTRY:
        raise ValueError(f"check {check.id} registered twice")
    REGISTRY[check.id] = check


def line_check(
    check_id: str, title: str, *, structural: bool = False
) -> Callable[[LineCheck], LineCheck]:
    def register(func: LineCheck) -> LineCheck:
        _register(Check(check_id, title, structural, line=func))
        return func

    return register


def command_check(
    check_id: str,
    title: str,
    *,
    structural: bool = False,
    names: Iterable[str] | None = None,
    when: Trigger | None = None,
) -> Callable[[CommandCheck], CommandCheck]:
    """Register a per-command check; ``names`` (or a whole ``when``) limits it."""
    if names is not None:
        if when is not None:
            raise ValueError(f"check {check_id}: give names or when, not both")
        when = Trigger(names=frozenset(names))

    def register(func: CommandCheck) -> CommandCheck:
        _register(Check(check_id, title, structural, command=func, when=when))
        return func

    return register
