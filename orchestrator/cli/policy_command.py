"""`airlock policy lint` and `airlock policy explain`: a policy file, checked and put to work.

`lint` loads a file as every command does (`security.policy_file`) and says what it
holds, or each problem on its own line (exit 64). `explain` judges one command as
`airlock check` does (the same headless rule, the same exit codes) and shows why: the
findings that decided, the rules that matched each command, and what the verdict would
be without the rules, so a rule's effect, or a check overruling it, is in plain sight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from orchestrator.cli.consoles import out
from orchestrator.cli.errors import UsageError, exit_on_failure
from orchestrator.cli.help_format import HelpCommand
from orchestrator.events.safe_text import text

if TYPE_CHECKING:
    from security import Policy, Verdict
    from security.policy_file import LoadedPolicy

policy_app = typer.Typer(
    help="Check a policy file, and see how it judges a command.",
    no_args_is_help=True,
    add_completion=False,
)


@policy_app.callback()
def policy() -> None:
    """Check a policy file, and see how it judges a command."""


@policy_app.command(cls=HelpCommand)
def lint(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="A YAML policy file (or a preset's name).")
    ],
) -> None:
    """Load FILE (and what it extends): print what it holds, or each problem. Exit 0, or 64.

    \b
    Examples:
      airlock policy lint .airlock/policy.yaml
      airlock policy lint ci-untrusted
    """
    from security.policy_file import load_policy

    with exit_on_failure():
        loaded = load_policy(file)
    out.print(text(("ok", "green"), f": {summary(loaded)}"), soft_wrap=True)


@policy_app.command(cls=HelpCommand)
def explain(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="A YAML policy file (or a preset's name).")
    ],
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="COMMAND", help="The command line to judge (after --)."),
    ] = None,
) -> None:
    """Judge COMMAND under FILE as `airlock check` does, and show which rule or check
    decided, and why. Exit 0/1/2 for allow/ask/deny, 64 for a bad policy or usage.

    \b
    Examples:
      airlock policy explain team.yaml -- make deploy
      airlock policy explain read-only -- 'git -c core.pager=less log'
    """
    from orchestrator.cli import check as check_module
    from security.policy_file import load_policy

    with exit_on_failure():
        loaded = load_policy(file)
        if not command:
            raise UsageError("give the command to judge after --")
        verdict = check_module.judge(" ".join(command), loaded.policy)
        for line in explanation(verdict, loaded.policy):
            out.print(line, soft_wrap=True)
        raise typer.Exit(check_module.EXIT_CODES[verdict.decision])


def summary(loaded: LoadedPolicy) -> str:
    """``team (extends base.yaml → dev; 2 rules, 8 overrides, shell bash, headless)``."""
    policy = loaded.policy
    parts = [
        _count(len(policy.rules), "rule"),
        _count(len(policy.overrides), "override"),
        f"shell {policy.shell}",
        f"edits {policy.edits}",
        "headless: asks are denies" if policy.headless else "asks go to a person",
    ]
    extends = f"extends {' → '.join(loaded.extends)}; " if loaded.extends else ""
    return f"{policy.name} ({extends}{', '.join(parts)})"


def explanation(verdict: Verdict, policy: Policy) -> list[Text]:
    """The lines `explain` prints: the decision, what decided it, the other findings, the
    rules that matched, the verdict without the rules, and the analyzer's paragraph."""
    from orchestrator.cli.check import STYLES, judge
    from security import Decision

    matched = [
        (argv, rule) for argv in verdict.commands for rule in policy.rules if rule.matches(argv)
    ]
    bare = judge(verdict.command, policy.model_copy(update={"rules": []})) if matched else None
    lines = [
        text(
            (verdict.decision.value, STYLES[verdict.decision]),
            f" (risk {verdict.risk.value}, policy {policy.name})",
        )
    ]
    deciding = [f for f in verdict.findings if f.decision is verdict.decision]
    others = [f for f in verdict.findings if f.decision is not verdict.decision]
    if deciding:
        lines.append(text("decided by:"))
        lines += [text(f"  {f.check} {f.title}: {f.detail}") for f in deciding]
    elif bare is not None and bare.decision is not Decision.ALLOW:
        lines.append(text("decided by: the allow rules below, which cleared the checks' asks"))
    else:
        lines.append(text("decided by: the checks, none of which objects under this policy"))
    if others:
        lines.append(text("also found:"))
        lines += [
            text(f"  {f.check} {f.title}: {f.detail} ", (f"→ {f.decision.value}", "dim"))
            for f in others
        ]
    if not policy.rules:
        lines.append(text("rules: the policy has none"))
    elif bare is None:
        lines.append(text(f"rules matched: none (of {_count(len(policy.rules), 'rule')})"))
    else:
        lines.append(text("rules matched:"))
        lines += [
            text(f"  {' '.join(argv)}: rule [{', '.join(rule.prefix)}] → {rule.decision.value}")
            for argv, rule in matched
        ]
        checks = ", ".join(sorted({f.check for f in bare.findings})) or "no findings"
        lines.append(text(f"without the rules: {bare.decision.value} ({checks})"))
    if policy.headless and verdict.decision is Decision.DENY and _asked(verdict, policy):
        lines.append(text("headless: nobody can confirm, so every ask is a deny"))
    lines.append(text(verdict.explanation))
    return lines


def _asked(verdict: Verdict, policy: Policy) -> bool:
    """Whether the analyzer itself said ask, before the headless rule made it deny."""
    from security import Decision, analyze

    return any(f.decision is Decision.ASK for f in analyze(verdict.command, policy).findings)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
