"""The safety classifier in the gate: with nobody to ask, a cheap model may decide an ask.

The real loop and SDK against the fake API; the classify-kind calls are served from
their own lane (by model id), so each test can count them.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.agent.loop import AgentResult
from orchestrator.agent.retry import RetryPolicy
from orchestrator.agent.routing import ModelRouter
from orchestrator.events.models import Event
from security import PRESETS, Policy
from tests.integration.agent_harness import run_agent

pytestmark = pytest.mark.integration

MAIN, CLASSIFY = "model-main", "model-classify"
ROUTER = ModelRouter.configured({"main": MAIN, "classify": CLASSIFY}, environ={})


def bash(*commands: str) -> dict[str, Any]:
    return {"content": [{"tool_use": {"name": "Bash", "input": {"command": c}}} for c in commands]}


def says(decision: str, reason: str) -> dict[str, Any]:
    verdict = {"name": "verdict", "input": {"decision": decision, "reason": reason}}
    return {"content": [{"tool_use": verdict}]}


def run(
    policy: Policy, turns: list[dict[str, Any]], answers: list[dict[str, Any]]
) -> tuple[AgentResult, list[Event], list[dict[str, Any]], list[dict[str, Any]]]:
    replay = {
        "responses": [*turns, {"content": [{"text": "done"}]}],
        "by_model": {CLASSIFY: answers},
    }
    run = run_agent(
        replay, "build it", policy=policy, model=MAIN, router=ROUTER, retry=RetryPolicy(attempts=1)
    )
    main = [b for b in run.requests if b["model"] == MAIN]
    classify = [b for b in run.requests if b["model"] == CLASSIFY]
    result, events = run.result, run.events
    return result, events, main, classify


def with_classifier(name: str) -> Policy:
    return PRESETS[name].model_copy(update={"classify_asks": True})


def tool_results(main: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        block
        for body in main
        for block in body["messages"][-1]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def test_a_routine_ask_is_allowed_by_the_classifier_and_audited() -> None:
    result, events, main, classify = run(
        with_classifier("read-only"),
        [bash("touch /workspace/built")],
        [says("allow", "Creating a file in the project is routine.")],
    )
    assert len(classify) == 1 and classify[0]["tool_choice"]["name"] == "verdict"
    (approval,) = [e for e in events if e.type == "approval"]
    assert approval.approved and approval.by == "classifier"
    assert "Creating a file in the project is routine." in approval.reason
    assert not tool_results(main)[0]["is_error"]  # it ran
    assert result.tally.by_kind["classify"].calls == 1


def test_the_classifier_can_refuse_and_its_answer_is_cached() -> None:
    _, events, main, classify = run(
        with_classifier("read-only"),
        [bash("make deploy"), bash("make   deploy")],
        [says("deny", "Deploying is not routine.")],
    )
    assert len(classify) == 1  # the second spelling came from the cache
    results = tool_results(main)
    assert all(r["is_error"] and "Deploying is not routine." in r["content"] for r in results)
    reasons = [e.reason for e in events if e.type == "approval"]
    assert "cached" not in reasons[0] and "cached" in reasons[1]


def test_a_deny_and_a_structural_finding_never_reach_the_classifier() -> None:
    _, events, main, classify = run(
        with_classifier("read-only"), [bash("rm -rf /"), bash("$tool -rf ~/x")], []
    )
    assert classify == []
    results = tool_results(main)
    assert results[0]["is_error"] and "S29" in results[0]["content"]
    assert results[1]["is_error"] and "nobody is there to approve" in results[1]["content"]
    assert {e.by for e in events if e.type == "approval"} == {"policy"}


def test_a_headless_policy_lets_the_classifier_decide_its_asks() -> None:
    _, events, main, classify = run(
        with_classifier("ci-untrusted"),
        [bash("curl -s http://example.com")],
        [says("deny", "It reaches the network.")],
    )
    assert len(classify) == 1  # without the classifier, ci-untrusted denies this at once
    assert [e.by for e in events if e.type == "approval"] == ["classifier"]
    assert "It reaches the network." in tool_results(main)[0]["content"]


def test_a_failing_classifier_denies() -> None:
    _, _, main, classify = run(
        with_classifier("read-only"),
        [bash("make -v")],
        [{"fault": {"status": 500, "should_retry": False}}],
    )
    assert len(classify) == 1
    result = tool_results(main)[0]
    assert result["is_error"] and "safety classifier failed" in result["content"]
