"""The permission gate every tool call passes, in this order, always.

1. Trust: whether the session's project is trusted was settled when it was loaded
   (an untrusted project's own settings and memory files are never read).
2. The per-tool check. Each tool declares a typed request for what a call asks
   permission for (`Tool.permission_request`, `orchestrator.tools.permission`): a
   command, a file read, write or edit, a search, or nothing to ask. The gate handles
   each kind of request, never a tool by name. A request to do something is stated as
   the shell line that would do the same (Bash its command, Read of P ``cat -- P``,
   Write of P ``cat > P``); the analyzer judges that line under the session's policy,
   so every tool gets the same path and secret rules as Bash; then the rules for the
   files it changes (the policy's ``edits``, and edits outside the workspace ask) can
   only make the answer stricter. Nothing to ask (Agent) is judged by the tool's risk.
   A tool that declares no request is refused.
3. Confirmation of what is `ask` or high-risk: an approver (a person at a terminal or
   a callback) answers; with nobody to answer, a policy with ``classify_asks`` lets a
   cheap model call an `ask` that only the analyzer raised routine or not (it sees the
   shell line); otherwise the policy answers, and `ask` becomes `deny`. The analyzer
   reports `ask` under every policy; a headless policy's answer to its verdict is
   `orchestrator.gate.headless` (every ask a deny), the one rule that `airlock check`
   and `airlock exec` apply too. The gate applies it as it judges (step 2) unless the
   classifier may take the asks, and refuses the asks left at step 3.

A refusal carries its reasons; the loop hands them to the model as an error result.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.gate.classifier import SafetyClassifier
from orchestrator.gate.headless import headless_answer
from orchestrator.tools.base import WORKSPACE, Tool, ToolInput
from orchestrator.tools.permission import (
    EditFile,
    NothingToAsk,
    ReadFile,
    RunCommand,
    Search,
    ShellRequest,
    WriteFile,
    read_judge,
)
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
    summary: str  # the request's summary (the command, the file, the pattern), cut to 200
    risk: Risk
    reasons: list[str]
    verdict: Verdict | None = None
    line: str = ""  # the whole shell line the verdict is about ('' for a request with none)


class ApprovalAnswer(BaseModel):
    """An approver's answer naming who gave it (a plain bool names nobody)."""

    model_config = ConfigDict(frozen=True)

    allowed: bool
    by_whom: str = Field(min_length=1, description="the identity that answered")
    reason: str = ""


Approver = Callable[[ApprovalRequest], bool | ApprovalAnswer | Awaitable[bool | ApprovalAnswer]]


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
    approver: str | None = None  # the identity that answered, when the approver named one

    def refusal(self) -> str:
        """The error text the model reads when the call is refused."""
        why = "; ".join(self.reasons) or "refused by policy"
        return f"Permission denied ({self.decided_by}): {why}"


@dataclass(frozen=True)
class Judgement:
    """Step 2's answer: the decision, its risk and reasons, and the analyzer's verdict
    on the request's shell line (None for a request with no line)."""

    decision: Decision
    risk: Risk
    reasons: list[str]
    summary: str  # the request, for a person asked to confirm it
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
        return await self._confirm(tool, judged, reasons)

    def _judge(self, tool: Tool[Any], params: ToolInput) -> Judgement:
        """Step 2: the policy's view of this call, before anyone is asked, by the kind
        of request its tool declares.

        A request to do something is judged by the analyzer's verdict on its shell line,
        then by the edit rules for the files it changes; nothing to ask is judged by the
        tool's risk alone. No request, or one of a kind this gate does not know, is
        refused.

        Attack: a tool added without a declared request (or with a new kind of request)
        would otherwise run unjudged; it is refused until the gate knows what it does.
        """
        request = tool.permission_request(params)
        match request:
            case RunCommand() | ReadFile() | WriteFile() | EditFile() | Search():
                return self._judge_shell(tool, request)
            case NothingToAsk():
                if tool.risk is Risk.HIGH:
                    return Judgement(
                        Decision.ASK, tool.risk, [f"{tool.name} is high-risk"], request.summary
                    )
                return Judgement(Decision.ALLOW, tool.risk, [], request.summary)
            case None:
                why = f"{tool.name} declares no permission request: refused"
                return Judgement(Decision.DENY, Risk.HIGH, [why], tool.name)
            case _:
                kind = type(request).__name__
                why = f"{tool.name} asks for {kind}, a request the gate does not know: refused"
                return Judgement(Decision.DENY, Risk.HIGH, [why], tool.name)

    def _judge_shell(self, tool: Tool[Any], request: ShellRequest) -> Judgement:
        verdict = analyze(request.line, self.policy)
        if not self.classifies:  # only the policy answers: a headless one denies the asks
            verdict = headless_answer(verdict, self.policy)
        reasons = [f"{f.check} {f.title}: {f.detail}" for f in verdict.findings]
        own = self._edit_rules(tool, request.edits)
        decision = strictest([verdict.decision, *(Decision.ASK for _ in own.reasons)])
        return Judgement(
            decision,
            highest([verdict.risk, own.risk]),
            [*reasons, *own.reasons],
            request.summary,
            verdict,
            request.line,
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

    def permits(self, tool: Tool[Any], request: ShellRequest) -> bool:
        """Whether ``tool`` may do what ``request`` states without anyone being asked:
        how a running tool checks a file it did not name (where a link leads)."""
        judged = self._judge_shell(tool, request)
        return judged.decision is Decision.ALLOW and judged.risk is not Risk.HIGH

    def may_read(self, paths: Sequence[str]) -> frozenset[str]:
        """Which of ``paths`` this session's policy lets a tool read without asking:
        each is judged as ``cat -- PATH``, like Read of it."""
        return self._read_judge(paths)

    async def _confirm(self, tool: Tool[Any], judged: Judgement, reasons: list[str]) -> GateResult:
        """Step 3: ask someone, or let the classifier or the policy answer."""

        def result(allowed: bool, by: DecidedBy, why: str, who: str | None = None) -> GateResult:
            return GateResult(
                allowed=allowed,
                decision=Decision.ASK,
                risk=judged.risk,
                reasons=[*reasons, why],
                decided_by=by,
                trusted=self.trust.trusted,
                verdict=judged.verdict,
                approver=who,
            )

        verdict = judged.verdict
        if not self.person_can_answer and self.classifies and judged.classifiable:
            assert self.classifier is not None and verdict is not None
            said = await self.classifier.classify(judged.line, verdict, self.policy.name)
            if said is not None:
                cached = ", cached" if said.cached else ""
                why = f"the classifier ({said.model}{cached}) says: {said.reason}"
                return result(said.decision == "allow", "classifier", why)
        if self.policy.headless:  # a tool's own ask, or one the classifier did not take
            return result(False, "policy", f"policy {self.policy.name} is headless: ask is deny")
        if self.approver is None:
            return result(False, "policy", "needs approval and nobody is there to approve")
        request = ApprovalRequest(
            tool=tool.name,
            summary=_one_line(judged.summary),
            risk=judged.risk,
            reasons=reasons,
            verdict=verdict,
            line=judged.line,
        )
        answer = self.approver(request)
        if inspect.isawaitable(answer):
            answer = await answer
        by = self.approver_kind
        if isinstance(answer, ApprovalAnswer):
            told = f"{'approved' if answer.allowed else 'refused'} by {answer.by_whom}"
            why = f"{told}: {answer.reason}" if answer.reason else told
            return result(answer.allowed, by, why, answer.by_whom)
        return result(bool(answer), by, f"{'approved' if answer else 'refused'} by the {by}")


def _one_line(summary: str, limit: int = 200) -> str:
    return summary if len(summary) <= limit else summary[:limit] + "..."
