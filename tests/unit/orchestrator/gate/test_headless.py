"""Headless: the one place where `ask` becomes `deny` because nobody can confirm it.

The analyzer reports `ask` under every policy; `orchestrator.gate.headless` turns a
headless policy's asks into denies, for the gate and for the commands with no gate.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from orchestrator.devtools.package_data import corpus_dir
from orchestrator.gate.headless import headless_answer
from orchestrator.gate.permission_gate import ApprovalRequest, PermissionGate, Trust
from orchestrator.tools.base import Tool, ToolContext, ToolInput, ToolOutput
from orchestrator.tools.bash import Bash
from security import PRESETS, Decision, Policy, Risk, Rule, analyze

CI = PRESETS["ci-untrusted"]
TRUSTED = Trust(trusted=True, by="flag")
CORPUS = corpus_dir()


def test_the_analyzer_says_ask_under_a_headless_policy() -> None:
    assert CI.headless
    verdict = analyze("curl https://example.com", CI)
    assert verdict.decision is Decision.ASK
    assert any(f.decision is Decision.ASK for f in verdict.findings)
    ruled = Policy(headless=True, rules=[Rule(prefix=["make"], decision=Decision.ASK)])
    assert analyze("make", ruled).decision is Decision.ASK  # a rule's ask, too


def test_the_headless_answer_denies_every_ask_and_keeps_the_rest() -> None:
    asked = analyze("curl https://example.com", CI)
    answered = headless_answer(asked, CI)
    assert answered.decision is Decision.DENY
    assert [f.decision for f in answered.findings] == [
        Decision.DENY if f.decision is Decision.ASK else f.decision for f in asked.findings
    ]
    assert [f.check for f in answered.findings] == [f.check for f in asked.findings]
    assert answered.explanation.startswith("Denied") and asked.explanation != answered.explanation
    allowed = analyze("ls -la", CI)
    assert headless_answer(allowed, CI) == allowed
    not_headless = PRESETS["dev"]
    assert headless_answer(analyze("curl x", not_headless), not_headless).decision is Decision.ASK


def _corpus() -> list[str]:
    lines: list[str] = []
    for name in ("adversarial.jsonl", "benign.jsonl"):
        text = (CORPUS / name).read_text(encoding="utf-8")
        lines += [json.loads(line)["cmd"] for line in text.splitlines() if line.strip()]
    return lines


def test_a_headless_deployment_never_answers_ask() -> None:
    commands = _corpus()
    assert len(commands) > 500
    asks = [c for c in commands if analyze(c, CI).decision is Decision.ASK]
    assert asks, "the analyzer does say ask under ci-untrusted"
    assert [
        c for c in asks if headless_answer(analyze(c, CI), CI).decision is not Decision.DENY
    ] == []


def _gate(policy: Policy, **options: Any) -> PermissionGate:
    return PermissionGate(policy, TRUSTED, **options)


def test_the_gate_denies_a_headless_ask_without_asking_anyone() -> None:
    asked: list[ApprovalRequest] = []
    tool = Bash()
    params = tool.parse({"command": "curl https://example.com"})
    result = asyncio.run(_gate(CI, approver=asked.append).check(tool, params))
    assert not result.allowed and result.decision is Decision.DENY and asked == []


def test_the_gate_passes_an_ask_to_the_approver_when_one_can_answer() -> None:
    asked: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    tool = Bash()
    params = tool.parse({"command": "curl https://example.com"})
    result = asyncio.run(_gate(PRESETS["dev"], approver=approve).check(tool, params))
    assert result.allowed and result.decision is Decision.ASK
    assert [r.summary for r in asked] == ["curl https://example.com"]


class _Silent(Tool[ToolInput]):
    """A tool that declares no permission request."""

    name: ClassVar[str] = "Silent"
    description: ClassVar[str] = "does something it does not declare"
    risk: ClassVar[Risk] = Risk.LOW
    read_only: ClassVar[bool] = True
    input_model: ClassVar[type[ToolInput]] = ToolInput

    async def run(self, params: ToolInput, ctx: ToolContext) -> ToolOutput:
        raise AssertionError("the gate must not let it run")


@pytest.mark.parametrize("policy", ["read-only", "dev", "ci-untrusted"])
def test_a_tool_that_declares_no_request_is_refused(policy: str) -> None:
    tool = _Silent()
    result = asyncio.run(_gate(PRESETS[policy], approver=lambda r: True).check(tool, ToolInput()))
    assert not result.allowed and result.decision is Decision.DENY
    assert any("declares no permission request" in reason for reason in result.reasons)


AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


def _airlock(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRLOCK, *args], input=stdin, capture_output=True, text=True, check=False, timeout=120
    )


def test_the_cli_answers_for_a_headless_policy() -> None:
    single = _airlock("check", "--policy", "ci-untrusted", "--", "curl", "https://example.com")
    assert single.returncode == 2, single.stderr  # deny
    batch = _airlock(
        "check", "--policy", "ci-untrusted", "--jsonl",
        stdin='{"cmd": "curl https://example.com"}\n{"cmd": "ls"}\n',
    )  # fmt: skip
    answers = [json.loads(line)["decision"] for line in batch.stdout.splitlines()]
    assert batch.returncode == 0 and answers == ["deny", "allow"]
    dev = _airlock("check", "--policy", "dev", "--", "curl", "https://example.com")
    assert dev.returncode == 1  # ask: a person could confirm it
