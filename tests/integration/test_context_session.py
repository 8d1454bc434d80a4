"""Long sessions stay inside the window: the real loop, the fake API, a real sandbox.

The fake API serves the agent's turns and the summarize calls from separate lanes
(by model id), so the tests need not know in advance when a compaction happens.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.agent.context import ContextConfig
from orchestrator.agent.loop import AgentResult, RunLimits
from orchestrator.agent.retry import RetryPolicy
from orchestrator.agent.routing import ModelRouter
from orchestrator.events.models import Event
from orchestrator.testing.fake_api import FakeMessagesAPI
from orchestrator.tools import default_tools
from tests.integration.agent_harness import run_agent

pytestmark = pytest.mark.integration

MAIN, SUMMARIZE = "model-main", "model-summarize"
ROUTER = ModelRouter.configured({"main": MAIN, "summarize": SUMMARIZE}, environ={})
SUMMARY = "## Goal\nkeep counting\n## Next steps\nrun seq again"


def big_output_calls(turns: int) -> list[dict[str, Any]]:
    """``turns`` Bash calls of about 2,000 tokens of output each, then the end."""
    call = {"content": [{"tool_use": {"name": "Bash", "input": {"command": "seq 1 1500"}}}]}
    return [call] * turns + [{"content": [{"text": "done"}]}]


def run_session(
    responses: list[dict[str, Any]], summaries: list[dict[str, Any]], config: ContextConfig
) -> tuple[AgentResult, list[Event], FakeMessagesAPI]:
    replay = {"responses": responses, "by_model": {SUMMARIZE: summaries}}
    run = run_agent(
        replay, "count a lot", model=MAIN, router=ROUTER, tools=default_tools(),
        limits=RunLimits(max_turns=1000), retry=RetryPolicy(attempts=1), context=config,
    )  # fmt: skip
    return run.result, run.events, run.api


def sent_tokens(body: dict[str, Any]) -> int:
    """What the fake API counts for a request (its own estimate: JSON length / 4)."""
    return len(json.dumps(body)) // 4


def test_two_hundred_large_tool_calls_stay_under_the_window() -> None:
    config = ContextConfig(window=40_000)
    result, events, api = run_session(big_output_calls(200), [{"content": [{"text": SUMMARY}]}]
                                      * 50, config)  # fmt: skip
    assert result.outcome == "end_turn" and result.tally.tool_calls == {"Bash": 200}
    main = [r.body for r in api.message_requests if r.body["model"] == MAIN]
    summaries = [r.body for r in api.message_requests if r.body["model"] == SUMMARIZE]
    assert len(main) == 201
    assert max(sent_tokens(body) for body in main) < config.window
    contexts = [e for e in events if e.type == "context"]
    assert len(contexts) == 201 and max(e.total for e in contexts) < config.window
    compactions = [e for e in events if e.type == "compaction"]
    micro = [e for e in compactions if e.kind == "micro"]
    auto = [e for e in compactions if e.kind == "auto" and not e.failed]
    assert micro and auto, "both kinds of compaction happened"
    assert len(summaries) == len(auto)  # one summarize call per AutoCompact, no more
    assert result.tally.by_kind["summarize"].calls == len(auto)
    # after an AutoCompact the next request starts with the summary, not the old turns
    first_after = next(
        body for body in main if "<airlock-compacted>" in str(body["messages"][0]["content"])
    )
    assert "keep counting" in first_after["messages"][0]["content"]
    assert len(first_after["messages"]) == 3


def test_micro_compact_alone_costs_no_api_call() -> None:
    config = ContextConfig(window=60_000, micro_share=0.2)  # micro at 12k, auto at 45k
    result, events, api = run_session(big_output_calls(12), [], config)
    assert result.outcome == "end_turn"
    assert [e.kind for e in events if e.type == "compaction"] != []
    assert {e.kind for e in events if e.type == "compaction"} == {"micro"}
    assert len(api.message_requests) == 13  # the agent's turns only
    last = api.message_requests[-1].body["messages"]
    results = [b["content"] for m in last if m["role"] == "user" and isinstance(m["content"],
               list) for b in m["content"]]  # fmt: skip
    assert sum(r.startswith("[airlock trimmed") for r in results) == 12 - 4
    assert all(r.startswith("1\n2\n3") for r in results[-4:])  # the newest stay whole


def test_three_failed_summaries_stop_compaction_attempts() -> None:
    config = ContextConfig(window=20_000, keep_recent_results=100)  # no MicroCompact relief
    failing = [{"fault": {"status": 500, "should_retry": False}}] * 10
    result, events, api = run_session(big_output_calls(12), failing, config)
    assert result.outcome == "end_turn"  # the fake API does not enforce the window
    summaries = [r for r in api.message_requests if r.body["model"] == SUMMARIZE]
    assert len(summaries) == 3
    failures = [e for e in events if e.type == "compaction" and e.failed]
    assert len(failures) == 3 and "stops trying" in failures[-1].message
