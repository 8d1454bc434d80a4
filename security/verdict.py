"""The analyzer's answer: a decision, a risk, and the findings behind them."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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
    explanation: str
