"""One agent's voice on the run's event bus."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.events.bus import EventBus


@dataclass(frozen=True)
class Publisher:
    """Publishes events stamped with the agent's session and name."""

    bus: EventBus
    session_id: str
    agent: str

    def __call__(self, event_class: type[Any], /, **fields: Any) -> None:
        self.bus.publish(event_class(session_id=self.session_id, agent=self.agent, **fields))
