"""A run's running totals for the live view: turns, tool calls, tokens, cost, time.

`Progress` folds events as they come (every agent's, sub-agents included); its `line`
is what a terminal shows under the run's output. Nothing here prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from orchestrator.events.models import Event


@dataclass
class Progress:
    """Totals so far; a turn is one model response of any agent."""

    started: float = field(default_factory=time.monotonic)
    turns: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0

    def add(self, event: Event) -> bool:
        """Count ``event``; True if a total changed."""
        match event.type:
            case "usage":
                self.turns += 1
                self.tokens += (
                    event.input_tokens
                    + event.output_tokens
                    + event.cache_read_input_tokens
                    + event.cache_creation_input_tokens
                )
                self.cost_usd += event.cost_usd
            case "tool_call":
                self.tool_calls += 1
            case _:
                return False
        return True

    def line(self, now: float | None = None) -> str:
        elapsed = (time.monotonic() if now is None else now) - self.started
        turns = "turn" if self.turns == 1 else "turns"
        calls = "tool call" if self.tool_calls == 1 else "tool calls"
        return (
            f"{self.turns} {turns} · {self.tool_calls} {calls} · {self.tokens:,} tokens · "
            f"${self.cost_usd:.4f} · {elapsed:.0f} s"
        )
