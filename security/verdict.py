"""The analyzer's answer: a decision, a risk, and the findings behind them."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, computed_field


class Decision(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


def strictest(decisions: Iterable[Decision]) -> Decision:
    """The strictest of ``decisions`` (allow when there is none)."""
    found = Decision.ALLOW
    for decision in decisions:
        if decision is Decision.DENY:
            return decision
        found = decision if decision is Decision.ASK else found
    return found


def highest(risks: Iterable[Risk]) -> Risk:
    """The highest of ``risks`` (low when there is none)."""
    found = Risk.LOW
    for risk in risks:
        if risk is Risk.HIGH:
            return risk
        found = risk if risk is Risk.MEDIUM else found
    return found


class Finding(BaseModel):
    """One check's objection to the line (or to one command in it)."""

    model_config = ConfigDict(frozen=True)

    check: str = Field(description="check id, such as S07")
    title: str
    detail: str
    decision: Decision = Field(description="what this finding asks for, after the policy")
    risk: Risk
    structural: bool = Field(
        False, description="the analyzer could not fully see the line; no rule may allow it"
    )
    command: int | None = Field(None, description="index into Verdict.commands, if any")


class Verdict(BaseModel):
    """What `security.analyze` says about one command line."""

    command: str
    policy: str
    decision: Decision
    risk: Risk
    findings: list[Finding]
    commands: list[list[str]] = Field(description="every simple command found, nested included")

    @computed_field  # type: ignore[prop-decorator]
    @functools.cached_property
    def explanation(self) -> str:
        """One paragraph for a person: the decision and the findings that decided it.

        Built when first read (a batch check never reads it), from the fields above.
        """
        names = sorted({argv[0].rsplit("/", 1)[-1] for argv in self.commands if argv})
        listed = ", ".join(names[:8]) + ("..." if len(names) > 8 else "")
        if self.decision is Decision.ALLOW:
            if not names:
                return "Allowed: the line runs no command."
            return (
                f"Allowed: every command ({listed}) is proven read-only or allowed by the policy."
            )
        verb = "Denied" if self.decision is Decision.DENY else "Needs approval"
        decisive = [f for f in self.findings if f.decision is self.decision]
        reasons = "; ".join(f"{f.check} {f.title} ({f.detail})" for f in decisive[:4])
        more = f"; and {len(decisive) - 4} more" if len(decisive) > 4 else ""
        return f"{verb}: {reasons}{more}."
