"""Retrying one model response: which failures are worth another try, how long to wait,
and a circuit breaker that stops a run whose API keeps failing."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anthropic
import httpx2
from anthropic.types import Message
from pydantic import BaseModel, Field

from orchestrator.events.bus import SubscriberFailed


class RetryPolicy(BaseModel):
    """How the loop retries a turn the SDK could not complete."""

    attempts: int = Field(4, ge=1, description="tries of one turn, the first included")
    backoff_s: float = Field(1.0, ge=0)
    max_backoff_s: float = Field(20.0, ge=0)
    retry_after_cap_s: float = Field(30.0, ge=0, description="a server's retry-after, capped")
    breaker_failures: int = Field(6, ge=1, description="failed tries in a row that end the run")
    read_timeout_s: float = Field(
        120.0, gt=0, description="silence in a stream that counts as a hung server"
    )


@dataclass
class CircuitBreaker:
    """Failed API tries in a row, counted across a run's agents (they share the API):
    past the threshold every agent of the run stops instead of retrying on."""

    threshold: int
    failures: int = 0

    def failed(self) -> bool:
        """Count a failure; whether the breaker is now open."""
        self.failures += 1
        return self.failures >= self.threshold

    def succeeded(self) -> None:
        self.failures = 0


class TurnFailed(Exception):
    """The API could not give a response for a turn, after every retry."""


async def with_retries(
    attempt: Callable[[], Awaitable[Message]],
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    report: Callable[[str, bool], None],
) -> Message:
    """One response from ``attempt``, tried again on what is worth it.

    ``report(message, retrying)`` hears each failure. Raises `TurnFailed` when the
    request is refused, the tries run out, the breaker opens, or the failure is a bug
    rather than the API (which is never retried).
    """
    for number in range(1, policy.attempts + 1):
        try:
            message = await attempt()
        except (asyncio.CancelledError, TurnFailed, SubscriberFailed):
            raise
        except Exception as exc:
            if isinstance(exc, httpx2.TransportError):  # the SDK does not wrap these
                exc = _broken_stream(exc)  # mid-stream: a timeout, a reset connection
            if not isinstance(exc, anthropic.APIError):  # a bug or misuse, not the API
                report(f"{type(exc).__name__}: {exc}", False)
                raise TurnFailed(f"the request failed: {type(exc).__name__}: {exc}") from exc
            if not _retryable(exc):
                raise TurnFailed(f"the API refused the request: {_describe(exc)}") from exc
            broken = breaker.failed()
            last = number == policy.attempts or broken
            report(_describe(exc), not last)
            if last:
                why = "too many API failures in a row" if broken else "retries exhausted"
                raise TurnFailed(f"{why}: {_describe(exc)}") from exc
            await asyncio.sleep(_delay(policy, number, exc))
            continue
        breaker.succeeded()
        return message
    raise AssertionError("unreachable: the last attempt returns or raises")


def _delay(policy: RetryPolicy, attempt: int, exc: anthropic.APIError) -> float:
    retry_after = _retry_after(exc)
    if retry_after is not None:
        return min(retry_after, policy.retry_after_cap_s)
    backoff = min(policy.backoff_s * 2 ** (attempt - 1), policy.max_backoff_s)
    return float(backoff * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not secrets)


def _broken_stream(exc: httpx2.TransportError) -> anthropic.APIError:
    """A transport failure inside a stream, as the SDK's own connection error."""
    timed_out = isinstance(exc, httpx2.TimeoutException)
    error: anthropic.APIError = (
        anthropic.APITimeoutError(request=exc.request)
        if timed_out
        else anthropic.APIConnectionError(
            message=f"{type(exc).__name__}: {exc}", request=exc.request
        )
    )
    error.__cause__ = exc
    return error


def _retryable(exc: anthropic.APIError) -> bool:
    """Worth another try: connection trouble, 408/409/429/5xx, or an error event
    inside a stream (HTTP 200, which the SDK does not retry)."""
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        return status in (200, 408, 409, 429) or status >= 500
    return False


def _retry_after(exc: anthropic.APIError) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is not None:
            with contextlib.suppress(ValueError):
                return max(0.0, float(value) * scale)
    return None


def _describe(exc: anthropic.APIError) -> str:
    kind = getattr(exc, "type", None) or type(exc).__name__
    status = getattr(exc, "status_code", None)
    where = f"HTTP {status}" if status and status != 200 else "in the stream"
    if isinstance(exc, anthropic.APIConnectionError):
        where = "connection"
    return f"{kind} ({where}): {getattr(exc, 'message', str(exc))}"
