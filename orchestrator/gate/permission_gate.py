"""The permission gate every tool call passes, in this order, always.

1. Trust: whether the session's project is trusted was settled when it was loaded
   (an untrusted project's own settings and memory files are never read).
2. The per-tool check. A tool states what it asks permission for as the shell line
   that would do the same (`orchestrator.tools.permission`): Bash its command, Read of P
   ``cat -- P``, Write of P ``cat > P``. The analyzer judges that line under the
   session's policy, so every tool gets the same path and secret rules as Bash; then
   the tool's own rules for the files it changes (the policy's ``edits``, and edits
   outside the workspace ask) can only make the answer stricter. A tool that states
   nothing (Agent) is judged by its risk.
3. Confirmation of what is `ask` or high-risk: an approver (a person at a terminal or
   a callback) answers; with nobody to answer, a policy with ``classify_asks`` lets a
   cheap model call an `ask` that only the analyzer raised routine or not (it sees the
   shell line); otherwise the policy answers, and `ask` becomes `deny`.

A refusal carries its reasons; the loop hands them to the model as an error result.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from orchestrator.gate.classifier import SafetyClassifier
from orchestrator.tools.base import WORKSPACE, Tool, ToolInput
from orchestrator.tools.permission import Permission, read_judge
from security import Decision, Policy, Risk, Verdict, analyze
from security.paths import within
from security.verdict import highest, strictest

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


@dataclass(frozen=True)
class Judgement:
    """Step 2's answer: the decision, its risk and reasons, and the analyzer's verdict
    on the call's shell line (None for a tool that states no permission)."""

    decision: Decision
    risk: Risk
    reasons: list[str]
    verdict: Verdict | None = None
    line: str = ""  # the shell line the verdict is about
    classifiable: bool = False  # an ask that only the analyzer raised


@dataclass(frozen=True)
class _EditRules:
    """What a tool's own edit rules add: the risk of its edits, and why each asks."""

    risk: Risk
    reasons: list[str]  # each one an ask


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
        self._read_judge = read_judge(policy)

    @property
    def classifies(self) -> bool:
        """Whether an unanswered ask may go to the classifier."""
        return self.policy.classify_asks and self.classifier is not None

    @property
    def person_can_answer(self) -> bool:
        return self.approver is not None and not self.policy.headless

    async def check(self, tool: Tool[Any], params: ToolInput) -> GateResult:
        # off the event loop: analyzing a long line takes a while (and never times out)
        judged = await asyncio.to_thread(self._judge, tool, params)
        decision, reasons = judged.decision, judged.reasons
        if decision is Decision.ALLOW and judged.risk is Risk.HIGH:
            decision = Decision.ASK
            reasons = [*reasons, f"{tool.name} is high-risk"]
        if decision is not Decision.ASK:
            return GateResult(
                allowed=decision is Decision.ALLOW,
                decision=decision,
                risk=judged.risk,
                reasons=reasons,
                decided_by="policy",
                trusted=self.trust.trusted,
                verdict=judged.verdict,
            )
        return await self._confirm(tool, params, judged, reasons)

    def _judge(self, tool: Tool[Any], params: ToolInput) -> Judgement:
        """Step 2: the policy's view of this call, before anyone is asked.

        A tool that states a `Permission` is judged by the analyzer's verdict on its
        shell line, then by the edit rules for the files it changes; a tool that states
        none is judged by its risk alone.
        """
        permission = tool.permission(params)
        if permission is None:
            if tool.risk is Risk.HIGH:
                return Judgement(Decision.ASK, tool.risk, [f"{tool.name} is high-risk"])
            return Judgement(Decision.ALLOW, tool.risk, [])
        return self._judge_permission(tool, permission)

    def _judge_permission(self, tool: Tool[Any], permission: Permission) -> Judgement:
        policy = self.policy
        if policy.headless and self.classifies:  # keep the asks, for the classifier
            policy = policy.model_copy(update={"headless": False})
        verdict = analyze(permission.line, policy)
        reasons = [f"{f.check} {f.title}: {f.detail}" for f in verdict.findings]
        own = self._edit_rules(tool, permission.edits)
        decision = strictest([verdict.decision, *(Decision.ASK for _ in own.reasons)])
        return Judgement(
            decision,
            highest([verdict.risk, own.risk]),
            [*reasons, *own.reasons],
            verdict,
            permission.line,
            classifiable=not own.reasons,
        )

    def _edit_rules(self, tool: Tool[Any], paths: tuple[str, ...]) -> _EditRules:
        """The tool's own rules for the files it changes, on top of the analyzer's.

        An edit outside the workspace asks (high risk); inside, it asks unless the
        policy allows edits in the workspace.
        """
        reasons: list[str] = []
        risk = Risk.LOW
        for path in paths:
            inside = within(path, self.policy.workspace or WORKSPACE)
            risk = highest([risk, tool.risk if inside else Risk.HIGH])
            if inside and self.policy.edits == "workspace":
                continue
            where = "inside" if inside else "outside"
            reasons.append(f"{tool.name} writes {path} ({where} the workspace): needs approval")
        return _EditRules(risk, reasons)

    def permits(self, tool: Tool[Any], permission: Permission) -> bool:
        """Whether ``tool`` may do what ``permission`` states without anyone being asked:
        how a running tool checks a file it did not name (where a link leads)."""
        judged = self._judge_permission(tool, permission)
        return judged.decision is Decision.ALLOW and judged.risk is not Risk.HIGH

    def may_read(self, paths: Sequence[str]) -> frozenset[str]:
        """Which of ``paths`` this session's policy lets a tool read without asking:
        each is judged as ``cat -- PATH``, like Read of it."""
        return self._read_judge(paths)

    async def _confirm(
        self, tool: Tool[Any], params: ToolInput, judged: Judgement, reasons: list[str]
    ) -> GateResult:
        """Step 3: ask someone, or let a headless policy answer."""

        def result(allowed: bool, by: DecidedBy, why: str) -> GateResult:
            return GateResult(
                allowed=allowed,
                decision=Decision.ASK,
                risk=judged.risk,
                reasons=[*reasons, why],
                decided_by=by,
                trusted=self.trust.trusted,
                verdict=judged.verdict,
            )

        verdict = judged.verdict
        if not self.person_can_answer and self.classifies and judged.classifiable:
            assert self.classifier is not None and verdict is not None
            said = await self.classifier.classify(judged.line, verdict, self.policy.name)
            if said is not None:
                cached = ", cached" if said.cached else ""
                why = f"the classifier ({said.model}{cached}) says: {said.reason}"
                return result(said.decision == "allow", "classifier", why)
        if self.policy.headless:
            return result(False, "policy", f"policy {self.policy.name} is headless: ask is deny")
        if self.approver is None:
            return result(False, "policy", "needs approval and nobody is there to approve")
        request = ApprovalRequest(
            tool=tool.name,
            summary=_summary(params),
            risk=judged.risk,
            reasons=reasons,
            verdict=verdict,
        )
        answer = self.approver(request)
        if inspect.isawaitable(answer):
            answer = await answer
        by = self.approver_kind
        return result(bool(answer), by, f"{'approved' if answer else 'refused'} by the {by}")


def _summary(params: ToolInput) -> str:
    for name in ("command", "file_path", "pattern", "prompt"):
        value = getattr(params, name, None)
        if isinstance(value, str):
            return value if len(value) <= 200 else value[:200] + "..."
    return params.model_dump_json()[:200]
