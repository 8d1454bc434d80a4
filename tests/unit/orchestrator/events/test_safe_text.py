"""Issue 12, class 10: what reaches a person's terminal has its control sequences shown,
not obeyed. Each renderer gets the same payloads; its output, captured as a terminal
would receive it, must hold none of them raw."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import tty
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from orchestrator.cli import check as check_module
from orchestrator.cli.exec_command import Sink
from orchestrator.cli.run_command import tty_approver
from orchestrator.events import safe_text
from orchestrator.events.models import (
    ApprovalEvent,
    ErrorEvent,
    ExecOutputEvent,
    SessionStartedEvent,
    TextDeltaEvent,
    ToolCallEvent,
    ToolResultEvent,
    VerdictEvent,
)
from orchestrator.events.render import ERASE_STATUS, TerminalRenderer
from orchestrator.events.safe_text import VisibleStream, json_visible, visible
from orchestrator.gate.permission_gate import ApprovalRequest
from security import Risk, analyze

# Each payload, and what must show instead of it.
PAYLOADS = {
    "osc52 clipboard": ("\x1b]52;c;cm0gLXJmIH4K\x07", "\\x1b]52;c;cm0gLXJmIH4K\\a"),
    "osc0 title": ("\x1b]0;pwned\x1b\\", "\\x1b]0;pwned\\x1b\\"),
    "csi clear screen": ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
    "cr overwrite": ("rm -rf /\rls      ", "rm -rf /\\rls"),
    "backspaces": ("deny\b\b\b\ballow", "deny\\b\\b\\b\\ballow"),
    "c1 csi": ("\u009b2J", "\\x9b2J"),
    "c1 osc": ("\u009d0;t\u009c", "\\x9d0;t\\x9c"),
    "dcs": ("\x1bP+q544e\x1b\\", "\\x1bP+q544e"),
    "bidi override": ("\u202etxt.exe", "\\u202etxt.exe"),
    "bidi isolate": ("a\u2066b\u2069", "a\\u2066b\\u2069"),
    "line separator": ("a\u2028b", "a\\u2028b"),
    "zero width": ("cu\u200brl", "cu\\u200brl"),
    "conceal sgr": ("\x1b[8mhidden\x1b[0m", "\\x1b[8mhidden"),
}
ALL = "".join(raw for raw, _ in PAYLOADS.values())
RICH_SGR = re.compile(r"\x1b\[[0-9;]*m")  # the styles a renderer adds itself


def unsafe_left(output: str) -> list[str]:
    """The characters a terminal would obey in ``output`` (rich's own styling and a CR
    right before a LF aside)."""
    bare = RICH_SGR.sub("", output).replace("\r\n", "\n")
    return [
        c
        for c in bare
        if c not in "\n\t" and (unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs"))
    ]


def terminal(color: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    console = Console(
        file=out, force_terminal=True, color_system="truecolor" if color else None, width=400
    )
    return console, out


def assert_shown_not_obeyed(output: str, payloads: list[str] | None = None) -> None:
    assert unsafe_left(output) == [], repr(output)
    flat = output.replace("\n", "")
    for name in payloads or list(PAYLOADS):
        assert PAYLOADS[name][1] in RICH_SGR.sub("", flat), (name, output)


# --- visible -------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAYLOADS)
def test_visible_spells_out_each_payload(name: str) -> None:
    raw, shown = PAYLOADS[name]
    assert shown in visible(raw) and unsafe_left(visible(raw)) == []


def test_visible_keeps_newlines_tabs_crlf_and_ordinary_text() -> None:
    text = "line one\n\tindented → naïve 日本語 emoji 🎉\r\nend"
    assert visible(text) == text
    assert visible("lone\r") == "lone\\r" and visible("\x00\x7f") == "\\0\\x7f"
    assert visible("\udcff") == "\\udcff"  # a lone surrogate cannot be printed at all
    assert visible("\U000e0041") == "\\U000e0041"  # a tag character


@given(st.text())
def test_visible_leaves_nothing_a_terminal_would_obey(text: str) -> None:
    assert unsafe_left(visible(text)) == []


def test_the_scanned_planes_hold_every_character_visible_spells_out() -> None:
    """Planes 2-13 and 15-16 are skipped when the class is built: nothing is missed."""
    skipped = [
        c
        for low, high in ((0x20000, 0xDFFFF), (0xF0000, 0x10FFFF))
        for c in map(chr, range(low, high + 1))
        if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")
    ]
    assert skipped == []


def test_a_stream_cut_anywhere_reads_as_the_whole() -> None:
    data = "ok\r\nbar\u009b\u202e é\r".encode() + b"\xff\r\n\x1b]0;t\x07"
    whole = VisibleStream()
    expected = whole.feed(data) + whole.end()
    assert expected == "ok\r\nbar\\x9b\\u202e é\\r\\xff\r\n\\x1b]0;t\\a"
    for cut in range(len(data) + 1):
        stream = VisibleStream()
        assert stream.feed(data[:cut]) + stream.feed(data[cut:]) + stream.end() == expected


def test_json_visible_is_the_same_json_value() -> None:
    record = {"cmd": ALL + " é 🎉 \U000e0041", "n": [1, "\u2028"]}
    for dumped in (json.dumps(record, ensure_ascii=False), json.dumps(record, indent=2)):
        shown = json_visible(dumped)
        assert json.loads(shown) == record
        assert unsafe_left(shown) == []


def test_markup_and_emoji_codes_in_text_are_text() -> None:
    console, out = terminal(color=False)
    console.print(safe_text.text("[bold red]x[/] :thumbs_up: ", ("[link=http://e]y", "bold")))
    assert out.getvalue() == "[bold red]x[/] :thumbs_up: [link=http://e]y\n"


# --- the renderers -------------------------------------------------------------------


def run_events(console: Console) -> None:
    render = TerminalRenderer(console)
    ids: dict[str, Any] = {"session_id": "s1", "agent": "main"}
    render(SessionStartedEvent(**ids, policy="dev" + ALL, image="airlock/dev",
                               runtime="runc", model="m", task="fix " + ALL))  # fmt: skip
    render(TextDeltaEvent(**ids, text="I will " + ALL))
    render(ToolCallEvent(**ids, call_id="c1", name="Bash", input={"command": "cat " + ALL[:60]}))
    render(VerdictEvent(**ids, call_id="c1", decision="ask", risk="medium", findings=[],
                        explanation="reads " + ALL))  # fmt: skip
    render(ApprovalEvent(**ids, call_id="c1", approved=False, by="policy", reason=ALL))
    render(ExecOutputEvent(**ids, call_id="c1", stream="stdout", data="out " + ALL + "\npart"))
    render(ExecOutputEvent(**ids, call_id="c1", stream="stderr", data=ALL))
    render(ToolResultEvent(**ids, call_id="c1", is_error=True, content=ALL + "\nmore"))
    render(ToolResultEvent(**ids, call_id="c2", is_error=False, content="x", confined=False,
                           confinement="not confined: " + ALL))  # fmt: skip
    render(ErrorEvent(**{**ids, "agent": "sub" + ALL[:30]}, message="boom " + ALL,
                      retrying=False))  # fmt: skip


@pytest.mark.parametrize("color", [False, True])
def test_the_live_view_shows_every_payload_and_obeys_none(color: bool) -> None:
    console, out = terminal(color)
    run_events(console)
    # the status line's own erase is the one control the view writes; payloads obey none
    assert_shown_not_obeyed(out.getvalue().replace(ERASE_STATUS, ""))


def test_the_approval_prompt_shows_every_payload_and_obeys_none() -> None:
    console, out = terminal(color=True)
    questions: list[object] = []

    def person(question: object, **_: object) -> bool:
        questions.append(question)
        return False

    approve = tty_approver(console, person)
    request = ApprovalRequest(tool="Bash", summary="cat notes.txt" + ALL, risk=Risk.MEDIUM,
                              reasons=["S27 reads " + ALL])  # fmt: skip
    assert asyncio.run(approve(request)) is False  # type: ignore[arg-type]
    assert_shown_not_obeyed(out.getvalue())


def test_airlock_check_shows_the_command_visibly_and_its_json_keeps_the_value() -> None:
    line = "cat notes.txt > /etc/x" + ALL.replace("'", "")
    verdict = analyze(line, "read-only")
    console, out = terminal(color=True)
    check_module.render(verdict, console)
    assert unsafe_left(out.getvalue()) == [], repr(out.getvalue())
    shown = check_module.verdict_json(verdict)
    assert unsafe_left(shown) == [] and json.loads(shown)["command"] == line
    batch = io.StringIO()
    check_module.run_batch(io.StringIO(json.dumps({"cmd": line}) + "\n"), batch, _policy())
    assert unsafe_left(batch.getvalue()) == []
    assert json.loads(batch.getvalue())["cmd"] == line


def _policy() -> Any:
    from security import PRESETS

    return PRESETS["read-only"]


def test_exec_output_is_made_visible_at_a_terminal_and_kept_raw_in_a_pipe() -> None:
    chunks = [ALL.encode()[:7], ALL.encode()[7:], b"\xc2", b"\x9b\xff done\r", b"\n"]
    controller, device = os.openpty()
    tty.setraw(device)  # no output processing: what is read is what was written
    try:
        with os.fdopen(device, "w", closefd=False) as terminal_file:
            sink = Sink(terminal_file)
            assert sink.visible is not None
            for chunk in chunks:
                sink.write(chunk)
            sink.end()
        shown = _read_all(controller)
    finally:
        os.close(controller)
        os.close(device)
    shown_text = shown.decode()
    assert_shown_not_obeyed(shown_text)
    assert "\\x9b\\xff done" in shown_text

    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        sink = Sink(pipe)
        assert sink.visible is None
        for chunk in chunks:
            sink.write(chunk)
        sink.end()
    with os.fdopen(read_end, "rb") as reader:
        assert reader.read() == b"".join(chunks)  # byte-faithful for a program


def _read_all(fd: int) -> bytes:
    data = b""
    os.set_blocking(fd, False)
    while True:
        try:
            piece = os.read(fd, 65536)
        except BlockingIOError:
            return data
        if not piece:
            return data
        data += piece


def test_audit_verify_shows_a_hostile_file_name_visibly(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli.audit_command import audit_app

    name = tmp_path / ("log\x1b]0;pwned\x07\u202e.jsonl")
    name.write_text('{"not": "a record"}\n')
    result = CliRunner().invoke(audit_app, ["verify", str(name)])
    assert result.exit_code == 1
    assert unsafe_left(result.output) == [] and "\\x1b]0;pwned\\a\\u202e" in result.output
