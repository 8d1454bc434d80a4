"""The fake Messages API, exercised through the real `anthropic` SDK over loopback HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anthropic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.devtools.package_data import examples_dir
from orchestrator.testing import fake_api
from orchestrator.testing.fake_api import FakeMessagesAPI, _pieces
from orchestrator.testing.replay import (
    MessageStep,
    ReplayError,
    ToolUseItem,
    load_replay,
    parse_replay,
)

SMOKE = examples_dir() / "replays" / "smoke.yaml"
MODEL = "claude-sonnet-4-6"
USER = [{"role": "user", "content": "Fix the failing test."}]
WAIT_S = 60.0  # a client's timeout on the local fake: only a broken server comes near it
BASH_TOOL = {
    "name": "Bash",
    "description": "Run a shell command in the sandbox.",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
}


@contextmanager
def serving(
    responses: list[dict[str, Any]], *, max_retries: int = 0, model: str | None = None
) -> Iterator[tuple[FakeMessagesAPI, anthropic.Anthropic]]:
    """A fake serving `responses` and a real SDK client pointed at it."""
    replay = parse_replay({"model": model, "responses": responses})
    with FakeMessagesAPI(replay) as api:
        client = anthropic.Anthropic(
            api_key="test-key", base_url=api.base_url, max_retries=max_retries, timeout=WAIT_S
        )
        with client:
            yield api, client


def post_raw(api: FakeMessagesAPI, path: str, body: object) -> tuple[int, dict[str, str], str]:
    """POST with the stdlib, to look at the bytes on the wire: status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=WAIT_S)
    try:
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read().decode()
    finally:
        conn.close()


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body made of `event: NAME` / `data: JSON` pairs."""
    events = []
    for frame in text.strip().split("\n\n"):
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        events.append((name_line.removeprefix("event: "), json.loads(data_line[6:])))
    return events


# -- streaming and non-streaming messages ---------------------------------------------------

TOOL_INPUT = {
    "command": 'grep -rn "TODO \\"x\\"" src/ | head -n 5',
    "timeout": 30,
    "env": {"LANG": "C.UTF-8", "note": "émoji ✓ 🚀"},
    "paths": ["a b", "", "c\nd"],
    "dry_run": False,
    "limit": None,
}


def test_stream_text_and_tool_use_reassembled_by_the_sdk() -> None:
    text = "I'll look at the tests, then run them."
    responses = [
        {
            "content": [{"text": text}, {"tool_use": {"name": "Bash", "input": TOOL_INPUT}}],
            "usage": {"input_tokens": 120, "output_tokens": 30},
        }
    ]
    kinds, deltas, json_parts = [], [], []
    with (
        serving(responses) as (api, client),
        client.messages.stream(
            model=MODEL, max_tokens=1024, messages=USER, tools=[BASH_TOOL]
        ) as stream,
    ):
        for event in stream:
            kinds.append(event.type)
            if event.type == "text":
                deltas.append(event.text)
            elif event.type == "input_json":
                json_parts.append(event.partial_json)
        final = stream.get_final_message()

    assert "".join(deltas) == text and len(deltas) == 3
    assert "".join(json_parts) == json.dumps(TOOL_INPUT, ensure_ascii=False)
    assert len([p for p in json_parts if p]) == 4
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert [block.type for block in final.content] == ["text", "tool_use"]
    tool = final.content[1]
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("toolu_replay_0001", "Bash", TOOL_INPUT)
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (120, 30)
    assert final.model == MODEL and final.id == "msg_replay_0001"
    [request] = api.requests
    assert request.body["stream"] is True and request.body["tools"][0]["name"] == "Bash"
    assert request.headers["anthropic-version"]


def test_stream_wire_format_has_the_real_event_sequence() -> None:
    responses = [{"content": [{"text": "Hi"}, {"tool_use": {"name": "Bash", "input": {}}}]}]
    with serving(responses) as (api, _):
        body = {"model": "m", "max_tokens": 10, "messages": USER, "stream": True}
        status, headers, text = post_raw(api, "/v1/messages", body)

    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = sse_events(text)
    assert all(data["type"] == name for name, data in events)
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",  # the empty partial_json the real API opens with
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    started = events[0][1]["message"]
    assert started["content"] == [] and started["stop_reason"] is None
    assert started["role"] == "assistant" and started["type"] == "message"
    assert started["model"] == "m"  # no model in the replay: the request's is echoed
    assert events[6][1]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_replay_0001",
        "name": "Bash",
        "input": {},
    }
    assert events[-2][1]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


def test_non_streaming_create() -> None:
    responses = [{"content": [{"text": "Done."}], "usage": {"output_tokens": 2}}]
    with serving(responses, model=MODEL) as (api, client):
        message = client.messages.create(model="whatever", max_tokens=64, messages=USER)

    assert message.content[0].type == "text" and message.content[0].text == "Done."
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.model == MODEL and message.usage.output_tokens == 2
    assert message.usage.input_tokens >= 1  # estimated from the request
    assert "stream" not in api.requests[0].body


def test_multi_turn_records_the_tool_result_and_system_prompt() -> None:
    responses = [
        {"content": [{"tool_use": {"name": "Bash", "input": {"command": "pytest -q"}}}]},
        {"content": [{"text": "All green."}]},
    ]
    system = [{"type": "text", "text": "You fix bugs.", "cache_control": {"type": "ephemeral"}}]
    with serving(responses) as (api, client):
        first = client.messages.create(
            model=MODEL, max_tokens=64, system=system, messages=USER, tools=[BASH_TOOL]
        )
        tool = first.content[0]
        assert tool.type == "tool_use"
        result = {"type": "tool_result", "tool_use_id": tool.id, "content": "3 passed"}
        second = client.messages.create(
            model=MODEL,
            max_tokens=64,
            system=system,
            tools=[BASH_TOOL],
            messages=[
                *USER,
                {"role": "assistant", "content": [tool.model_dump(exclude_none=True)]},
                {"role": "user", "content": [result]},
            ],
        )

    assert second.content[0].type == "text" and second.stop_reason == "end_turn"
    sent = api.message_requests[1].body
    assert sent["messages"][-1] == {"role": "user", "content": [result]}
    assert sent["messages"][1]["content"][0]["id"] == "toolu_replay_0001"
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}


# -- faults ----------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried_by_the_sdk() -> None:
    responses = [{"fault": {"status": 429, "retry_after": 0.01}}, {"content": [{"text": "ok"}]}]
    with serving(responses, max_retries=2) as (api, client):
        message = client.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert message.content[0].type == "text"
    assert [r.headers["x-stainless-retry-count"] for r in api.requests] == ["0", "1"]


def test_429_on_the_wire() -> None:
    with serving([{"fault": {"status": 429, "retry_after": 2, "retry_after_ms": 10}}]) as (api, _):
        status, headers, text = post_raw(
            api, "/v1/messages", {"model": "m", "max_tokens": 1, "messages": USER}
        )

    assert status == 429
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "10")
    assert headers["request-id"].startswith("req_replay_")
    assert json.loads(text) == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": json.loads(text)["error"]["message"]},
    }


def test_529_overloaded_then_success() -> None:
    responses = [{"fault": {"status": 529, "retry_after_ms": 1}}, {"content": [{"text": "ok"}]}]
    with serving(responses, max_retries=2) as (api, client):
        message = client.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert message.stop_reason == "end_turn" and len(api.requests) == 2


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
    ],
)
def test_an_error_that_never_recovers_raises_after_the_retries(
    status: int, error_class: type[anthropic.APIStatusError], error_type: str
) -> None:
    fault = {"fault": {"status": status, "retry_after_ms": 1}}
    with (
        serving([fault] * 3, max_retries=2) as (api, client),
        pytest.raises(error_class) as caught,
    ):
        client.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert type(caught.value) is error_class
    assert caught.value.status_code == status and caught.value.type == error_type
    assert caught.value.request_id == "req_replay_0003"
    assert len(api.requests) == 3


def test_should_retry_false_stops_the_sdk_retrying() -> None:
    fault = {"fault": {"status": 500, "message": "boom", "should_retry": False}}
    with (
        serving([fault], max_retries=2) as (api, client),
        pytest.raises(anthropic.InternalServerError, match="boom"),
    ):
        client.messages.create(model=MODEL, max_tokens=64, messages=USER)
    assert len(api.requests) == 1


def test_error_event_mid_stream_raises_a_200_status_error_without_retry() -> None:
    fault = {"fault": {"stream_error": "overloaded_error", "partial_text": "Let me look"}}
    received: list[str] = []
    with serving([fault, {"content": [{"text": "unused"}]}], max_retries=2) as (api, client):
        stream = client.messages.stream(model=MODEL, max_tokens=64, messages=USER)
        with pytest.raises(anthropic.APIStatusError) as caught, stream as events:
            received.extend(events.text_stream)

    # No subclass: the SDK maps an `error` event by the HTTP status, which was 200.
    assert type(caught.value) is anthropic.APIStatusError
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error" and caught.value.api_message == "Overloaded"
    assert "".join(received) == "Let me look"
    assert len(api.requests) == 1 and api.remaining == 1


def test_stream_fault_on_the_wire() -> None:
    with serving([{"fault": {"stream_error": "api_error", "message": "broke"}}]) as (api, _):
        body = {"model": "m", "max_tokens": 1, "messages": USER, "stream": True}
        status, _, text = post_raw(api, "/v1/messages", body)

    assert status == 200
    assert sse_events(text) == [
        ("message_start", sse_events(text)[0][1]),
        ("ping", {"type": "ping"}),
        ("error", {"type": "error", "error": {"type": "api_error", "message": "broke"}}),
    ]


def test_stream_fault_on_a_non_streaming_request_is_the_http_error() -> None:
    with (
        serving([{"fault": {"stream_error": "overloaded_error"}}]) as (_, client),
        pytest.raises(anthropic.OverloadedError) as caught,
    ):
        client.messages.create(model=MODEL, max_tokens=64, messages=USER)
    assert caught.value.status_code == 529


def test_exhausted_replay_is_a_clear_error_not_retried() -> None:
    with serving([{"content": [{"text": "only one"}]}], max_retries=2) as (api, client):
        client.messages.create(model=MODEL, max_tokens=64, messages=USER)
        with pytest.raises(anthropic.InternalServerError, match="replay exhausted"):
            client.messages.create(model=MODEL, max_tokens=64, messages=USER)
    assert len(api.requests) == 2 and api.remaining == 0


def test_malformed_request_is_a_400_and_takes_no_replay_entry() -> None:
    with serving([{"content": [{"text": "ok"}]}]) as (api, _):
        status, _, text = post_raw(api, "/v1/messages", {"messages": USER})
        assert status == 400
        assert json.loads(text)["error"]["type"] == "invalid_request_error"
        status, _, _ = post_raw(api, "/v1/nowhere", {})
        assert status == 404
        assert api.remaining == 1


def test_count_tokens() -> None:
    with serving([]) as (api, client):
        counted = client.messages.count_tokens(model=MODEL, messages=USER)
    assert counted.input_tokens > 0 and api.requests[0].path == "/v1/messages/count_tokens"


# -- replay files ----------------------------------------------------------------------------


def test_smoke_replay_drives_a_whole_agent_turn_loop() -> None:
    replay = load_replay(SMOKE)
    assert len(replay.responses) == 4
    with FakeMessagesAPI(replay) as api:
        client = anthropic.Anthropic(api_key="test-key", base_url=api.base_url, max_retries=2)
        with client:
            messages: list[Any] = list(USER)
            for _ in range(5):
                with client.messages.stream(
                    model=MODEL, max_tokens=1024, messages=messages, tools=[BASH_TOOL]
                ) as stream:
                    reply = stream.get_final_message()
                messages.append({"role": "assistant", "content": reply.content})
                if reply.stop_reason != "tool_use":
                    break
                results = [
                    {"type": "tool_result", "tool_use_id": block.id, "content": "ok"}
                    for block in reply.content
                    if block.type == "tool_use"
                ]
                messages.append({"role": "user", "content": results})
        assert api.remaining == 0
        assert len(api.message_requests) == 4  # three turns, one 429 retried
    assert reply.content[0].type == "text" and "off-by-one" in reply.content[0].text
    last = api.message_requests[-1].body["messages"][-1]["content"][0]
    assert last["tool_use_id"] == "toolu_replay_0002"


def test_tool_ids_and_stop_reasons_are_filled_in() -> None:
    replay = parse_replay(
        {
            "responses": [
                {
                    "content": [
                        {"tool_use": {"name": "A"}},
                        {"tool_use": {"name": "B", "id": "mine"}},
                    ]
                },
                {"fault": {"status": 500}},
                {"content": [{"tool_use": {"name": "C"}}], "stop_reason": "max_tokens"},
                {"content": [{"text": "bye"}]},
            ]
        }
    )
    steps = [step for step in replay.responses if isinstance(step, MessageStep)]
    ids = [
        item.tool_use.id for step in steps for item in step.content if isinstance(item, ToolUseItem)
    ]
    assert ids == ["toolu_replay_0001", "mine", "toolu_replay_0003"]
    assert [step.stop_reason for step in steps] == ["tool_use", "max_tokens", "end_turn"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("responses:\n  - content: [{text: hi}]\n    stop_reson: end_turn\n", "stop_reson"),
        ("responses:\n  - content: [{txt: hi}]\n", "a content block is"),
        ("responses:\n  - fault: {status: 200}\n", "greater than or equal to 400"),
        ("responses:\n  - fault: {stream_error: melted}\n", "stream_error"),
        ("responses:\n  - {}\n", "a response is"),
        ("model: x\n", "responses"),
        ("responses: [\n", "not valid YAML"),
    ],
)
def test_invalid_replay_file_is_a_readable_replay_error(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ReplayError) as caught:
        load_replay(path)
    message = str(caught.value)
    assert str(path) in message and expected in message


def test_missing_replay_file_is_a_replay_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="cannot read replay"):
        FakeMessagesAPI.from_file(tmp_path / "absent.yaml")


# -- the server itself ----------------------------------------------------------------------


def test_close_cuts_open_connections_and_frees_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    # An idle connection would outlive the test: only close can have cut it.
    monkeypatch.setattr(fake_api._Handler, "timeout", 3600.0)
    api = FakeMessagesAPI(parse_replay({"responses": [{"content": [{"text": "hi"}]}]}))
    with api:
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=WAIT_S)
        conn.request(
            "POST", "/v1/messages", json.dumps({"model": "m", "max_tokens": 1, "messages": USER})
        )
        conn.getresponse().read()  # the keep-alive connection stays open
        port = api.port
    assert conn.sock is not None and conn.sock.recv(1) == b""  # the server cut it
    conn.close()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
    api.close()  # twice is fine


@given(st.text(), st.integers(min_value=1, max_value=10))
def test_pieces_cover_the_text_in_order(text: str, count: int) -> None:
    pieces = _pieces(text, count)
    assert "".join(pieces) == text
    assert len(pieces) == min(count, len(text)) and all(pieces)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(), JSON_VALUES, max_size=5))
def test_any_tool_input_survives_the_sdks_stream_reassembly(tool_input: dict[str, Any]) -> None:
    responses = [{"content": [{"tool_use": {"name": "Bash", "input": tool_input}}]}]
    with (
        serving(responses) as (_, client),
        client.messages.stream(model=MODEL, max_tokens=64, messages=USER) as stream,
    ):
        final = stream.get_final_message()
    assert final.content[0].type == "tool_use" and final.content[0].input == tool_input
