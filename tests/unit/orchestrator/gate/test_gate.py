"""The permission gate: policy and verdict first, then confirmation, in that order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.gate.permission_gate import ApprovalRequest, GateResult, PermissionGate, Trust
from orchestrator.tools.base import Tool, ToolError
from orchestrator.tools.bash import Bash
from orchestrator.tools.edit import Edit
from orchestrator.tools.read import Read
from orchestrator.tools.write import Write
from security import PRESETS, Decision, Risk

TRUSTED = Trust(trusted=True, by="flag")


def check(policy: str, tool: Tool[Any], raw: dict[str, Any], **gate: Any) -> GateResult:
    params = tool.parse(raw)
    return asyncio.run(PermissionGate(PRESETS[policy], TRUSTED, **gate).check(tool, params))


def test_read_only_bash_is_allowed_with_the_analyzers_verdict() -> None:
    result = check("read-only", Bash(), {"command": "ls -la /workspace"})
    assert result.allowed and result.decided_by == "policy"
    assert result.verdict is not None and result.verdict.decision is Decision.ALLOW


def test_destructive_bash_is_denied_without_asking_anyone() -> None:
    asked: list[ApprovalRequest] = []
    result = check("dev", Bash(), {"command": "rm -rf ~"}, approver=asked.append)
    assert not result.allowed and result.decision is Decision.DENY and asked == []
    assert any("S29" in reason for reason in result.reasons)
    assert "Permission denied (policy)" in result.refusal()


def test_ask_goes_to_the_approver_with_the_reasons() -> None:
    asked: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    result = check("read-only", Bash(), {"command": "make"}, approver=approve)
    assert result.allowed and result.decided_by == "callback"
    assert asked[0].tool == "Bash" and asked[0].summary == "make"
    assert asked[0].verdict is not None and asked[0].reasons


def test_an_async_approver_that_refuses() -> None:
    async def refuse(request: ApprovalRequest) -> bool:
        return False

    result = check("read-only", Bash(), {"command": "make"}, approver=refuse)
    assert not result.allowed and result.decision is Decision.ASK
    assert "refused by the callback" in result.refusal()


def test_headless_policy_turns_ask_into_deny_even_with_an_approver() -> None:
    # the analyzer already answers deny for a headless policy's commands ...
    bash = check("ci-untrusted", Bash(), {"command": "curl x"}, approver=lambda r: True)
    assert not bash.allowed and bash.decision is Decision.DENY
    # ... and the gate does the same for the asks a tool's own rules add (the analyzer
    # allows `cat > /tmp/x` under ci-untrusted; Write outside the workspace asks)
    raw = {"file_path": "/tmp/x", "content": "x"}
    write = check("ci-untrusted", Write(), raw, approver=lambda r: True)
    assert not write.allowed and write.decision is Decision.ASK
    assert "headless" in write.refusal()


@pytest.mark.parametrize("tool", [Write(), Edit()])
def test_edits_ask_under_read_only_and_are_allowed_in_the_workspace_under_dev(
    tool: Tool[Any],
) -> None:
    raw = {"file_path": "/workspace/src/a.py", "content": "x", "old_string": "a",
           "new_string": "b"}  # fmt: skip
    raw = {k: v for k, v in raw.items() if k in tool.input_model.model_fields}
    assert not check("read-only", tool, raw).allowed
    assert check("dev", tool, raw).allowed
    assert check("ci-untrusted", tool, raw).allowed
    outside = {**raw, "file_path": "/workspace/../etc/passwd"}
    refused = check("dev", tool, outside)
    assert not refused.allowed and refused.risk is Risk.HIGH
    assert "/etc/passwd (outside the workspace)" in refused.refusal()


def test_a_relative_path_is_an_input_error() -> None:
    with pytest.raises(ToolError, match="absolute path"):
        check("dev", Write(), {"file_path": "src/a.py", "content": "x"})


def test_reading_tools_are_allowed_under_every_policy() -> None:
    for policy in PRESETS:
        assert check(policy, Read(), {"file_path": "/workspace/README.md"}).allowed
