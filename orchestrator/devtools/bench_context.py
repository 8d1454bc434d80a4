"""`airlock bench context`: what compaction saves on a long session.

One scripted session (every turn a Bash call with about 2,000 tokens of output, in a
real sandbox, against the fake Messages API) runs twice in the same process: with
context management at a given window, and with a window so large that nothing is ever
trimmed or summarized. Tokens sent are the input tokens the API reported for every
call, summarize calls included.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anthropic
from pydantic import BaseModel

from orchestrator.agent.context import ContextConfig
from orchestrator.agent.loop import AgentLoop, AgentResult, RunLimits
from orchestrator.agent.prompts import SYSTEM_PROMPT
from orchestrator.agent.routing import ModelRouter
from orchestrator.events.bus import EventBus
from orchestrator.events.models import Event
from orchestrator.gate.permission_gate import PermissionGate, Trust
from orchestrator.testing.fake_api import FakeMessagesAPI
from orchestrator.testing.replay import parse_replay
from orchestrator.tools import default_tools
from sandbox.docker_backend import DockerBackend
from sandbox.spec import SessionSpec
from security import PRESETS

MAIN, SUMMARIZE = "bench-main", "bench-summarize"
COMMAND = "seq 1 1500"  # about 8 KB of output: some 2,000 tokens per result
SUMMARY = "## Goal\nCount with seq.\n## Decisions made\n- none\n## Next steps\n- count again"
UNBOUNDED = 100_000_000  # a window no session reaches: nothing is compacted


class ContextBench(BaseModel):
    """Tokens sent with and without compaction, for the same scripted session."""

    tool_calls: int
    window: int
    tokens_sent_with_compaction: int
    tokens_sent_without_compaction: int
    tokens_saved_ratio: float  # without / with
    compaction_api_calls: int  # summarize calls made
    micro_compactions: int
    auto_compactions: int
    largest_request_with_compaction: int  # tokens, by the context events
    largest_request_without_compaction: int
    seconds_with: float
    seconds_without: float


class _Run(BaseModel):
    result: AgentResult
    largest: int
    micro: int
    auto: int
    seconds: float


def bench_context(tool_calls: int = 200, window: int = 40_000) -> ContextBench:
    """Run the scripted session both ways and compare."""
    compacted = asyncio.run(_session(tool_calls, ContextConfig(window=window)))
    plain = asyncio.run(_session(tool_calls, ContextConfig(window=UNBOUNDED)))
    sent_with = compacted.result.tally.input_tokens
    sent_without = plain.result.tally.input_tokens
    summarize = compacted.result.tally.by_kind.get("summarize")
    return ContextBench(
        tool_calls=tool_calls,
        window=window,
        tokens_sent_with_compaction=sent_with,
        tokens_sent_without_compaction=sent_without,
        tokens_saved_ratio=round(sent_without / max(sent_with, 1), 2),
        compaction_api_calls=summarize.calls if summarize else 0,
        micro_compactions=compacted.micro,
        auto_compactions=compacted.auto,
        largest_request_with_compaction=compacted.largest,
        largest_request_without_compaction=plain.largest,
        seconds_with=round(compacted.seconds, 2),
        seconds_without=round(plain.seconds, 2),
    )


async def _session(tool_calls: int, config: ContextConfig) -> _Run:
    call = {"content": [{"tool_use": {"name": "Bash", "input": {"command": COMMAND}}}]}
    summaries: list[dict[str, Any]] = [{"content": [{"text": SUMMARY}]}] * (tool_calls // 2 + 1)
    replay = parse_replay(
        {
            "responses": [*([call] * tool_calls), {"content": [{"text": "done"}]}],
            "by_model": {SUMMARIZE: summaries},
        }
    )
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    started = time.monotonic()
    with FakeMessagesAPI(replay) as api:
        client = anthropic.AsyncAnthropic(api_key="bench", base_url=api.base_url)
        try:
            async with DockerBackend().session(SessionSpec()) as session:
                agent = AgentLoop(
                    name="main",
                    session_id=session.id,
                    client=client,
                    model=MAIN,
                    router=ModelRouter.configured({"main": MAIN, "summarize": SUMMARIZE}),
                    session=session,
                    gate=PermissionGate(PRESETS["dev"], Trust(trusted=True, by="flag")),
                    tools=default_tools(),
                    bus=bus,
                    system=SYSTEM_PROMPT,
                    limits=RunLimits(max_turns=tool_calls + 1),
                    context=config,
                )
                result = await agent.run("count with seq, many times")
        finally:
            await client.close()
    if result.outcome != "end_turn":
        raise RuntimeError(f"the scripted session did not finish: {result.outcome} {result.error}")
    compactions = [e for e in events if e.type == "compaction" and not e.failed]
    return _Run(
        result=result,
        largest=max((e.total for e in events if e.type == "context"), default=0),
        micro=sum(e.kind == "micro" for e in compactions),
        auto=sum(e.kind == "auto" for e in compactions),
        seconds=time.monotonic() - started,
    )
