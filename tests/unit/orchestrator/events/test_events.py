"""The agent loop's events (JSON round trips through the union) and the event bus."""

from __future__ import annotations

import logging
import threading
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from orchestrator.events.bus import EventBus, SubscriberFailed
from orchestrator.events.models import (
    EVENT_ADAPTER,
    ApprovalEvent,
    ApprovalRequestedEvent,
    CompactionEvent,
    ContextEvent,
    DoneEvent,
    EgressEvent,
    ErrorEvent,
    Event,
    ExecOutputEvent,
    FindingSummary,
    SessionStartedEvent,
    TextDeltaEvent,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
    VerdictEvent,
    VerifyEvent,
    parse_event,
)

WHO = {"session_id": "s-1", "agent": "main"}

ONE_OF_EACH: list[Event] = [
    SessionStartedEvent(
        **WHO,
        task="fix the build",
        policy="read-only",
        model="claude-sonnet-4-5",
        image="airlock/dev:latest",
        runtime="runsc",
    ),
    TextDeltaEvent(**WHO, text="Let me look\u2028at \u00e9 \U0001f600"),
    ToolCallEvent(
        **WHO, call_id="c1", name="Bash", input={"command": "ls -la", "n": [1, 2.5, None]}
    ),
    VerdictEvent(
        **WHO,
        call_id="c1",
        decision="deny",
        risk="high",
        findings=[FindingSummary(check="S29", title="destroys files", detail="rm -rf /")],
        explanation="Denied: S29 destroys files (rm -rf /).",
    ),
    ApprovalEvent(**WHO, call_id="c1", approved=False, by="policy", reason="denied"),
    ExecOutputEvent(**WHO, call_id="c1", stream="stderr", data="oops\n"),
    ToolResultEvent(
        **WHO,
        call_id="c1",
        is_error=True,
        content="refused",
        truncated=True,
        confined=False,
        confinement="not confined: the kernel (or gVisor) does not implement Landlock",
    ),
    UsageEvent(
        **WHO,
        input_tokens=1200,
        output_tokens=80,
        cache_read_input_tokens=1000,
        cache_creation_input_tokens=5,
        cost_usd=0.30000000000000004,
    ),
    ErrorEvent(**WHO, message="overloaded", retrying=True),
    DoneEvent(session_id="s-1", agent="reviewer", outcome="max_turns", turns=12),
    ContextEvent(
        **WHO, total=9000, window=200000, system=800, tools=1200, messages=3000, tool_results=4000
    ),
    CompactionEvent(
        **WHO, kind="auto", tokens_before=190000, tokens_after=21000, items=40, message="ok"
    ),
    VerifyEvent(**WHO, command="pytest -q", allowed=True, exit_code=1, passed=False),
    EgressEvent(
        **WHO,
        host="pypi.org",
        port=443,
        method="CONNECT",
        decision="allowed",
        reason="allowed by pypi.org",
        status=200,
        bytes_up=517,
        bytes_down=90_112,
        duration_s=0.4,
    ),
    ApprovalRequestedEvent(
        **WHO,
        approval_id="apr_1",
        tool="Bash",
        command="git push origin main",
        risk="high",
        reasons=["S28 network access"],
        expires_in_s=300,
    ),
]


def union_members() -> set[type[BaseModel]]:
    union = typing.get_args(Event)[0]
    return set(typing.get_args(union))


def test_the_samples_cover_every_kind() -> None:
    assert {type(event) for event in ONE_OF_EACH} == union_members()
    kinds = [event.type for event in ONE_OF_EACH]
    assert len(set(kinds)) == len(kinds)


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: e.type)
def test_every_kind_round_trips_through_the_union(event: Event) -> None:
    parsed = parse_event(event.model_dump_json())
    assert type(parsed) is type(event)
    assert parsed == event
    assert EVENT_ADAPTER.validate_python(event.model_dump(mode="json")) == event


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: e.type)
def test_every_event_says_who(event: Event) -> None:
    dumped = event.model_dump()
    assert dumped["session_id"] and dumped["agent"] and dumped["type"] == event.type


def test_an_unknown_kind_does_not_parse() -> None:
    with pytest.raises(ValidationError):
        parse_event('{"type": "reboot", "session_id": "s", "agent": "main"}')
    with pytest.raises(ValidationError):
        parse_event('{"session_id": "s", "agent": "main", "text": "no type"}')


def test_unknown_fields_and_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        parse_event('{"type":"text_delta","session_id":"s","agent":"main","text":"a","x":1}')
    with pytest.raises(ValidationError):
        TextDeltaEvent(session_id="s", agent="", text="who?")
    with pytest.raises(ValidationError):
        UsageEvent(**WHO, input_tokens=1, output_tokens=1, cost_usd=float("nan"))
    with pytest.raises(ValidationError):
        ApprovalEvent(**WHO, call_id="c", approved=True, by="nobody")


@given(text=st.text(), agent=st.text(min_size=1))
def test_any_text_round_trips(text: str, agent: str) -> None:
    event = TextDeltaEvent(session_id="s", agent=agent, text=text)
    assert parse_event(event.model_dump_json()) == event


def test_bus_calls_subscribers_in_order() -> None:
    bus = EventBus()
    seen: list[tuple[str, str]] = []
    bus.subscribe(lambda e: seen.append(("first", e.type)))
    bus.subscribe(lambda e: seen.append(("second", e.type)))
    for event in ONE_OF_EACH[:2]:
        bus.publish(event)
    assert seen == [
        ("first", "session_started"),
        ("second", "session_started"),
        ("first", "text_delta"),
        ("second", "text_delta"),
    ]


def test_a_raising_subscriber_stops_neither_the_others_nor_the_publisher(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("renderer fell over")

    bus.subscribe(lambda e: seen.append("before"))
    bus.subscribe(broken)
    bus.subscribe(lambda e: seen.append("after"))
    with caplog.at_level(logging.ERROR, logger="orchestrator.events.bus"):
        bus.publish(ONE_OF_EACH[1])
    assert seen == ["before", "after"]
    assert "renderer fell over" in caplog.text


def test_a_critical_subscriber_that_fails_makes_publish_raise_after_the_others() -> None:
    bus = EventBus()
    seen: list[str] = []

    def audit(event: Event) -> None:
        raise OSError("disk full")

    bus.subscribe(audit, critical=True)
    bus.subscribe(lambda e: seen.append("after"))
    with pytest.raises(SubscriberFailed, match="disk full"):
        bus.publish(ONE_OF_EACH[1])
    assert seen == ["after"]


def test_unsubscribe_removes_only_that_subscription() -> None:
    bus = EventBus()
    seen: list[str] = []
    record = seen.append
    first = bus.subscribe(lambda e: record("a"))
    bus.subscribe(lambda e: record("b"))
    first()
    first()  # twice is harmless
    bus.publish(ONE_OF_EACH[1])
    assert seen == ["b"]


def test_the_same_callback_twice_is_two_subscriptions() -> None:
    bus = EventBus()
    seen: list[Event] = []
    unsubscribe = bus.subscribe(seen.append)
    bus.subscribe(seen.append)
    bus.publish(ONE_OF_EACH[1])
    unsubscribe()
    bus.publish(ONE_OF_EACH[1])
    assert len(seen) == 3


def test_publish_from_several_threads_reaches_every_subscriber() -> None:
    bus = EventBus()
    lock = threading.Lock()
    counts = {"a": 0, "b": 0}

    def count(name: str) -> None:
        with lock:
            counts[name] += 1

    bus.subscribe(lambda e: count("a"))
    bus.subscribe(lambda e: count("b"))

    def publish_many() -> None:
        for _ in range(200):
            bus.publish(ONE_OF_EACH[1])

    threads = [threading.Thread(target=publish_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts == {"a": 1600, "b": 1600}
