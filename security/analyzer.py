"""`analyze`: one command line in, one Verdict out. Pure, deterministic, never raises."""

from __future__ import annotations

import functools
import operator
import re

from security import differential
from security.checks import REGISTRY, Check, Context, Hit
from security.checks.base import CommandCheck, LineCheck, Trigger
from security.checks.text import MAX_LINE_CHARS
from security.fallback import fallback_commands
from security.policy import PRESETS, Policy
from security.shell import Command, ParsedLine, ShellSyntaxError, parse_line
from security.unwrap import Scene, expand
from security.verdict import Decision, Finding, Risk, Verdict, highest, strictest

ZSH_ONLY = frozenset({"S09", "S10", "S11"})
CROSS_CHECK = "S05"
INTERNAL_ERROR = "S00"
RULE_CHECK = "P01"


def analyze(command: str, policy: Policy | str | None = None) -> Verdict:
    """Judge ``command`` under ``policy``: a Policy or a preset's name (default: read-only).

    ``ask`` means a person must confirm, under every policy: whether anyone can is the
    deployment's matter (a headless one refuses it), never the analyzer's. Never
    raises: a bad argument, like any internal error, is a refusal with its reason.
    """
    policy = policy or PRESETS["read-only"]
    try:
        if not isinstance(command, str):
            raise TypeError(f"command must be str, not {type(command).__name__}")
        if isinstance(policy, str):
            if policy not in PRESETS:
                raise ValueError(f"unknown policy {policy!r}; presets: {', '.join(PRESETS)}")
            policy = PRESETS[policy]
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a Policy or a name, not {type(policy).__name__}")
        return _analyze(command, policy)
    except Exception as exc:  # fail closed: any internal error refuses
        finding = Finding(
            check=INTERNAL_ERROR,
            title="internal analyzer error",
            detail=f"{type(exc).__name__}: {exc}",
            decision=Decision.DENY,
            risk=Risk.HIGH,
            structural=True,
        )
        return Verdict(
            command=command if isinstance(command, str) else repr(command),
            policy=policy.name if isinstance(policy, Policy) else str(policy),
            decision=Decision.DENY,
            risk=Risk.HIGH,
            findings=[finding],
            commands=[],
        )


def build_scene(line: str) -> Scene:
    """Parse, unwrap and cross-check ``line``; syntax errors become part of the scene."""
    if len(line) > MAX_LINE_CHARS:
        return Scene(line=line, commands=[], syntax_errors=["too long to parse"])
    try:
        parsed = parse_line(line)
    except ShellSyntaxError as exc:
        # Never allowed (S04); tree-sitter's reading may still find what to deny.
        fallback = ParsedLine(commands=fallback_commands(line), functions=[], hidden=[], nodes=[])
        scene = expand(fallback, line)
        scene.syntax_errors.insert(0, str(exc))
        return scene
    scene = expand(parsed, line)
    scene.nodes = parsed.nodes
    return scene


def cross_check(scene: Scene) -> None:
    """Fill in the parser differential (S05): bashlex's trees against tree-sitter's, for
    the line and for every shell string in it (``bash -c CODE``, ``eval``, a heredoc
    to ``bash``), which bash parses as it does the line."""
    readings = [(scene.line, scene.nodes), *scene.shell_trees] if scene.nodes is not None else []
    for code, nodes in readings:
        if nodes is None or differential.plainly_agree(code):
            continue
        reason = differential.disagreement(code, nodes)
        if reason:
            where = "" if code is scene.line else "in shell code: "
            scene.differential.append(where + reason)


def _analyze(line: str, policy: Policy) -> Verdict:
    scene = build_scene(line)
    ctx = _context(policy.shell, policy.workspace, bool(policy.network.allow))
    findings = _judge(scene, policy, ctx)
    if not findings:
        # The second parser can only turn an allow into a refusal: it runs only then.
        cross_check(scene)
        check = REGISTRY[CROSS_CHECK]
        assert check.line is not None
        findings = [_finding(check, hit, policy) for hit in check.line(scene, ctx)]
        if findings:  # judge what tree-sitter saw too: it may hold something to deny
            findings += _second_reading(line, policy, ctx)
    findings.sort(key=_BY_CHECK)
    decision = strictest(f.decision for f in findings)
    risk = highest(f.risk for f in findings)
    return Verdict(
        command=line,
        policy=policy.name,
        decision=decision,
        risk=risk,
        findings=findings,
        commands=[c.argv for c in scene.commands if c.words],
    )


_BY_CHECK = operator.attrgetter("check")
_context = functools.cache(Context)  # one per (shell, workspace, egress): policies are few


@functools.cache
def _active_checks(zsh_possible: bool) -> tuple[Check, ...]:
    """The checks to run first (all but the cross-check), for one kind of shell."""
    return tuple(
        check
        for check in REGISTRY.values()
        if check.id != CROSS_CHECK and (zsh_possible or check.id not in ZSH_ONLY)
    )


def _judge(scene: Scene, policy: Policy, ctx: Context, *, gated: bool = True) -> list[Finding]:
    """Every check but the cross-check on ``scene``, then the policy's rules.

    ``gated=False`` runs every command check on every command, ignoring triggers:
    the reference the triggers are tested against.
    """
    plan = _plan(ctx.zsh_possible, gated)
    findings = [
        _finding(check, hit, policy) for check, run in plan.per_line for hit in run(scene, ctx)
    ]
    for index, command in enumerate(scene.commands):
        for check, run_on in plan.for_command(command):
            for hit in run_on(command, scene, ctx):
                hit = hit if hit.command is not None else _with_command(hit, index)
                findings.append(_finding(check, hit, policy))
    return _apply_rules(findings, scene, policy)


_NO_TOKENS: frozenset[str] = frozenset()


class _Plan:
    """The active checks arranged for one pass: line checks, then the command checks
    each command's triggers choose (memoized on everything the triggers look at)."""

    MEMO_SIZE = 4096

    def __init__(self, checks: tuple[Check, ...], gated: bool) -> None:
        self.per_line: tuple[tuple[Check, LineCheck], ...] = tuple(
            (c, c.line) for c in checks if c.line is not None
        )
        self.per_command: tuple[tuple[Check, CommandCheck, Trigger | None], ...] = tuple(
            (c, c.command, c.when if gated else None) for c in checks if c.command is not None
        )
        self.tokens = tuple(
            sorted({t for _, _, when in self.per_command if when for t in when.tokens})
        )
        # one search says whether any token is there at all (mostly none is)
        self._any_token = re.compile("|".join(map(re.escape, self.tokens)) or "(?!)")
        self._chosen: dict[tuple[object, ...], tuple[tuple[Check, CommandCheck], ...]] = {}

    def for_command(self, command: Command) -> tuple[tuple[Check, CommandCheck], ...]:
        text = command.text
        present = (
            frozenset(t for t in self.tokens if t in text)
            if self._any_token.search(text)
            else _NO_TOKENS
        )
        key = (
            command.base_name,
            bool(command.redirects),
            bool(command.assignments),
            command.background,
            present,
        )
        chosen = self._chosen.get(key)
        if chosen is None:
            if len(self._chosen) >= self.MEMO_SIZE:
                self._chosen.clear()
            chosen = tuple(
                (check, run_on)
                for check, run_on, when in self.per_command
                if when is None or when.fires(command, present)
            )
            self._chosen[key] = chosen
        return chosen


@functools.cache
def _plan(zsh_possible: bool, gated: bool = True) -> _Plan:
    return _Plan(_active_checks(zsh_possible), gated)


def _second_reading(line: str, policy: Policy, ctx: Context) -> list[Finding]:
    """Findings on tree-sitter's commands, for a line the two parsers read differently."""
    seen = ParsedLine(commands=fallback_commands(line), functions=[], hidden=[], nodes=[])
    return _judge(expand(seen, line), policy, ctx)


def _with_command(hit: Hit, index: int) -> Hit:
    return Hit(hit.detail, hit.decision, hit.risk, index)


def _finding(check: Check, hit: Hit, policy: Policy) -> Finding:
    decision = hit.decision
    if decision is Decision.ASK:
        override = policy.overrides.get(check.id)
        if override and not (check.structural and override == "allow"):
            decision = Decision(override)
    return Finding(
        check=check.id,
        title=check.title,
        detail=hit.detail,
        decision=decision,
        risk=hit.risk,
        structural=check.structural,
        command=hit.command,
    )


def _apply_rules(findings: list[Finding], scene: Scene, policy: Policy) -> list[Finding]:
    """User rules, by argv prefix: among the rules matching a command, deny wins over ask
    over allow. An allow clears that command's asks, but never a check's deny nor a
    structural finding (fail closed); a P01 finding then says which check overruled it."""
    if not policy.rules:
        return [f for f in findings if f.decision is not Decision.ALLOW]
    allowed: set[int] = set()
    extra: list[Finding] = []
    for index, command in enumerate(scene.commands):
        matching = [r for r in policy.rules if command.words and r.matches(command.argv)]
        strict = strictest([r.decision for r in matching]) if matching else None
        if strict is Decision.ALLOW:
            allowed.add(index)
        elif strict is not None:
            extra.append(
                _rule_finding(f"rule {_RULE_VERBS[strict]} {' '.join(command.argv)}", strict, index)
            )
    kept = [
        f
        for f in findings
        if f.decision is not Decision.ALLOW
        and (_beyond_rules(f) or f.command is None or f.command not in allowed)
    ]
    for index in sorted(allowed):
        standing = [f for f in kept if f.command == index and _beyond_rules(f)]
        if standing:
            extra.append(_overruled(scene.commands[index].argv, standing, index))
    return kept + extra


_RULE_VERBS = {Decision.ASK: "asks about", Decision.DENY: "denies"}
_CHECK_VERBS = {Decision.ASK: "asks", Decision.DENY: "denies it"}


def _beyond_rules(finding: Finding) -> bool:
    """What no allow rule clears: a check's deny, and what the analyzer could not see."""
    return finding.decision is Decision.DENY or finding.structural


def _overruled(argv: list[str], standing: list[Finding], index: int) -> Finding:
    """The verdict's word that an allow rule matched, and which checks overruled it."""
    why = " and ".join(f"{f.check} ({f.title}) {_CHECK_VERBS[f.decision]}" for f in standing)
    decision = strictest(f.decision for f in standing)
    never = "a check's deny" if decision is Decision.DENY else "what the analyzer could not see"
    detail = f"rule allows {' '.join(argv)}, but {why}; no rule clears {never}"
    return _rule_finding(detail, decision, index, highest(f.risk for f in standing))


def _rule_finding(detail: str, decision: Decision, index: int, risk: Risk = Risk.HIGH) -> Finding:
    return Finding(
        check=RULE_CHECK,
        title="policy rule",
        detail=detail,
        decision=decision,
        risk=risk,
        command=index,
    )
