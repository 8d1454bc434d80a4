"""The terminal view of a run: an event-bus subscriber that prints as things happen.

On a terminal, a status line under the output keeps the totals (turns, tool calls,
tokens, cost, time: `orchestrator.events.progress`): it is erased before anything else
prints and drawn again after. Where the console is not a terminal (a CI log, a pipe),
there is no status line: each event is one line, and nothing is redrawn.

Everything it prints that came from the run (the model's text, commands, output, file
names, errors) goes through `orchestrator.events.safe_text`: escape sequences are shown, not
obeyed, and no markup in them is parsed.
"""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.text import Text

from orchestrator.events.models import Event
from orchestrator.events.progress import Progress
from orchestrator.events.safe_text import Part, text, visible

MAX_OUTPUT_LINES = 12  # per tool call; the rest is counted, not shown
SUMMARY_KEYS = ("command", "file_path", "pattern", "description")
ERASE_STATUS = "\r\x1b[2K"  # to column 0, clear the line: the status line's only control


class TerminalRenderer:
    """Prints the model's text as it streams, each tool call, its verdict and output."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._mid_line = False  # streamed text left the cursor mid-line
        self._shown_lines: dict[str, int] = defaultdict(int)
        self._partial: dict[tuple[str, bool], str] = {}  # a line still being written
        self.progress = Progress()
        self._live_status = self.console.is_terminal
        self._status_shown = False

    def __call__(self, event: Event) -> None:
        self.progress.add(event)
        self.erase_status()
        self._render(event)
        if event.type == "done" and event.agent == "main":
            self._live_status = False  # the summary follows; the status has had its say
        self._draw_status()

    def close(self) -> None:
        """Erase the status line for good (the run ended, however it ended)."""
        self._live_status = False
        self.erase_status()

    def erase_status(self) -> None:
        """Take the status line off the screen (before a prompt); the next event draws
        it again."""
        if self._status_shown:
            self.console.file.write(ERASE_STATUS)
            self._status_shown = False

    def _draw_status(self) -> None:
        if self._live_status and not self._mid_line:
            status = Text(self.progress.line(), style="dim")
            status.truncate(max(self.console.width - 1, 1))  # one line, or erasing misses some
            self.console.print(status, end="")
            self.console.file.flush()
            self._status_shown = True

    def _render(self, event: Event) -> None:
        sub: list[Part] = [] if event.agent == "main" else [(event.agent, "magenta"), " "]
        match event.type:
            case "session_started":
                self._line(
                    ("airlock", "bold"),
                    f" session {event.session_id[:12]} · policy ",
                    (event.policy, "cyan"),
                    f" · {event.image} on {event.runtime} · model {event.model}",
                )
                self._line(("task:", "bold"), " ", event.task)
            case "text_delta":
                shown = Text(visible(event.text), style="dim" if sub else "")
                self.console.print(shown, end="")
                self._mid_line = not event.text.endswith("\n")
            case "tool_call":
                self._line(*sub, (f"⏺ {event.name}", "bold"), f"({_summary(event.input)})")
            case "verdict" if event.decision == "deny":
                self._line("  ", ("denied", "bold red"), " ", event.explanation)
            case "verdict" if event.decision == "ask":
                self._line("  ", ("needs approval", "yellow"), " ", event.explanation)
            case "approval" if not event.approved:
                who = event.approver or f"the {event.by}"
                self._line("  ", (f"refused by {who}", "red"))
            case "approval_requested":
                wait = f"waiting up to {event.expires_in_s:.0f} s for a person"
                self._line("  ", ("approval requested", "yellow"), f" {event.approval_id}: {wait}")
            case "exec_output":
                self._output(event.call_id, event.data, event.stream == "stderr")
            case "tool_result":
                self._result(event.call_id, event.content, event.is_error)
                if event.confined is False:
                    self._line("  ", (event.confinement or "not confined", "yellow"))
            case "error":
                then = "retrying" if event.retrying else "giving up"
                self._line(*sub, ("API error", "yellow"), f" {event.message}; {then}")
            case "done":
                style = "green" if event.outcome == "end_turn" else "red"
                self._line(*sub, (f"■ {event.outcome}", style), f" after {event.turns} turns")
            case "egress" if event.decision == "refused":
                where = f"{event.method} {event.host}:{event.port}".strip()
                self._line(*sub, "  ", ("egress refused", "red"), f" {where} ({event.reason})")
            case "egress":
                where = f"{event.method} {event.host}:{event.port}"
                moved = f"{event.bytes_up:,} B up, {event.bytes_down:,} B down"
                self._line(*sub, "  ", ("egress", "dim"), f" {where} · {moved}")
            case "verify":
                verdict = ("✓ verified", "green") if event.passed else ("✗ not verified", "red")
                why = event.reason or f"exit {event.exit_code}"
                self._line(verdict, f" {event.command} ({why})")
            case _:
                pass

    def _line(self, *parts: Part) -> None:
        if self._mid_line:
            self.console.print()
            self._mid_line = False
        self.console.print(text(*parts))

    def _output(self, call_id: str, data: str, stderr: bool) -> None:
        """Whole lines as they complete; a partial line waits for the rest (or the end)."""
        key = (call_id, stderr)
        *lines, self._partial[key] = (self._partial.get(key, "") + data).split("\n")
        for line in lines:
            self._show(call_id, line, stderr)

    def _show(self, call_id: str, line: str, stderr: bool) -> None:
        self._shown_lines[call_id] += 1
        if self._shown_lines[call_id] <= MAX_OUTPUT_LINES:
            self._line("  ", ("│", "dim"), " ", (line, "red" if stderr else "dim"))

    def _result(self, call_id: str, content: str, is_error: bool) -> None:
        for stderr in (False, True):
            rest = self._partial.pop((call_id, stderr), "")
            if rest:
                self._show(call_id, rest, stderr)
        hidden = self._shown_lines.pop(call_id, 0) - MAX_OUTPUT_LINES
        if hidden > 0:
            self._line("  ", (f"│ ... {hidden} more lines", "dim"))
        lines = content.removesuffix("\n").split("\n")  # only LF ends a line
        more: list[Part] = [(f" (+{len(lines) - 1} lines)", "dim")] if len(lines) > 1 else []
        self._line("  ", (f"⎿ {lines[0][:160]}", "red" if is_error else "dim"), *more)


def _summary(tool_input: dict[str, object]) -> str:
    for key in SUMMARY_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str):
            return value if len(value) <= 100 else value[:100] + "..."
    return ""
