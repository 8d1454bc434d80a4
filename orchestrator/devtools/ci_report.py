"""The Markdown job summary of one `airlock run` for CI, built from its out folder.

Everything in the out folder may carry text the agent or the repository chose: file names
in the patch, refused commands, the verify command's output. Such text only ever appears
inside a fenced code block whose fence is longer than any backtick run in it, so it cannot
close the block and inject links, images (tracking pixels) or HTML into the summary. The
patch is only read, by ``git apply --stat`` in an empty folder with no git configuration.
What is cut to keep the summary small says so, and where the whole of it is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.cli.exit_codes import ExitCode
from orchestrator.events.audit import replay as replay_log
from orchestrator.events.audit import verify as verify_log
from orchestrator.events.models import ToolCallEvent, VerdictEvent

MAX_REFUSALS = 50  # listed in the summary; the rest are counted
MAX_TEXT_CHARS = 2000  # of one refused command, the error or the verify output
MAX_STAT_LINES = 300
GIT_TIMEOUT_S = 120

# What each exit code of `airlock run` means (the README's table, in CI's words).
RUN_EXIT_MEANINGS: dict[int, str] = {
    ExitCode.OK: "the model finished and `--verify` passed",
    ExitCode.FAILED: "an infrastructure or API error",
    ExitCode.UNVERIFIED: "the model finished; no `--verify` was given, so nothing checked it",
    ExitCode.VERIFY_FAILED: "the `--verify` command failed in the final workspace",
    ExitCode.LIMIT_REACHED: "a turn, budget or time limit stopped the run",
    ExitCode.POLICY_REFUSED: "the gate refused the `--verify` command",
    ExitCode.USAGE: "a usage error (arguments, policy, replay or run setup)",
    ExitCode.HUNG_UP: "cancelled by SIGHUP",
    ExitCode.INTERRUPTED: "cancelled by SIGINT",
    ExitCode.TERMINATED: "cancelled by SIGTERM (a CI cancel)",
}

_WORD = re.compile(r"[a-z_]{1,40}")
_POLICY_NAME = re.compile(r"[a-z][a-z-]{0,40}")
_CHECK_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")


@dataclass
class Refusal:
    """A tool call the gate did not allow: its decision, check ids and what it was."""

    decision: str
    checks: list[str]
    tool: str
    call: str


@dataclass
class AuditFacts:
    """What the audit log says, and whether its hash chain verified."""

    verified: bool
    records: int
    last_hash: str | None
    problem: str | None = None
    refusals: list[Refusal] = field(default_factory=list)


def exit_meaning(code: int) -> str:
    """What ``airlock run`` exiting with ``code`` means."""
    return RUN_EXIT_MEANINGS.get(code, "an exit code `airlock run` does not document")


def fenced(text: str) -> str:
    """``text`` as a fenced code block no content can close (its fence is longer)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip(chr(10))}\n{fence}"


def clipped(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit} more characters in the out folder]"


def patch_stat(patch: Path) -> str:
    """``git apply --stat --summary`` of ``patch``: read only, never applied.

    Runs in an empty folder, outside any repository, with no system or global git
    configuration, so nothing the attacker wrote (a .git/config, attributes) is consulted.
    """
    data = patch.read_bytes()
    if not data.strip():
        return "(the patch is empty: no file changed)"
    with tempfile.TemporaryDirectory(prefix="airlock-ci-stat-") as empty:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": empty,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CEILING_DIRECTORIES": str(Path(empty).parent),
            "LC_ALL": "C",
        }
        sections = []
        for flags in (["--stat", "--summary"], ["--numstat"]):
            argv = ["git", "apply", *flags, "-"]
            done = subprocess.run(argv, input=data, cwd=empty, env=env, capture_output=True,
                                  timeout=GIT_TIMEOUT_S, check=False)  # fmt: skip
            if done.returncode != 0:
                reason = done.stderr.decode("utf-8", "replace").strip()
                return f"(git apply --stat could not read the patch: {clipped(reason)})"
            sections.append(done.stdout.decode("utf-8", "replace"))
    stat, numstat = sections
    return _clip_lines(stat) + "\n\nWhole paths (added, deleted, path):\n" + _clip_lines(numstat)


def _clip_lines(text: str) -> str:
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= MAX_STAT_LINES:
        return "\n".join(lines)
    rest = len(lines) - MAX_STAT_LINES
    return "\n".join([*lines[:MAX_STAT_LINES], f"[... {rest} more lines: see patch.diff]"])


def audit_facts(events: Path) -> AuditFacts:
    """The audit log's chain check and its refusals (verdicts ask or deny).

    Refusals are read only from a log whose chain verifies: a tampered log is reported,
    never summarized.
    """
    report = verify_log(events)
    if not report.ok:
        problem = f"line {report.first_bad_line}: {report.problem}"
        return AuditFacts(False, report.records, report.last_hash, problem)
    calls: dict[str, ToolCallEvent] = {}
    refusals = []
    for event in replay_log(events):
        if isinstance(event, ToolCallEvent):
            calls[event.call_id] = event
        elif isinstance(event, VerdictEvent) and event.decision != "allow":
            call = calls.get(event.call_id)
            refusals.append(
                Refusal(
                    decision=event.decision,
                    checks=[f.check for f in event.findings],
                    tool=call.name if call else "?",
                    call=_describe_call(call.input) if call else "(no tool_call record)",
                )
            )
    return AuditFacts(True, report.records, report.last_hash, refusals=refusals)


def _describe_call(tool_input: dict[str, Any]) -> str:
    for key in ("command", "file_path", "pattern", "prompt"):
        value = tool_input.get(key)
        if isinstance(value, str):
            return value
    return json.dumps(tool_input, ensure_ascii=False, sort_keys=True)


def render(out: Path, exit_code: int) -> str:
    """The Markdown summary of the run whose files are in ``out`` and which exited so."""
    lines = ["## airlock run", ""]
    summary = _read_summary(out / "summary.json")
    outcome = summary.get("outcome") if summary else None
    lines.append(f"**Exit code {exit_code}**: {exit_meaning(exit_code)}.")
    if isinstance(outcome, str):
        shown = f"`{outcome}`" if _WORD.fullmatch(outcome) else "\n" + fenced(outcome)
        lines += ["", f"Outcome: {shown}"]
    if summary is None:
        lines += ["", "summary.json is missing or unreadable: the run wrote no summary."]
        return "\n".join([*lines, *_audit_section(out / "events.jsonl"), ""])
    error = summary.get("error")
    if isinstance(error, str) and error:
        lines += ["", "Error:", fenced(clipped(error))]
    lines += ["", "### Numbers", "", "| what | value |", "|---|---|"]
    lines.append(f"| cost | {_cost(summary.get('cost_usd'))} |")
    lines.append(f"| policy | {_policy(summary.get('policy'))} |")
    lines.append(f"| turns | {_integer(summary.get('turns'))} |")
    lines.append(f"| files changed | {_integer(summary.get('files_changed'))} |")
    for decision in ("allow", "ask", "deny"):
        count = _integer(_mapping(summary.get("verdicts")).get(decision, 0))
        lines.append(f"| verdicts: {decision} | {count} |")
    lines += ["", *_verification_section(summary.get("verification"))]
    lines += ["", "### Patch", ""]
    patch = out / "patch.diff"
    lines.append(fenced(patch_stat(patch)) if patch.is_file() else "No patch.diff was written.")
    lines += _audit_section(out / "events.jsonl", summary)
    return "\n".join([*lines, ""])


def _verification_section(verification: object) -> list[str]:
    lines = ["### Verification", ""]
    if not isinstance(verification, dict):
        return [*lines, "No `--verify` command was given: nothing checked the result."]
    lines += ["Command:", fenced(str(verification.get("command", "")))]
    if not verification.get("allowed"):
        reason = str(verification.get("reason") or "")
        return [*lines, "", "**Refused by the gate**; it did not run:", fenced(clipped(reason))]
    if verification.get("timed_out"):
        lines.append("\n**Timed out.**")
    else:
        code = verification.get("exit_code")
        verdict = "passed" if code == 0 else "failed"
        lines.append(f"\n**{verdict}** (exit code {_integer(code)}).")
    tail = verification.get("output_tail")
    if isinstance(tail, str) and tail:
        lines += ["", "Output (tail):", fenced(clipped(tail))]
    return lines


def _audit_section(events: Path, summary: dict[str, Any] | None = None) -> list[str]:
    lines = ["", "### Refusals and audit log", ""]
    if not events.is_file():
        return [*lines, "No events.jsonl was written."]
    try:
        facts = audit_facts(events)
    except OSError as error:
        return [*lines, f"events.jsonl cannot be read: {type(error).__name__}."]
    if not facts.verified:
        lines += ["**The audit log does not verify**; refusals are not listed from it:"]
        lines += [fenced(facts.problem or ""), ""]
    elif not facts.refusals:
        lines += ["The gate refused no call.", ""]
    else:
        lines += [f"The gate refused {len(facts.refusals)} call(s):", ""]
        listed = facts.refusals[:MAX_REFUSALS]
        text = "\n".join(_refusal_line(r) for r in listed)
        if len(facts.refusals) > MAX_REFUSALS:
            text += f"\n[... {len(facts.refusals) - MAX_REFUSALS} more in events.jsonl]"
        lines += [fenced(text), ""]
    lines.append(
        f"Audit records: {facts.records} (chain {'verified' if facts.verified else 'broken'})"
    )
    lines.append("")
    lines.append(fenced(f"last hash: {facts.last_hash or '(none)'}"))
    if summary is not None:
        claimed = (summary.get("audit_records"), summary.get("audit_last_hash"))
        if claimed != (facts.records, facts.last_hash):
            lines += ["", "**summary.json names another record count or last hash**:"]
            lines.append(fenced(f"records: {claimed[0]}\nlast hash: {claimed[1]}"))
    return lines


def _refusal_line(refusal: Refusal) -> str:
    checks = ",".join(c if _CHECK_ID.fullmatch(c) else "?" for c in refusal.checks) or "-"
    call = clipped(refusal.call).replace("\n", "\\n")
    return f"{refusal.decision} [{checks}] {refusal.tool}: {call}"


def _read_summary(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _policy(value: object) -> str:
    if isinstance(value, str) and _POLICY_NAME.fullmatch(value):
        return f"`{value}`"
    return "a policy file (see summary.json)"


def _cost(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"${value:.4f}"
    return "?"


def _integer(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"
