"""What model calls cost: tokens and dollars per response, totalled per run and per kind."""

from __future__ import annotations

from anthropic.types import Message
from pydantic import BaseModel, Field

from orchestrator.agent.pricing import cost_usd
from orchestrator.agent.routing import CallKind


class Usage(BaseModel):
    """Tokens and cost of some API calls."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cost_usd += other.cost_usd


class Tally(Usage):
    """What a run used and did, for its summary: totals, and usage by kind of call."""

    turns: int = 0
    tool_calls: dict[str, int] = Field(default_factory=dict)
    verdicts: dict[str, int] = Field(default_factory=dict)
    by_kind: dict[str, Usage] = Field(default_factory=dict)

    def count(self, kind: CallKind, used: Usage) -> None:
        """Add one call's usage, to the totals and to its kind."""
        super().add(used)
        self.by_kind.setdefault(kind, Usage()).add(used)

    def add(self, other: Usage) -> None:
        """Count a sub-agent's use in this tally (its turns stay its own)."""
        if not isinstance(other, Tally):
            super().add(other)
            return
        for name, count in other.tool_calls.items():
            self.tool_calls[name] = self.tool_calls.get(name, 0) + count
        for decision, count in other.verdicts.items():
            self.verdicts[decision] = self.verdicts.get(decision, 0) + count
        for kind, used in other.by_kind.items():
            self.by_kind.setdefault(kind, Usage()).add(used)
        super().add(other)


def usage_of(message: Message) -> Usage:
    """The usage and cost of one response, priced by the model that answered."""
    usage = message.usage
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    return Usage(
        calls=1,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_input_tokens=read,
        cache_creation_input_tokens=written,
        cost_usd=cost_usd(message.model, usage.input_tokens, usage.output_tokens, read, written),
    )
