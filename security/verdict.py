"""The analyzer's answer: a decision, a risk, and the findings behind them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Decision(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"

    @property
    def rank(self) -> int:
        return _DECISION_RANK[self]


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RISK_RANK[self]


_DECISION_RANK = {Decision.ALLOW: 0, Decision.ASK: 1, Decision.DENY: 2}
_RISK_RANK = {Risk.LOW: 0, Risk.MEDIUM: 1, Risk.HIGH: 2}


def strictest(decisions: list[Decision]) -> Decision:
    return max(decisions, key=lambda d: d.rank, default=Decision.ALLOW)


def highest(risks: list[Risk]) -> Risk:
    return max(risks, key=lambda r: r.rank, default=Risk.LOW)


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
