"""`airlock check`: the analyzer on the command line, one command or a JSONL batch.

There is no gate and nobody to confirm here: a verdict is printed as the policy's
deployment answers it (`orchestrator.gate.headless`: a headless policy's asks are
denies), the same rule the gate applies in a session.
"""

from __future__ import annotations

import json
from typing import TextIO

from rich.console import Console

from orchestrator.cli.exit_codes import ExitCode
from orchestrator.events.safe_text import json_visible, text
from orchestrator.gate.headless import headless_answer
from security import Decision, Policy, Verdict, analyze

EXIT_CODES = {
    Decision.ALLOW: ExitCode.ALLOW,
    Decision.ASK: ExitCode.ASK,
    Decision.DENY: ExitCode.DENY,
}
STYLES = {Decision.ALLOW: "green", Decision.ASK: "yellow", Decision.DENY: "bold red"}


RECORD_KEYS = frozenset({"cmd", "decision", "risk", "findings", "line", "error"})


def judge(command: str, policy: Policy) -> Verdict:
    """The analyzer's verdict on ``command``, as ``policy`` answers it with nobody to
    confirm: what `airlock check` prints and `airlock exec` obeys."""
    return headless_answer(analyze(command, policy), policy)


def batch_record(verdict: Verdict) -> dict[str, object]:
    """The contract's line: cmd, decision, risk, findings (check, title, detail)."""
    return {
        "cmd": verdict.command,
        "decision": verdict.decision.value,
        "risk": verdict.risk.value,
        "findings": [
            {"check": f.check, "title": f.title, "detail": f.detail} for f in verdict.findings
        ],
    }


def _problem(raw: str) -> tuple[dict[str, object], str] | tuple[None, str]:
    """The input object and its command, or None and what is wrong, in plain words."""
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg} at column {exc.colno})"
    except ValueError:  # a number too long to convert, and such
        return None, "not JSON that can be read"
    if not isinstance(item, dict):
        return None, f"a JSON {type(item).__name__}, not an object"
    cmd = item.get("cmd")
    if not isinstance(cmd, str):
        return None, 'no "cmd" string' if cmd is None else '"cmd" is not a string'
    return item, cmd


def run_batch(stdin: TextIO, stdout: TextIO, policy: Policy) -> ExitCode:
    """One output line per input line, same order. A bad line answers with an error record."""
    bad = 0
    for number, raw in enumerate(stdin, start=1):
        if not raw.strip():
            continue
        item, cmd_or_problem = _problem(raw)
        if item is None:
            bad += 1
            record: dict[str, object] = {
                "line": number,
                "error": f'expected {{"cmd": "..."}}: {cmd_or_problem}',
                "decision": Decision.DENY.value,
            }
        else:  # the caller's other keys (an id) come back with the answer
            extra = {k: v for k, v in item.items() if k not in RECORD_KEYS}
            record = {**extra, **batch_record(judge(cmd_or_problem, policy))}
        stdout.write(json_visible(json.dumps(record, ensure_ascii=False)) + "\n")
        stdout.flush()
    return ExitCode.BATCH_BAD_INPUT if bad else ExitCode.OK


def render(verdict: Verdict, console: Console) -> None:
    """The verdict for a person: its parts quote the command, so escapes are shown."""
    style = STYLES[verdict.decision]
    console.print(
        text(
            (verdict.decision.value, style),
            f" (risk {verdict.risk.value}, policy {verdict.policy})",
        )
    )
    for finding in verdict.findings:
        console.print(
            text(
                f"  {finding.check} {finding.title}: {finding.detail} ",
                (f"→ {finding.decision.value}", "dim"),
            )
        )
    console.print(text(verdict.explanation), soft_wrap=True)


def verdict_json(verdict: Verdict) -> str:
    """The whole verdict as JSON (escapes in the command written as ``\\uXXXX``)."""
    return json_visible(verdict.model_dump_json(indent=2))
