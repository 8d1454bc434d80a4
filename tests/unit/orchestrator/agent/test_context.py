"""Context management on its own: counting, MicroCompact, AutoCompact and its breaker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.agent.context import ContextConfig, ContextManager, estimate

TASK = {"role": "user", "content": "fix the failing test"}


def exchange(n: int, output: str, path: str | None = None) -> list[dict[str, Any]]:
    """One assistant tool call and the user message carrying its result."""
    tool_input = {"file_path": path} if path else {"command": f"step {n}"}
    return [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": f"doing step {n}"},
                {
                    "type": "tool_use",
                    "id": f"t{n}",
                    "name": "Read" if path else "Bash",
                    "input": tool_input,
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": f"t{n}", "content": output}],
        },
    ]


def conversation(turns: int, output_chars: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [dict(TASK)]
    for n in range(turns):
        messages += exchange(n, f"line {n}\n" + "x" * output_chars)
    return messages


class Harness:
    """A ContextManager whose summarizer and file reader are plain functions."""

    def __init__(self, config: ContextConfig, summaries: list[str | Exception] | None = None,
                 files: dict[str, str] | None = None) -> None:  # fmt: skip
        self.summaries = list(summaries or [])
        self.summarize_calls: list[str] = []
        self.files = files or {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.manager = ContextManager(
            config,
            summarize=self.summarize,
            read_files=self.read_files,
            publish=lambda event_type, /, **fields: self.events.append((event_type, fields)),
        )

    async def summarize(self, transcript: str) -> str:
        self.summarize_calls.append(transcript)
        answer = self.summaries.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def read_files(self, paths: list[str]) -> dict[str, str]:
        return {p: self.files[p] for p in paths if p in self.files}

    def prepare(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return asyncio.run(self.manager.prepare("system", [{"name": "Bash"}], messages))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [fields for k, fields in self.events if k == kind]


def test_every_turn_publishes_a_breakdown_that_adds_up() -> None:
    h = Harness(ContextConfig(window=100_000))
    messages = conversation(3, 400)
    h.prepare(messages)
    (context,) = h.of("context")
    assert context["total"] == sum(
        context[k] for k in ("system", "tools", "messages", "tool_results")
    )
    assert context["tool_results"] > context["messages"] > 0 and context["window"] == 100_000


def test_the_apis_count_calibrates_the_estimate() -> None:
    h = Harness(ContextConfig(window=100_000))
    messages = conversation(3, 400)
    h.prepare(messages)
    first = h.of("context")[0]["total"]
    h.manager.observe(first * 2)  # the API counted twice what was estimated
    h.prepare(messages)
    assert h.of("context")[1]["total"] == pytest.approx(first * 2, rel=0.01)


def test_micro_compact_trims_old_results_without_any_api_call() -> None:
    config = ContextConfig(window=10_000, micro_share=0.1, keep_recent_results=2,
                           min_trim_tokens=50)  # fmt: skip
    h = Harness(config)
    messages = conversation(6, 1_000)  # ~6 x 250 tokens of results: past 10% of 10k
    h.prepare(messages)
    results = [m["content"][0]["content"] for m in messages[2::2]]
    assert all(r.startswith("[airlock trimmed") for r in results[:4])
    assert all(r.startswith("line") for r in results[4:])  # the newest two stay whole
    assert "Bash(step 0)" in results[0] and "Call the tool again" in results[0]
    assert h.summarize_calls == []
    (micro,) = h.of("compaction")
    assert micro["kind"] == "micro" and micro["items"] == 4
    assert micro["tokens_after"] < micro["tokens_before"]
    h.prepare(messages)  # already trimmed results are not trimmed again
    assert len(h.of("compaction")) == 1


def test_auto_compact_replaces_old_turns_with_the_summary_and_recent_files() -> None:
    config = ContextConfig(window=8_000, reserve=2_000, keep_recent_results=100,
                           file_cap_tokens=100, working_budget=1_000)  # fmt: skip
    files = {"/workspace/a.py": "A" * 10_000, "/workspace/b.py": "print('b')\n"}
    h = Harness(config, summaries=["## Goal\nfix it\n## Next steps\nrun tests"], files=files)
    messages = [dict(TASK)]
    messages += exchange(0, "a" * 2_000, path="/workspace/a.py")
    messages += exchange(1, "b" * 2_000, path="/workspace/b.py")
    messages += conversation(8, 2_500)[1:]
    compacted = h.prepare(messages)
    assert len(h.summarize_calls) == 1
    assert "[tool call Read]" in h.summarize_calls[0]  # the old turns, as a transcript
    first = compacted[0]["content"]
    assert first.startswith("fix the failing test") and "## Goal\nfix it" in first
    # the files the agent used, as they are now, each within its cap (100 tokens)
    assert "### /workspace/b.py\n```\nprint('b')" in first
    a_text = first.split("### /workspace/a.py\n```\n")[1].split("\n```")[0]
    assert len(a_text) <= 100 * 4 + 40 and "cut at 400 characters" in a_text
    assert compacted[1:] == messages[-2:]  # the last call and its result, as they were
    assert compacted[1]["content"][1]["id"] == compacted[2]["content"][0]["tool_use_id"]
    (auto,) = h.of("compaction")
    assert auto["kind"] == "auto" and auto["tokens_after"] < auto["tokens_before"]
    assert auto["tokens_after"] < config.auto_at


def test_three_failed_summaries_stop_the_attempts_for_good() -> None:
    config = ContextConfig(window=4_000, reserve=1_000, keep_recent_results=100)
    h = Harness(config, summaries=[RuntimeError("overloaded")] * 3 + ["never asked"])
    messages = conversation(10, 1_500)
    for _ in range(6):
        assert h.prepare(messages) == messages  # nothing replaced while it fails
    assert len(h.summarize_calls) == 3
    failures = h.of("compaction")
    assert [f["failed"] for f in failures] == [True, True, True]
    assert "stops trying" in failures[-1]["message"] and h.manager.gave_up


def test_an_empty_summary_is_a_failure() -> None:
    config = ContextConfig(window=4_000, reserve=1_000, keep_recent_results=100)
    h = Harness(config, summaries=["   ", "## Goal\nok"])
    messages = conversation(10, 1_500)
    assert h.prepare(messages) == messages
    assert h.prepare(messages) != messages
    assert [f.get("failed", False) for f in h.of("compaction")] == [True, False]


def test_estimate_grows_with_text() -> None:
    assert estimate("x" * 400) > estimate("x" * 40) > 0
    assert estimate({"a": "x" * 400}) >= 100


def test_the_reserve_must_fit_the_window_and_scales_with_small_windows() -> None:
    with pytest.raises(ValueError, match="must be smaller than window"):
        ContextConfig(window=10_000, reserve=10_000)
    assert ContextConfig().auto_at == 200_000 - 13_000
    assert ContextConfig(window=20_000).auto_at == 15_000  # a quarter of a small window


def test_the_active_plan_is_put_back_after_a_compaction() -> None:
    config = ContextConfig(window=4_000, reserve=1_000, keep_recent_results=100)
    h = Harness(config, summaries=["## Goal\nok"])
    compacted = asyncio.run(
        h.manager.prepare("system", [], conversation(10, 1_500), plan="1. read\n2. fix")
    )
    assert "## The active plan\n1. read\n2. fix" in compacted[0]["content"]
