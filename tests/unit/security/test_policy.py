"""Policies: presets, YAML files, user rules and what they can never do."""

from __future__ import annotations

from pathlib import Path

import pytest

from security import Decision, Policy, PolicyError, Rule, analyze


def decide(command: str, policy: Policy | str = "read-only") -> Decision:
    return analyze(command, Policy.load(policy) if isinstance(policy, str) else policy).decision


@pytest.mark.parametrize(
    ("command", "read_only", "dev", "ci"),
    [
        ("ls -la", "allow", "allow", "allow"),
        ("echo x > notes.txt", "ask", "allow", "allow"),
        ("python3 -m pytest -q", "ask", "allow", "allow"),
        ("make build", "ask", "allow", "allow"),
        ("sed -i s/a/b/ f.py", "ask", "allow", "allow"),
        ("curl https://example.com", "ask", "ask", "ask"),
        ("pip install requests", "ask", "ask", "ask"),
        ("cp x /opt/tool/x", "ask", "ask", "ask"),
        ("cp x /usr/local/bin/x", "deny", "deny", "deny"),
        ("git commit --amend", "ask", "ask", "ask"),
        ("sudo ls", "deny", "deny", "deny"),
        ("rm -rf ~", "deny", "deny", "deny"),
        ("echo $((1 + 2))", "ask", "ask", "ask"),  # unparseable (S04)
        ("[[ -f x ]]", "allow", "allow", "allow"),
    ],
)
def test_presets(command: str, read_only: str, dev: str, ci: str) -> None:
    """The analyzer's verdicts. ci-untrusted is headless, but `analyze` still says ask:
    only the deployment turns it into deny (tests/unit/orchestrator/gate/test_headless.py)."""
    assert [decide(command, p) for p in ("read-only", "dev", "ci-untrusted")] == [
        read_only,
        dev,
        ci,
    ]


def test_rules_match_parsed_argv_not_raw_text() -> None:
    policy = Policy(rules=[Rule(prefix=["npm", "test"], decision=Decision.ALLOW)])
    assert decide("npm test", policy) is Decision.ALLOW
    assert decide("npm   'test'", policy) is Decision.ALLOW  # same argv, other spelling
    assert decide('"npm" test', policy) is Decision.ASK  # a quoted name stays structural
    assert decide("npm test; curl x", policy) is Decision.ASK
    assert decide("npm testing", policy) is Decision.ASK


def test_deny_rule_wins_over_allow_rule() -> None:
    policy = Policy(
        rules=[
            Rule(prefix=["git"], decision=Decision.ALLOW),
            Rule(prefix=["git", "push"], decision=Decision.DENY),
        ]
    )
    assert decide("git fetch", policy) is Decision.ALLOW
    assert decide("git push origin main", policy) is Decision.DENY


def test_allow_rule_never_clears_a_structural_finding() -> None:
    policy = Policy(rules=[Rule(prefix=["echo"], decision=Decision.ALLOW)])
    assert decide("echo ${x:-$(id)}", policy) is Decision.ASK
    assert decide("\\echo hi", policy) is Decision.ASK


def test_structural_checks_cannot_be_relaxed() -> None:
    with pytest.raises(ValueError, match="structural"):
        Policy(overrides={"S04": "allow"})
    with pytest.raises(ValueError, match="unknown check"):
        Policy(overrides={"S99": "allow"})


def test_zsh_checks_only_when_zsh_may_run_the_line() -> None:
    assert decide("ls =ls", Policy(shell="bash")) is Decision.ALLOW
    assert decide("ls =ls", Policy(shell="zsh")) is Decision.DENY
    assert decide("ls =ls") is Decision.DENY  # any shell: assume the worst


def test_yaml_policy_extends_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text("extends: dev\nshell: bash\nrules:\n  - {prefix: [curl], decision: deny}\n")
    policy = Policy.load(str(path))
    assert policy.name == "team"
    assert policy.shell == "bash"
    assert policy.overrides["S37"] == "allow"
    assert decide("curl x", policy) is Decision.DENY


@pytest.mark.parametrize("text", ["- a list\n", "shell: fish\n", "rules: [{prefix: []}]\n", ":"])
def test_bad_yaml_is_a_policy_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError):
        Policy.load(str(path))


def test_a_preset_may_be_named() -> None:
    assert analyze("ls", "dev").policy == "dev"


@pytest.mark.parametrize("policy", ["no-such-policy", 3])
def test_a_bad_policy_argument_is_a_refusal_not_an_exception(policy: object) -> None:
    verdict = analyze("ls", policy)  # type: ignore[arg-type]
    assert verdict.decision is Decision.DENY
    assert verdict.findings[0].check == "S00"
    assert "policy" in verdict.findings[0].detail


@pytest.mark.parametrize(("command", "check"), [("rm -rf /", "S29"), ("rm -rf ~", "S29")])
def test_allow_rule_never_clears_a_checks_deny(command: str, check: str) -> None:
    """Fail closed: a rule allowing `rm` leaves what a check denies denied, and says so."""
    policy = Policy(rules=[Rule(prefix=["rm"], decision=Decision.ALLOW)])
    verdict = analyze(command, policy)
    assert verdict.decision is Decision.DENY
    assert check in {f.check for f in verdict.findings if f.decision is Decision.DENY}
    overruled = [f for f in verdict.findings if f.check == "P01"]
    assert len(overruled) == 1
    assert overruled[0].detail.startswith(f"rule allows {command}, but {check} (")
    assert f"{check} (destructive command) denies it" in verdict.explanation


def test_allow_rule_still_clears_a_checks_ask() -> None:
    policy = Policy(rules=[Rule(prefix=["rm"], decision=Decision.ALLOW)])
    assert decide("rm x.txt") is Decision.ASK
    verdict = analyze("rm x.txt", policy)
    assert verdict.decision is Decision.ALLOW
    assert verdict.findings == []


def test_allow_rule_says_why_a_structural_ask_stands() -> None:
    policy = Policy(rules=[Rule(prefix=["echo"], decision=Decision.ALLOW)])
    verdict = analyze("\\echo hi", policy)
    assert verdict.decision is Decision.ASK
    (note,) = [f for f in verdict.findings if f.check == "P01"]
    assert note.detail.startswith("rule allows echo hi, but S08 (")
    assert note.decision is Decision.ASK


@pytest.mark.parametrize(("decision", "verb"), [("deny", "denies"), ("ask", "asks about")])
def test_a_rules_finding_is_plain_english(decision: str, verb: str) -> None:
    policy = Policy(rules=[Rule(prefix=["make"], decision=Decision(decision))])
    (finding,) = [f for f in analyze("make deploy", policy).findings if f.check == "P01"]
    assert finding.detail == f"rule {verb} make deploy"
