"""Context management: keep a long session inside the model's window, cheapest step first.

1. Count, every turn: tokens per component (system, tools, messages, tool results). The
   API's own count of the last request (its usage) calibrates a local estimate, so the
   breakdown needs no extra call; it is published as a `context` event.
2. MicroCompact (no API call): past a share of the window, old tool results are trimmed
   in place to a placeholder saying what was there and how to get it again; the newest
   results stay whole.
3. AutoCompact (one summarize call): at the window minus a reserve, a structured summary
   replaces the old turns, followed by the recently used files as they are now (each
   capped) and where the agent was (full compact); the next compaction then waits for a
   fresh working budget. Three failed summaries in a row stop the attempts for good.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

from anthropic.types import MessageParam
from pydantic import BaseModel, Field, model_validator

CHARS_PER_TOKEN = 4  # the local estimate; calibrated against the API's counts
FILE_TOOLS = ("Read", "Edit", "Write")
TRANSCRIPT_RESULT_CHARS = 2_000  # how much of each tool result the summarizer sees

Summarize = Callable[[str], Awaitable[str]]  # transcript -> summary (one API call)
ReadFiles = Callable[[list[str]], Awaitable[dict[str, str]]]  # paths -> current text


class ContextConfig(BaseModel):
    """Every threshold of context management (tokens unless said otherwise)."""

    window: int = Field(200_000, ge=2_000, description="the model's context window")
    reserve: int | None = Field(
        None,
        ge=0,
        description="AutoCompact at window minus this (13,000, or a quarter of a "
        "window smaller than 52,000)",
    )
    micro_share: float = Field(0.5, gt=0, le=1, description="MicroCompact past this share")
    keep_recent_results: int = Field(4, ge=0, description="newest tool results kept whole")
    min_trim_tokens: int = Field(200, ge=0, description="smaller results are never trimmed")
    summary_max_tokens: int = Field(20_000, ge=256)
    reinject_files: int = Field(5, ge=0, description="recent files put back after a compact")
    file_cap_tokens: int = Field(5_000, ge=100)
    working_budget: int = Field(50_000, ge=1_000, description="room after a full compact")
    summarize_failures: int = Field(3, ge=1, description="failed summaries that stop it")

    @model_validator(mode="after")
    def _reserve_fits(self) -> ContextConfig:
        if self.reserve is not None and self.reserve >= self.window:
            raise ValueError(
                f"reserve ({self.reserve}) must be smaller than window ({self.window})"
            )
        return self

    @property
    def auto_at(self) -> int:
        reserve = self.reserve if self.reserve is not None else min(13_000, self.window // 4)
        return self.window - reserve

    @property
    def micro_at(self) -> int:
        return int(self.window * self.micro_share)


class Breakdown(BaseModel):
    """Tokens per component of the next request."""

    system: int
    tools: int
    messages: int  # everything in the messages but tool results
    tool_results: int
    scale: float = Field(description="API count / local estimate, from the last response")

    @property
    def total(self) -> int:
        return self.system + self.tools + self.messages + self.tool_results


def estimate(value: object) -> int:
    """A local token estimate of any JSON-able value."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return len(text) // CHARS_PER_TOKEN + 1


class ContextManager:
    """Measures and compacts one agent's messages before each of its turns."""

    def __init__(
        self,
        config: ContextConfig,
        *,
        summarize: Summarize,
        read_files: ReadFiles,
        publish: Callable[..., None],
    ) -> None:
        self.config = config
        self._summarize = summarize
        self._read_files = read_files
        self._publish = publish  # (event type, /, **the event's fields)
        self._scale = 1.0
        self._sent_estimate = 0
        self._failures = 0
        self.gave_up = False
        self._next_auto_at = config.auto_at
        self.compactions = 0
        self.trimmed = 0
        self._trimmed_ids: set[str] = set()  # results already replaced by a placeholder

    # -- counting -------------------------------------------------------------------

    def measure(self, system: object, tools: object, messages: list[dict[str, Any]]) -> Breakdown:
        results = sum(estimate(b) for b in _tool_results(messages))
        everything = sum(estimate(m) for m in messages)
        s = self._scale
        return Breakdown(
            system=round(estimate(system) * s),
            tools=round(estimate(tools) * s),
            messages=round((everything - results) * s),
            tool_results=round(results * s),
            scale=s,
        )

    def observe(self, input_tokens: int) -> None:
        """The API's count of the request just sent (input + cache read + cache write)."""
        if self._sent_estimate > 0 and input_tokens > 0:
            self._scale = min(max(input_tokens / self._sent_estimate, 0.25), 4.0)

    # -- before each turn ------------------------------------------------------------

    async def prepare(
        self,
        system: object,
        tools: object,
        conversation: list[MessageParam],
        plan: str | None = None,
    ) -> list[MessageParam]:
        """Count, then trim or compact as the thresholds say; returns the messages to send.

        ``plan`` is the active plan, put back whole after a compaction. The manager edits
        the conversation as the JSON it is sent as; what it builds keeps the SDK's shapes
        (text, tool_use and tool_result blocks in user and assistant messages).
        """
        messages = cast(list[dict[str, Any]], conversation)
        size = self.measure(system, tools, messages)
        self._publish(
            "context",
            total=size.total,
            window=self.config.window,
            system=size.system,
            tools=size.tools,
            messages=size.messages,
            tool_results=size.tool_results,
        )
        if size.total >= self.config.micro_at:
            trimmed = self._micro_compact(messages)
            if trimmed:
                after = self.measure(system, tools, messages)
                self._publish("compaction", kind="micro", tokens_before=size.total,
                              tokens_after=after.total, items=trimmed)  # fmt: skip
                size = after
        if size.total >= self._next_auto_at and not self.gave_up:
            messages = await self._auto_compact(system, tools, messages, size.total, plan)
        self._sent_estimate = estimate(system) + estimate(tools) + sum(map(estimate, messages))
        return cast(list[MessageParam], messages)

    # -- MicroCompact -------------------------------------------------------------------

    def _micro_compact(self, messages: list[dict[str, Any]]) -> int:
        """Trim old, large tool results in place; returns how many were trimmed."""
        calls = _tool_calls(messages)
        results = list(_tool_results(messages))
        keep = self.config.keep_recent_results
        old = results[: len(results) - keep] if keep else results
        trimmed = 0
        for block in old:
            content = block.get("content")
            use_id = block.get("tool_use_id", "")
            if not isinstance(content, str) or use_id in self._trimmed_ids:
                continue
            if estimate(content) * self._scale < self.config.min_trim_tokens:
                continue
            name, summary = calls.get(use_id, ("a tool", ""))
            block["content"] = (
                f"[airlock trimmed this old result to save context: {len(content)} characters "
                f"({content.count(chr(10)) + 1} lines) from {name}{summary}. Call the tool "
                "again if you need it.]"
            )
            self._trimmed_ids.add(use_id)
            trimmed += 1
        self.trimmed += trimmed
        return trimmed

    # -- AutoCompact ---------------------------------------------------------------------

    async def _auto_compact(
        self,
        system: object,
        tools: object,
        messages: list[dict[str, Any]],
        before: int,
        plan: str | None,
    ) -> list[dict[str, Any]]:
        head, old, tail = _split(messages)
        if not old:
            return messages
        try:
            summary = await self._summarize(transcript(old))
            if not summary.strip():
                raise ValueError("the summary came back empty")
        except Exception as exc:  # any failure counts towards the breaker
            self._failures += 1
            self.gave_up = self._failures >= self.config.summarize_failures
            self._publish("compaction", kind="auto", tokens_before=before, tokens_after=before,
                          items=0, failed=True, message=_failure(exc, self.gave_up,
                                                                  self._failures))  # fmt: skip
            return messages
        self._failures = 0
        files = await self._recent_files(messages)
        first = _compacted(head, summary, files, old, plan)
        compacted = [{"role": "user", "content": first}, *tail]
        after = self.measure(system, tools, compacted).total
        self._next_auto_at = min(self.config.auto_at, after + self.config.working_budget)
        self.compactions += 1
        self._publish("compaction", kind="auto", tokens_before=before, tokens_after=after,
                      items=len(old), message=f"{len(old)} messages summarized; "
                      f"{len(files)} files put back")  # fmt: skip
        return compacted

    async def _recent_files(self, messages: list[dict[str, Any]]) -> dict[str, str]:
        paths: list[str] = []
        for name, tool_input in reversed(_tool_uses(messages)):
            path = tool_input.get("file_path")
            if name in FILE_TOOLS and isinstance(path, str) and path not in paths:
                paths.append(path)
        paths = paths[: self.config.reinject_files]
        if not paths:
            return {}
        try:
            found = await self._read_files(paths)
        except Exception:  # the files are a help, not a requirement
            return {}
        cap = self.config.file_cap_tokens * CHARS_PER_TOKEN
        return {
            path: text if len(text) <= cap else text[:cap] + f"\n[... cut at {cap} characters]"
            for path, text in found.items()
        }


def _failure(exc: Exception, gave_up: bool, failures: int) -> str:
    why = f"summarize failed ({type(exc).__name__}: {exc})"
    if gave_up:
        return f"{why}; {failures} failures in a row: AutoCompact stops trying for this session"
    return why


def _split(
    messages: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(the first message, the turns to summarize, the last exchange kept as it is).

    The kept tail is the last assistant message and the user message answering it, so
    every tool_result still follows its tool_use.
    """
    if len(messages) < 4:
        return messages[0], [], messages[1:]
    return messages[0], messages[1:-2], messages[-2:]


def _compacted(
    head: dict[str, Any],
    summary: str,
    files: dict[str, str],
    old: list[dict[str, Any]],
    plan: str | None,
) -> str:
    task = head["content"] if isinstance(head["content"], str) else transcript([head])
    parts = [
        task,
        "<airlock-compacted>\nEarlier turns of this session were summarized to save "
        "context.\n\n## Summary of the work so far\n" + summary.strip(),
    ]
    if files:
        shown = "\n\n".join(f"### {path}\n```\n{text}\n```" for path, text in files.items())
        parts.append("## Files you used recently, as they are now\n" + shown)
    if plan and plan not in task:
        parts.append("## The active plan\n" + plan)
    where = _last_text(old)
    if where:
        parts.append("## Where you were (your last words before the summary)\n" + where)
    parts.append("</airlock-compacted>")
    return "\n\n".join(parts)


def transcript(messages: list[dict[str, Any]]) -> str:
    """The messages as plain text for the summarizer (tool results shortened)."""
    lines: list[str] = []
    for message in messages:
        role = message["role"]
        content = message["content"]
        if isinstance(content, str):
            lines.append(f"[{role}] {content}")
            continue
        for block in content:
            kind = block.get("type")
            if kind == "text":
                lines.append(f"[{role}] {block['text']}")
            elif kind == "tool_use":
                lines.append(f"[tool call {block['name']}] {json.dumps(block['input'])}")
            elif kind == "tool_result":
                text = str(block.get("content", ""))
                if len(text) > TRANSCRIPT_RESULT_CHARS:
                    text = text[:TRANSCRIPT_RESULT_CHARS] + " [...]"
                error = " (error)" if block.get("is_error") else ""
                lines.append(f"[tool result{error}] {text}")
    return "\n".join(lines)


def _tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        block
        for message in messages
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


def _tool_uses(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (block["name"], block.get("input") or {})
        for message in messages
        if message["role"] == "assistant" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_use"
    ]


def _tool_calls(messages: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """tool_use id -> (tool name, a short summary of its input)."""
    calls: dict[str, tuple[str, str]] = {}
    for message in messages:
        if message["role"] != "assistant" or not isinstance(message["content"], list):
            continue
        for block in message["content"]:
            if block.get("type") == "tool_use":
                first = next(iter((block.get("input") or {}).values()), "")
                summary = f"({str(first)[:80]})" if first else ""
                calls[block["id"]] = (block["name"], summary)
    return calls


def _last_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message["role"] == "assistant" and isinstance(message["content"], list):
            texts = [b["text"] for b in message["content"] if b.get("type") == "text"]
            if texts:
                return "\n".join(texts)
    return ""
