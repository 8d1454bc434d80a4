"""The one place where `ask` becomes `deny` because nobody can confirm it.

`security.analyze` reports what it found: an `ask` says a person must confirm, whoever
runs it. Whether anyone can is a fact of the deployment, which the policy states as
``headless``. This module turns a verdict into the answer such a deployment gives, and
both the gate (for the agent loop) and the commands that have no gate (`airlock check`,
`airlock exec`) call it, so the rule is written once.
"""

from __future__ import annotations

from security import Decision, Finding, Policy, Verdict


def headless_answer(verdict: Verdict, policy: Policy) -> Verdict:
    """``verdict`` as ``policy``'s deployment answers it with nobody to confirm.

    Unchanged unless the policy is headless; then every ask is a deny: each finding's
    and the verdict's decision (its explanation follows). A deny never weakens, and
    nothing else (risk, findings, commands) changes.
    """
    if not policy.headless or all(f.decision is not Decision.ASK for f in verdict.findings):
        return verdict
    fields = {name: getattr(verdict, name) for name in type(verdict).model_fields}
    # a fresh Verdict, not a copy: a copy would keep an explanation already built
    return type(verdict)(
        **{
            **fields,
            "decision": Decision.DENY,
            "findings": [_denied(f) for f in verdict.findings],
        }
    )


def _denied(finding: Finding) -> Finding:
    if finding.decision is not Decision.ASK:
        return finding
    return finding.model_copy(update={"decision": Decision.DENY})
