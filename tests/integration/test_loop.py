"""The agent loop end to end: the real SDK against the fake Messages API on loopback,
tools running in a real container, every call through the permission gate."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import anthropic
import docker
import pytest

from orchestrator.agent.loop import AgentLoop, AgentResult, RunLimits
from orchestrator.agent.prompts import SYSTEM_PROMPT
from orchestrator.agent.retry import RetryPolicy
from orchestrator.agent.routing import ModelRouter
from orchestrator.events.bus import EventBus
from orchestrator.events.models import Event
from orchestrator.gate.permission_gate import PermissionGate, Trust
from orchestrator.testing.fake_api import FakeMessagesAPI
from orchestrator.tools import default_tools
from orchestrator.tools.base import Tool
from orchestrator.tools.bash import Bash
from sandbox import labels
from sandbox.docker_backend import DockerBackend
from sandbox.spec import SessionSpec
from security import PRESETS
from tests.integration.agent_harness import run_agent, run_agent_async
from tests.integration.waiting import LIVENESS_S, START_S, eventually

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.05, breaker_failures=3)


def bash(command: str, **extra: Any) -> dict[str, Any]:
    return {"tool_use": {"name": "Bash", "input": {"command": command, **extra}}}


async def _run(
    responses: list[dict[str, Any]],
    *,
    policy: str = "read-only",
    limits: RunLimits | None = None,
    max_retries: int = 2,
    tools: list[Tool[Any]] | None = None,
    events: list[Event] | None = None,
) -> tuple[AgentResult, list[Event], FakeMessagesAPI]:
    bus = EventBus()
    if events is not None:
        bus.subscribe(events.append)
    run = await run_agent_async(
        {"model": "claude-sonnet-4-6", "responses": responses}, "fix the tests",
        policy=policy, max_retries=max_retries, bus=bus, sub_agents=True,
        limits=limits or RunLimits(), retry=FAST_RETRY, tools=tools or [Bash()],
    )  # fmt: skip
    return run.result, run.events, run.api


def run(responses: list[dict[str, Any]], **kwargs: Any) -> tuple[AgentResult, list[Event], Any]:
    return asyncio.run(_run(responses, **kwargs))


def of_type(events: list[Event], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]


def test_multi_turn_tool_use_streams_and_sends_results_back() -> None:
    result, events, api = run(
        [
            {"content": [{"text": "Let me look."}, bash("echo hello; echo oops >&2")]},
            {"content": [{"text": "All done."}]},
        ]
    )
    assert result.outcome == "end_turn" and result.final_text == "All done."
    assert result.tally.turns == 2 and result.tally.tool_calls == {"Bash": 1}
    assert "".join(e.text for e in of_type(events, "text_delta")) == "Let me look.All done."
    verdict = of_type(events, "verdict")[0]
    assert verdict.decision == "allow"
    streamed = "".join(e.data for e in of_type(events, "exec_output"))
    assert "hello\n" in streamed and "oops\n" in streamed
    second = api.message_requests[1].body
    tool_result = second["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["is_error"] is False
    assert tool_result["content"] == "hello\noops"
    # the system prompt and the tools are marked for prompt caching
    assert second["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert second["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert [e.type for e in events][-1] == "done"
    assert result.tally.cost_usd > 0 and len(of_type(events, "usage")) == 2


def test_a_refused_command_reaches_the_model_as_an_error_with_reasons() -> None:
    result, events, api = run(
        [{"content": [bash("rm -rf /")]}, {"content": [{"text": "I will not do that."}]}]
    )
    assert result.outcome == "end_turn"
    tool_result = api.message_requests[1].body["messages"][-1]["content"][0]
    assert tool_result["is_error"] is True
    assert "Permission denied" in tool_result["content"] and "S29" in tool_result["content"]
    assert of_type(events, "verdict")[0].decision == "deny"
    assert of_type(events, "exec_output") == []  # it never ran
    assert result.tally.verdicts == {"deny": 1}


def test_ask_is_denied_when_nobody_can_approve() -> None:
    _, events, api = run([{"content": [bash("make")]}, {"content": [{"text": "ok"}]}])
    tool_result = api.message_requests[1].body["messages"][-1]["content"][0]
    assert tool_result["is_error"] and "nobody is there to approve" in tool_result["content"]
    assert of_type(events, "approval")[0].approved is False


def test_results_come_back_in_the_order_of_the_calls() -> None:
    calls = [bash(f"echo {n}") for n in range(4)]
    _, _, api = run([{"content": calls}, {"content": [{"text": "ok"}]}])
    results = api.message_requests[1].body["messages"][-1]["content"]
    assert [r["content"] for r in results] == ["0", "1", "2", "3"]
    ids = [b["id"] for b in api.message_requests[1].body["messages"][-2]["content"]]
    assert [r["tool_use_id"] for r in results] == ids


def test_malformed_tool_input_is_an_error_result_not_a_crash() -> None:
    result, _, api = run(
        [
            {"content": [{"tool_use": {"name": "Bash", "input": {"cmd": "ls"}}}]},
            {"content": [{"tool_use": {"name": "Nope", "input": {}}}]},
            {"content": [{"text": "sorry"}]},
        ]
    )
    assert result.outcome == "end_turn"
    first = api.message_requests[1].body["messages"][-1]["content"][0]
    assert first["is_error"] and "invalid input for Bash" in first["content"]
    assert "command" in first["content"]
    second = api.message_requests[2].body["messages"][-1]["content"][0]
    assert second["is_error"] and "no tool named 'Nope'" in second["content"]


def test_rate_limit_and_overload_then_success() -> None:
    result, _, api = run(
        [
            {"fault": {"status": 429, "retry_after_ms": 1}},
            {"fault": {"status": 529, "retry_after_ms": 1}},
            {"content": [{"text": "made it"}]},
        ]
    )
    assert result.outcome == "end_turn" and result.final_text == "made it"
    assert len(api.message_requests) == 3  # the SDK retried both by itself


def test_an_error_inside_the_stream_is_retried_by_the_loop() -> None:
    result, events, api = run(
        [
            {"fault": {"stream_error": "overloaded_error", "partial_text": "Let me"}},
            {"content": [{"text": "second try"}]},
        ]
    )
    assert result.outcome == "end_turn" and result.final_text == "second try"
    errors = of_type(events, "error")
    assert len(errors) == 1 and errors[0].retrying and "overloaded_error" in errors[0].message
    assert len(api.message_requests) == 2


def test_a_server_that_never_recovers_stops_the_run_cleanly() -> None:
    failing = [{"fault": {"status": 500, "retry_after_ms": 1}}] * 12
    result, events, api = run(failing, max_retries=1)
    assert result.outcome == "error"
    assert result.error is not None and "too many API failures in a row" in result.error
    assert len(api.message_requests) == 6  # 3 loop attempts x (1 + 1 SDK retry)
    assert [e.retrying for e in of_type(events, "error")] == [True, True, False]
    assert of_type(events, "done")[0].outcome == "error"


def test_a_client_error_is_not_retried() -> None:
    result, _, api = run([{"fault": {"status": 400}}, {"content": [{"text": "never"}]}])
    assert result.outcome == "error" and "refused the request" in (result.error or "")
    assert len(api.message_requests) == 1


def test_max_turns_stops_the_loop() -> None:
    result, events, _ = run([{"content": [bash("true")]}] * 3, limits=RunLimits(max_turns=2))
    assert result.outcome == "max_turns" and result.tally.turns == 2
    assert of_type(events, "done")[0].outcome == "max_turns"


def test_the_budget_stops_the_loop() -> None:
    costly = {"content": [bash("true")], "usage": {"input_tokens": 10_000, "output_tokens": 0}}
    result, _, api = run([costly] * 3, limits=RunLimits(budget_usd=0.05))
    assert result.outcome == "budget"
    assert len(api.message_requests) == 2  # $0.03 per call: the third never starts


def test_read_only_calls_of_a_turn_run_together_and_answer_in_order() -> None:
    calls = [
        bash("printf 'def f():\\n    return 1\\n' > /workspace/m.py"),
        {"tool_use": {"name": "Read", "input": {"file_path": "/workspace/m.py"}}},
        {"tool_use": {"name": "Grep", "input": {"pattern": "return", "output_mode": "content"}}},
        {"tool_use": {"name": "Glob", "input": {"pattern": "*.py"}}},
    ]
    result, events, api = run(
        [{"content": calls}, {"content": [{"text": "ok"}]}], policy="dev", tools=default_tools()
    )
    assert result.outcome == "end_turn"
    order = [(e.type, e.call_id) for e in events if e.type in ("tool_call", "tool_result")]
    reads = {call_id for kind, call_id in order[2:] if kind == "tool_call"}
    first_done = next(i for i, (k, c) in enumerate(order) if k == "tool_result" and c in reads)
    started = [c for k, c in order[:first_done] if k == "tool_call"]
    assert reads <= set(started), order  # all three started before any of them finished
    results = api.message_requests[1].body["messages"][-1]["content"]
    assert [r["is_error"] for r in results] == [False] * 4
    assert "return 1" in results[1]["content"] and "m.py" in results[3]["content"]
    # the write ran before the reads that follow it; the reads' results kept their order
    assert "/workspace/m.py:2:" in results[2]["content"]


def _hostnames(events: list[Event]) -> dict[str, str]:
    """The hostname (the container's short id) each agent printed, by agent name."""
    return {
        e.agent: e.data.split()[0]
        for e in of_type(events, "exec_output")
        if e.data.startswith("host=")
    }


def test_a_sub_agent_works_in_its_own_container_and_only_its_report_comes_back() -> None:
    responses = [
        {"content": [{"tool_use": {"name": "Agent",
                                   "input": {"description": "look", "prompt": "find it"}}}]},
        {"content": [bash("echo host=$(hostname) secret-child-output; touch /workspace/mark")]},
        {"content": [{"text": "REPORT: found it in calc.py"}]},
        {"content": [bash("echo host=$(hostname); ls /workspace")]},
        {"content": [{"text": "done"}]},
    ]  # fmt: skip
    result, events, api = run(responses, policy="dev", tools=default_tools())
    assert result.outcome == "end_turn"
    hosts = _hostnames(events)
    child = next(name for name in hosts if name != "main")
    assert child.startswith("main/1:look") and hosts[child] != hosts["main"]
    parent_requests = [r.body for r in api.message_requests]
    agent_result = parent_requests[3]["messages"][-1]["content"][0]
    assert agent_result["content"] == "REPORT: found it in calc.py"
    assert "secret-child-output" not in str(parent_requests[3]["messages"])
    ls = parent_requests[4]["messages"][-1]["content"][0]["content"]
    assert "mark" not in ls  # the child's changes stayed in its copy
    assert result.tally.tool_calls == {"Agent": 1, "Bash": 2}  # the child's call counts
    client = docker.from_env()
    assert client.containers.list(all=True, filters={"id": hosts[child].split("=")[1]}) == []


def test_each_kind_of_call_goes_to_its_model_and_is_counted_by_kind() -> None:
    responses = [
        {"content": [{"tool_use": {"name": "Agent",
                                   "input": {"description": "d", "prompt": "p"}}}]},
        {"content": [{"text": "child report"}]},
        {"content": [{"text": "done"}]},
    ]  # fmt: skip
    router = ModelRouter.configured({"main": "model-main", "subagent": "model-sub"}, environ={})

    run = run_agent(
        {"responses": responses}, model="model-main", router=router, tools=default_tools(),
        sub_agents=True, max_retries=2,
    )  # fmt: skip
    result, api = run.result, run.api
    assert [r.body["model"] for r in api.message_requests] == [
        "model-main", "model-sub", "model-main"
    ]  # fmt: skip
    assert {kind: used.calls for kind, used in result.tally.by_kind.items()} == {
        "main": 2, "subagent": 1
    }  # fmt: skip
    assert result.tally.calls == 3


def test_cancelling_a_run_removes_the_sub_agents_container() -> None:
    responses = [
        {"content": [{"tool_use": {"name": "Agent",
                                   "input": {"description": "slow", "prompt": "wait"}}}]},
        {"content": [bash("echo host=$(hostname); sleep 3600")]},
    ]  # fmt: skip

    events: list[Event] = []

    async def scenario() -> None:
        run = _run(responses, policy="dev", tools=default_tools(), events=events)
        task = asyncio.create_task(run)

        # the child reports its hostname, then sleeps: cancel the whole run then
        async def reported() -> bool:
            return bool(_hostnames(events)) or task.done()

        assert await eventually(reported, bool), "the child never reported its hostname"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    hosts = _hostnames(events)
    assert len(hosts) == 1, hosts
    child_id = next(iter(hosts.values())).split("=")[1]
    client = docker.from_env()
    assert client.containers.list(all=True, filters={"id": child_id}) == []
    started = {e.session_id for e in events}  # the parent's container is gone too
    mine = client.containers.list(all=True, filters={"label": f"{labels.OWNER_PID}={os.getpid()}"})
    assert [c for c in mine if c.labels.get(labels.SESSION) in started] == []
    assert of_type(events, "done")[0].outcome == "cancelled"


def test_connection_errors_are_retried_then_stop_the_run() -> None:
    async def scenario() -> tuple[AgentResult, list[Event]]:
        events: list[Event] = []
        bus = EventBus()
        bus.subscribe(events.append)
        client = anthropic.AsyncAnthropic(
            api_key="k", base_url="http://127.0.0.1:9", max_retries=0
        )  # nothing listens on the discard port: refused at once
        async with DockerBackend().session(SessionSpec()) as session:
            agent = AgentLoop(
                name="main",
                session_id=session.id,
                client=client,
                model="claude-sonnet-4-6",
                session=session,
                gate=PermissionGate(PRESETS["dev"], Trust(trusted=True, by="flag")),
                tools=[Bash()],
                bus=bus,
                system=SYSTEM_PROMPT,
                retry=FAST_RETRY,
            )
            result = await agent.run("anything")
        await client.close()
        return result, events

    result, events = asyncio.run(scenario())
    assert result.outcome == "error" and "connection" in (result.error or "").lower()
    assert len(of_type(events, "error")) == 3


def test_a_failing_audit_log_stops_the_run() -> None:
    written: list[Event] = []

    def audit(event: Event) -> None:
        if len(written) >= 3:
            raise OSError("disk full")
        written.append(event)

    bus = EventBus()
    bus.subscribe(audit, critical=True)
    replay = {"responses": [{"content": [bash("echo 1")]}] * 5}
    run = run_agent(replay, bus=bus, max_retries=2, retry=FAST_RETRY)
    result = run.result
    assert result.outcome == "error" and "could not be recorded" in (result.error or "")
    assert "disk full" in (result.error or "")
    assert result.tally.turns <= 1  # it stopped at once, not after every turn


def test_the_token_budget_stops_the_loop() -> None:
    step = {"content": [bash("true")], "usage": {"input_tokens": 600, "output_tokens": 100}}
    result, _, api = run([step] * 3, limits=RunLimits(budget_tokens=1000))
    assert result.outcome == "budget" and "1400 tokens of 1000" in (result.error or "")
    assert len(api.message_requests) == 2


def test_a_long_retry_after_is_capped() -> None:
    async def scenario() -> tuple[AgentResult, float]:
        started = asyncio.get_running_loop().time()
        run = await run_agent_async(replay, retry=RetryPolicy(retry_after_cap_s=0.2))
        return run.result, asyncio.get_running_loop().time() - started

    replay = {"responses": [{"fault": {"status": 529, "retry_after": 3600}},
                            {"content": [{"text": "back"}]}]}  # fmt: skip
    result, waited = asyncio.run(scenario())
    assert result.outcome == "end_turn" and result.final_text == "back"
    assert 0.2 <= waited < LIVENESS_S  # an hour was asked for; the cap (0.2 s) was obeyed


def test_the_circuit_breaker_counts_failures_across_sub_agents() -> None:
    responses = [
        {"content": [{"tool_use": {"name": "Agent",
                                   "input": {"description": "d", "prompt": "p"}}}]},
        *[{"fault": {"status": 500, "should_retry": False}}] * 4,
    ]  # fmt: skip

    run = run_agent(
        {"responses": responses}, tools=default_tools(), sub_agents=True,
        retry=RetryPolicy(attempts=2, backoff_s=0.01, breaker_failures=3),
    )  # fmt: skip
    result, events = run.result, run.events
    # the child failed twice (retries exhausted), the parent's first try made it three
    assert result.outcome == "error" and "too many API failures in a row" in (result.error or "")
    done = {e.agent: e.outcome for e in of_type(events, "done")}
    assert done == {"main/1:d": "error", "main": "error"}
    assert len(of_type(events, "error")) == 3


def test_a_server_that_hangs_mid_stream_is_timed_out_and_retried() -> None:
    replay = {"responses": [
        {"fault": {"stream_error": "overloaded_error", "partial_text": "L", "hang_s": 3600}},
        {"content": [{"text": "back"}]},
    ]}  # fmt: skip
    # the read timeout leaves a loaded machine room for every honest read; the hang is
    # an hour, so only the timeout can have ended the first stream
    retry = RetryPolicy(attempts=2, backoff_s=0.01, read_timeout_s=START_S)
    run = run_agent(replay, retry=retry)
    result, events, requests = run.result, run.events, len(run.requests)
    assert result.outcome == "end_turn" and result.final_text == "back" and requests == 2
    (error,) = [e for e in events if e.type == "error"]
    assert error.retrying and "timed out" in error.message.lower()
