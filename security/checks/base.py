"""The check registry: numbered checks, each a small function with its own docstring."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from security.argv import has_option, operands
from security.shell import Command
from security.unwrap import Scene
from security.verdict import Decision, Risk

Shell = Literal["any", "bash", "sh", "zsh"]
__all__ = ["Context", "Hit", "command_check", "has_option", "line_check", "operands"]


@dataclass(frozen=True, slots=True)
class Hit:
    """What a check reports: why, and what decision and risk it asks for."""

    detail: str
    decision: Decision = Decision.ASK
    risk: Risk = Risk.HIGH
    command: int | None = None


@dataclass(frozen=True, slots=True)
class Context:
    shell: Shell = "any"
    workspace: str = "/workspace"

    @property
    def zsh_possible(self) -> bool:
        return self.shell in ("any", "zsh")


LineCheck = Callable[[Scene, Context], Iterable[Hit]]
CommandCheck = Callable[[Command, Scene, Context], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    structural: bool  # the analyzer cannot fully see the line: no rule may allow it
    line: LineCheck | None = None
    command: CommandCheck | None = None
    names: frozenset[str] | None = None  # a command check runs only on these commands

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
    check_id: str, title: str, *, structural: bool = False, names: Iterable[str] | None = None
) -> Callable[[CommandCheck], CommandCheck]:
    """Register a per-command check; ``names`` limits it to those command names."""
    only = frozenset(names) if names is not None else None

    def register(func: CommandCheck) -> CommandCheck:
        _register(Check(check_id, title, structural, command=func, names=only))
        return func

    return register
