"""The permission gate every tool call passes, in this order, always.

1. Trust: whether the session's project is trusted was settled when it was loaded
   (an untrusted project's own settings and memory files are never read).
2. The per-tool check: the policy, the tool's risk, and for Bash the analyzer's verdict.
3. Confirmation of what is `ask` or high-risk: an approver (a person at a terminal or
   a callback) answers; with nobody to answer, a policy with ``classify_asks`` lets a
   cheap model call a fully understood Bash `ask` routine or not; otherwise the
   policy answers, and `ask` becomes `deny`.

A refusal carries its reasons; the loop hands them to the model as an error result.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from orchestrator.classifier import SafetyClassifier
from orchestrator.tools.base import WORKSPACE, Tool, ToolInput, absolute_path
from security import Decision, Policy, Risk, Verdict, analyze
from security.paths import within
from security.verdict import strictest

EDITING_TOOLS = frozenset({"Write", "Edit"})
COMMAND_TOOLS = frozenset({"Bash", "Remember"})  # judged by the analyzer
DecidedBy = Literal["policy", "person", "callback", "classifier"]


class Trust(BaseModel):
    """Whether the project in the session is trusted, and who said so."""

    model_config = ConfigDict(frozen=True)

    trusted: bool
    by: Literal["flag", "policy", "person", "default"]


class ApprovalRequest(BaseModel):
    """What an approver is asked about one call."""

    model_config = ConfigDict(frozen=True)

    tool: str
    summary: str  # the command, or the file, in one line
    risk: Risk
    reasons: list[str]
    verdict: Verdict | None = None


Approver = Callable[[ApprovalRequest], bool | Awaitable[bool]]


class GateResult(BaseModel):
    """The gate's answer for one call."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    decision: Decision  # what the checks said, before confirmation
    risk: Risk
    reasons: list[str]
    decided_by: DecidedBy
    trusted: bool  # step 1, as settled at load: recorded with every decision
    verdict: Verdict | None = None

    def refusal(self) -> str:
        """The error text the model reads when the call is refused."""
        why = "; ".join(self.reasons) or "refused by policy"
        return f"Permission denied ({self.decided_by}): {why}"


class PermissionGate:
    """Decides, for one session, whether each tool call may run."""

    def __init__(
        self,
        policy: Policy,
        trust: Trust,
        approver: Approver | None = None,
        approver_kind: Literal["person", "callback"] = "callback",
        classifier: SafetyClassifier | None = None,
    ) -> None:
        self.policy = policy
        self.trust = trust
        self.approver = approver
        self.approver_kind = approver_kind
        self.classifier = classifier  # used only if the policy says classify_asks

    @property
    def classifies(self) -> bool:
        """Whether an unanswered ask may go to the classifier."""
        return self.policy.classify_asks and self.classifier is not None

    @property
    def person_can_answer(self) -> bool:
        return self.approver is not None and not self.policy.headless

    async def check(self, tool: Tool[Any], params: ToolInput) -> GateResult:
        # off the event loop: analyzing a long line takes a while (and never times out)
        decision, risk, reasons, verdict = await asyncio.to_thread(self._judge, tool, params)
        if decision is Decision.ALLOW and risk is Risk.HIGH:
            decision = Decision.ASK
            reasons = [*reasons, f"{tool.name} is high-risk"]
        if decision is not Decision.ASK:
            return GateResult(
                allowed=decision is Decision.ALLOW,
                decision=decision,
                risk=risk,
                reasons=reasons,
                decided_by="policy",
                trusted=self.trust.trusted,
                verdict=verdict,
            )
        return await self._confirm(tool, params, risk, reasons, verdict)

    def _judge(
        self, tool: Tool[Any], params: ToolInput
    ) -> tuple[Decision, Risk, list[str], Verdict | None]:
        """Step 2: the policy's view of this call, before anyone is asked."""
        if tool.name in COMMAND_TOOLS:
            policy = self.policy
            if policy.headless and self.classifies:  # keep the asks, for the classifier
                policy = policy.model_copy(update={"headless": False})
            verdict = analyze(_command(params), policy)
            reasons = [f"{f.check} {f.title}: {f.detail}" for f in verdict.findings]
            decision = verdict.decision
            if tool.name == "Remember" and self.policy.edits == "ask":  # it also writes
                reasons.append("Remember writes the project's memory file")
                decision = strictest([decision, Decision.ASK])
            return decision, verdict.risk, reasons, verdict
        if tool.name in EDITING_TOOLS:
            path = absolute_path(str(getattr(params, "file_path", "")))
            inside = within(path, self.policy.workspace or WORKSPACE)
            if inside and self.policy.edits == "workspace":
                return Decision.ALLOW, tool.risk, [], None
            where = "inside" if inside else "outside"
            return (
                Decision.ASK,
                Risk.HIGH if not inside else tool.risk,
                [f"{tool.name} of {path} ({where} the workspace) needs approval"],
                None,
            )
        if tool.risk is Risk.HIGH:
            return Decision.ASK, tool.risk, [f"{tool.name} is high-risk"], None
        return Decision.ALLOW, tool.risk, [], None

    async def _confirm(
        self,
        tool: Tool[Any],
        params: ToolInput,
        risk: Risk,
        reasons: list[str],
        verdict: Verdict | None,
    ) -> GateResult:
        """Step 3: ask someone, or let a headless policy answer."""

        def result(allowed: bool, by: DecidedBy, why: str) -> GateResult:
            return GateResult(
                allowed=allowed,
                decision=Decision.ASK,
                risk=risk,
                reasons=[*reasons, why],
                decided_by=by,
                trusted=self.trust.trusted,
                verdict=verdict,
            )

        if not self.person_can_answer and self.classifies and verdict is not None:
            assert self.classifier is not None
            judged = await self.classifier.classify(_command(params), verdict, self.policy.name)
            if judged is not None:
                cached = ", cached" if judged.cached else ""
                why = f"the classifier ({judged.model}{cached}) says: {judged.reason}"
                return result(judged.decision == "allow", "classifier", why)
        if self.policy.headless:
            return result(False, "policy", f"policy {self.policy.name} is headless: ask is deny")
        if self.approver is None:
            return result(False, "policy", "needs approval and nobody is there to approve")
        request = ApprovalRequest(
            tool=tool.name, summary=_summary(params), risk=risk, reasons=reasons, verdict=verdict
        )
        answer = self.approver(request)
        if inspect.isawaitable(answer):
            answer = await answer
        by = self.approver_kind
        return result(bool(answer), by, f"{'approved' if answer else 'refused'} by the {by}")


def _command(params: ToolInput) -> str:
    """The shell command a command tool runs: Bash's command, Remember's verify."""
    return str(getattr(params, "command", None) or getattr(params, "verify", ""))


def _summary(params: ToolInput) -> str:
    for name in ("command", "file_path", "pattern", "prompt"):
        value = getattr(params, name, None)
        if isinstance(value, str):
            return value if len(value) <= 200 else value[:200] + "..."
    return params.model_dump_json()[:200]
