"""The loop's model side without an engine: the real SDK over an `httpx2.MockTransport`
that answers with the API's SSE bytes (built by the fake API's own encoder).

These turns call no tool, so the loop never touches its session; tool calls are
tested against real containers in tests/integration/test_loop.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, cast

import anthropic
import httpx2

from orchestrator.agent.loop import AgentLoop, AgentResult, RunLimits
from orchestrator.agent.retry import RetryPolicy
from orchestrator.events.bus import EventBus
from orchestrator.events.models import Event
from orchestrator.gate.permission_gate import PermissionGate, Trust
from orchestrator.testing.fake_api import error_body, fault_events, message_events, render_message
from orchestrator.testing.replay import MessageStep, StreamFault, parse_replay
from sandbox.docker_backend import DockerSession
from security import PRESETS

Answer = Callable[[dict[str, Any]], httpx2.Response]


def sse(events: Any) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


def text(reply: str, output_tokens: int = 5) -> Answer:
    step = parse_replay(
        {"responses": [{"content": [{"text": reply}], "usage": {"output_tokens": output_tokens,
                                                                 "input_tokens": 100}}]}
    ).responses[0]  # fmt: skip
    assert isinstance(step, MessageStep)

    def answer(body: dict[str, Any]) -> httpx2.Response:
        message = render_message(step, message_id="msg_1", model=body["model"], request_body=body)
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=sse(message_events(message))
        )

    return answer


def broken_stream(body: dict[str, Any]) -> httpx2.Response:
    fault = StreamFault(stream_error="overloaded_error", partial_text="Hal")
    events = fault_events(fault, message_id="msg_x", model=body["model"])
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse(events))


def status(code: int) -> Answer:
    kind = {400: "invalid_request_error", 529: "overloaded_error"}[code]
    return lambda body: httpx2.Response(code, json=error_body(kind))  # type: ignore[arg-type]


Ran = tuple[AgentResult, list[Event], list[dict[str, Any]]]


def run(answers: list[Answer], limits: RunLimits | None = None) -> Ran:
    requests: list[dict[str, Any]] = []
    pending = list(answers)

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        requests.append(body)
        return pending.pop(0)(body)

    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)

    async def scenario() -> AgentResult:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        client = anthropic.AsyncAnthropic(api_key="k", http_client=http, max_retries=0)
        agent = AgentLoop(
            name="main",
            session_id="s1",
            client=client,
            model="claude-haiku-4-5",
            session=cast(DockerSession, None),  # never used: no tool is called
            gate=PermissionGate(PRESETS["dev"], Trust(trusted=False, by="default")),
            tools=[],
            bus=bus,
            system="sys",
            limits=limits or RunLimits(),
            retry=RetryPolicy(attempts=3, backoff_s=0.001, max_backoff_s=0.001),
        )
        try:
            return await agent.run("hello")
        finally:
            await client.close()

    return asyncio.run(scenario()), events, requests


def test_a_streamed_reply_ends_the_turn_and_is_counted() -> None:
    result, events, requests = run([text("Hello there", output_tokens=7)])
    assert result.outcome == "end_turn" and result.final_text == "Hello there"
    assert "".join(e.text for e in events if e.type == "text_delta") == "Hello there"
    usage = next(e for e in events if e.type == "usage")
    assert (usage.input_tokens, usage.output_tokens) == (100, 7)
    assert usage.cost_usd == (100 * 1.0 + 7 * 5.0) / 1e6  # Haiku: $1 in, $5 out per MTok
    assert requests[0]["system"] == [
        {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}
    ]
    assert requests[0]["messages"] == [{"role": "user", "content": "hello"}]
    assert requests[0]["stream"] is True


def test_a_broken_stream_is_retried_and_its_partial_text_was_shown() -> None:
    result, events, requests = run([broken_stream, text("Hello")])
    assert result.outcome == "end_turn" and len(requests) == 2
    shown = "".join(e.text for e in events if e.type == "text_delta")
    assert shown == "HalHello"  # the broken attempt's text, then the retry's
    assert [e.retrying for e in events if e.type == "error"] == [True]


def test_overloaded_then_success_without_sdk_retries() -> None:
    result, _, requests = run([status(529), status(529), text("ok")])
    assert result.outcome == "end_turn" and len(requests) == 3


def test_a_bad_request_fails_at_once() -> None:
    result, events, requests = run([status(400)])
    assert result.outcome == "error" and len(requests) == 1
    assert [e.retrying for e in events if e.type == "error"] == []
    assert events[-1].type == "done"


def test_a_cut_off_reply_is_continued() -> None:
    cut = parse_replay(
        {"responses": [{"content": [{"text": "part one"}], "stop_reason": "max_tokens"}]}
    ).responses[0]
    assert isinstance(cut, MessageStep)

    def first(body: dict[str, Any]) -> httpx2.Response:
        message = render_message(cut, message_id="m", model=body["model"], request_body=body)
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=sse(message_events(message))
        )

    result, _, requests = run([first, text("part two")])
    assert result.outcome == "end_turn" and result.final_text == "part two"
    assert requests[1]["messages"][-1] == {"role": "user", "content": "You were cut off; go on."}
