"""The live view's status line: totals on a terminal, nothing redrawn in a log."""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console

from orchestrator.events.models import (
    DoneEvent,
    Event,
    ExecOutputEvent,
    TextDeltaEvent,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
)
from orchestrator.events.progress import Progress
from orchestrator.events.render import ERASE_STATUS, TerminalRenderer

MAIN: dict[str, Any] = {"session_id": "s1", "agent": "main"}
SUB: dict[str, Any] = {"session_id": "s1", "agent": "tester"}
STATUS = re.compile(r"\d+ turns? · \d+ tool calls? · [\d,]+ tokens · \$\d+\.\d{4} · \d+ s")


def a_run() -> list[Event]:
    return [
        TextDeltaEvent(**MAIN, text="I will look"),
        TextDeltaEvent(**MAIN, text=" at it.\n"),
        UsageEvent(
            **MAIN,
            input_tokens=1000,
            output_tokens=200,
            cache_read_input_tokens=50,
            cost_usd=0.0061,
        ),
        ToolCallEvent(**MAIN, call_id="c1", name="Bash", input={"command": "pytest -q"}),
        ExecOutputEvent(**MAIN, call_id="c1", stream="stdout", data="1 failed\n"),
        ToolResultEvent(**MAIN, call_id="c1", is_error=False, content="1 failed"),
        UsageEvent(**SUB, input_tokens=300, output_tokens=30, cost_usd=0.0013),
        ToolCallEvent(**SUB, call_id="c2", name="Read", input={"file_path": "calc.py"}),
        ToolResultEvent(**SUB, call_id="c2", is_error=False, content="def add"),
        DoneEvent(**MAIN, outcome="end_turn", turns=2),
    ]


def render(terminal: bool) -> str:
    out = io.StringIO()
    view = TerminalRenderer(Console(file=out, force_terminal=terminal, width=120))
    for event in a_run():
        view(event)
    view.close()
    return out.getvalue()


def test_totals_count_every_agent_and_every_kind_of_token() -> None:
    progress = Progress(started=0.0)
    for event in a_run():
        progress.add(event)
    assert (progress.turns, progress.tool_calls, progress.tokens) == (2, 2, 1580)
    assert progress.line(now=42.4) == "2 turns · 2 tool calls · 1,580 tokens · $0.0074 · 42 s"


def test_a_terminal_shows_the_totals_as_they_change_under_the_output() -> None:
    shown = render(terminal=True)
    statuses = STATUS.findall(shown)
    assert statuses, shown
    assert any(s.startswith("1 turn · 0 tool calls · 1,250 tokens · $0.0061") for s in statuses)
    assert any(s.startswith("2 turns · 2 tool calls · 1,580 tokens · $0.0074") for s in statuses)
    # every status drawn is erased before anything else prints, and at the end
    assert shown.count(ERASE_STATUS) == len(statuses)
    assert shown.endswith("after 2 turns\n")  # after the end: the summary, no status


def test_streamed_text_is_never_cut_by_the_status_line() -> None:
    shown = render(terminal=True)
    assert "I will look at it." in re.sub(r"\x1b\[[0-9;]*m", "", shown)


def test_a_log_gets_no_status_and_nothing_redrawn() -> None:
    shown = render(terminal=False)
    assert not STATUS.search(shown)
    assert "\r" not in shown and "\x1b" not in shown
    assert "I will look at it.\n" in shown
    assert "⏺ Bash(pytest -q)" in shown


def test_a_status_line_never_wraps_on_a_narrow_terminal() -> None:
    out = io.StringIO()
    view = TerminalRenderer(Console(file=out, force_terminal=True, width=30))
    view(UsageEvent(**MAIN, input_tokens=123456789, output_tokens=1, cost_usd=12.5))
    drawn = out.getvalue()
    assert "\n" not in drawn
    assert len(re.sub(r"\x1b\[[0-9;]*m", "", drawn)) < 30


def test_erase_status_clears_the_line_before_a_prompt_and_the_next_event_redraws() -> None:
    out = io.StringIO()
    view = TerminalRenderer(Console(file=out, force_terminal=True, width=120))
    view(UsageEvent(**MAIN, input_tokens=10, output_tokens=1, cost_usd=0.0))
    view.erase_status()
    assert out.getvalue().endswith(ERASE_STATUS)
    view.erase_status()  # nothing shown: nothing to erase twice
    assert out.getvalue().count(ERASE_STATUS) == 1
    view(ToolCallEvent(**MAIN, call_id="c1", name="Bash", input={"command": "ls"}))
    assert STATUS.search(out.getvalue().rsplit("⏺", 1)[1])
