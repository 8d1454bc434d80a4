"""An in-process event bus: the agent loop publishes, subscribers are called in turn."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from orchestrator.events.models import Event

logger = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class SubscriberFailed(Exception):
    """A critical subscriber (the audit log) could not take an event."""


class EventBus:
    """Calls every subscriber, synchronously and in subscription order, for each event.

    A subscriber that raises is logged and skipped; the others and the publisher go on,
    unless it was subscribed as critical: then, once every subscriber has had the
    event, `publish` raises `SubscriberFailed` (a run must not go on unaudited).
    ``publish`` may be called from several threads; each call sees the subscribers
    that were there when it began.
    """

    def __init__(self) -> None:
        self._subscribers: list[tuple[object, Subscriber, bool]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber, *, critical: bool = False) -> Callable[[], None]:
        """Add ``callback``; returns a function that removes it again (safe to call twice)."""
        token = object()
        with self._lock:
            self._subscribers.append((token, callback, critical))

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = [s for s in self._subscribers if s[0] is not token]

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every current subscriber."""
        with self._lock:
            subscribers = [(callback, critical) for _, callback, critical in self._subscribers]
        failed: Exception | None = None
        for callback, critical in subscribers:
            try:
                callback(event)
            except Exception as exc:
                logger.exception("event subscriber %r failed on a %s event", callback, event.type)
                failed = failed or (exc if critical else None)
        if failed is not None:
            raise SubscriberFailed(f"{type(failed).__name__}: {failed}") from failed
