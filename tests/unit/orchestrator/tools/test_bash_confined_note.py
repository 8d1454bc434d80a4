"""The Bash tool's view of a confined command that the confinement made fail."""

from __future__ import annotations

from orchestrator.tools.bash import render
from sandbox.results import ConfinementReport, ExecExit

CONFINED = ConfinementReport(confined=True, mechanism="landlock", abi=7, missing=("pr",))


def test_a_refusal_in_a_confined_failure_gets_a_note_naming_missing_programs() -> None:
    end = ExecExit(exit_code=1, confinement=CONFINED)
    shown = render(b"", b"bash: line 1: x: Permission denied\n", end, 1.0)
    assert shown.is_error
    lines = shown.content.splitlines()
    assert lines[:2] == ["bash: line 1: x: Permission denied", "Exit code 1"]
    assert lines[2].startswith("Note: this command ran confined as read-only")
    assert lines[2].endswith("Not found on PATH: pr.") and len(lines) == 3


def test_no_note_without_a_refusal_without_failure_or_without_confinement() -> None:
    plain_failure = render(b"", b"grep: x: No such file or directory\n",
                           ExecExit(exit_code=2, confinement=CONFINED), 1.0)  # fmt: skip
    success = render(
        b"ok\n", b"Permission denied\n", ExecExit(exit_code=0, confinement=CONFINED), 1
    )
    unconfined = ConfinementReport(confined=False, reason="gVisor")
    not_confined = render(b"", b"Permission denied\n",
                          ExecExit(exit_code=1, confinement=unconfined), 1.0)  # fmt: skip
    for shown in (plain_failure, success, not_confined):
        assert "confined" not in shown.content, shown.content
