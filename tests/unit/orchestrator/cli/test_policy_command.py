"""`airlock policy lint` and `explain`, a bad policy under every command, and each
command's --help naming its default policy. Commands here are only analyzed, never run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

SGR = re.compile(r"\x1b\[[0-9;]*m")
runner = CliRunner()

TEAM = """\
extends: base.yaml
shell: bash
rules:
  - {prefix: [rm], decision: allow}
  - {prefix: [make, deploy], decision: deny}
"""
BASE = "extends: dev\nrules:\n  - {prefix: [npm, test], decision: allow}\n"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, SGR.sub("", result.stdout), SGR.sub("", result.stderr)


@pytest.fixture
def team(tmp_path: Path) -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    path = tmp_path / "team.yaml"
    path.write_text(TEAM)
    return path


def test_lint_says_what_a_good_file_holds(team: Path) -> None:
    code, stdout, _ = invoke("policy", "lint", str(team))
    assert code == 0
    assert stdout.startswith("ok: team (extends base.yaml → dev; 3 rules, 8 overrides, shell bash")


def test_lint_prints_each_problem_and_exits_64(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rule:\n  - {prefix: [make, deploy], decision: deny}\nshell: fish\n")
    code, stdout, stderr = invoke("policy", "lint", str(path))
    assert code == 64
    assert stdout == ""
    assert "rule: unknown key; did you mean 'rules'?" in stderr
    assert "shell: should be 'any', 'bash', 'sh' or 'zsh' (got 'fish')" in stderr
    assert "Traceback" not in stderr and "pydantic" not in stderr


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["policy", "lint"], []),
        (["policy", "explain"], ["--", "ls"]),
        (["check", "--policy"], ["ls"]),
    ],
)
def test_an_extends_cycle_exits_64_under_every_command(
    tmp_path: Path, before: list[str], after: list[str]
) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    code, _, stderr = invoke(*before, str(tmp_path / "a.yaml"), *after)
    assert code == 64
    assert "extends cycle" in stderr
    assert "RecursionError" not in stderr and "Traceback" not in stderr


def test_explain_shows_the_check_that_overrules_an_allow_rule(team: Path) -> None:
    code, stdout, _ = invoke("policy", "explain", str(team), "--", "rm", "-rf", "/")
    assert code == 2
    assert stdout.startswith("deny (risk high, policy team)\ndecided by:\n")
    assert "S29 destructive command: rm -rf / removes /" in stdout
    assert "rule allows rm -rf /, but S29 (destructive command) denies it" in stdout
    assert "  rm -rf /: rule [rm] → allow" in stdout


def test_explain_names_the_deny_rule(team: Path) -> None:
    code, stdout, _ = invoke("policy", "explain", str(team), "--", "make", "deploy")
    assert code == 2
    assert "P01 policy rule: rule denies make deploy" in stdout
    assert "  make deploy: rule [make, deploy] → deny" in stdout


def test_explain_shows_an_allow_rule_clearing_asks(tmp_path: Path) -> None:
    path = tmp_path / "ro.yaml"
    path.write_text("rules:\n  - {prefix: [rm], decision: allow}\n")
    code, stdout, _ = invoke("policy", "explain", str(path), "--", "rm", "x.txt")
    assert code == 0
    assert "decided by: the allow rules below, which cleared the checks' asks" in stdout
    assert "without the rules: ask (S24, S37)" in stdout


def test_explain_answers_as_check_does_headless(team: Path) -> None:
    code, stdout, _ = invoke("policy", "explain", "ci-untrusted", "--", "curl", "x")
    assert code == invoke("check", "--policy", "ci-untrusted", "--", "curl", "x")[0] == 2
    assert "S28 network access" in stdout
    assert "headless: nobody can confirm, so every ask is a deny" in stdout
    assert invoke("policy", "explain", "dev", "--", "curl", "x")[0] == 1


def test_explain_without_a_command_is_a_usage_error(team: Path) -> None:
    code, _, stderr = invoke("policy", "explain", str(team))
    assert code == 64
    assert "give the command to judge after --" in stderr


@pytest.mark.parametrize(
    ("command", "default", "other"),
    [("check", "read-only", "dev"), ("exec", "dev", "read-only"), ("run", "dev", "read-only")],
)
def test_each_help_states_its_default_policy_and_the_difference(
    command: str, default: str, other: str
) -> None:
    code, stdout, _ = invoke(command, "--help")
    assert code == 0
    options = stdout.split("\nOptions:\n", 1)[1]
    (entry,) = re.findall(r"^  --policy .*?(?=^  -)", options, flags=re.MULTILINE | re.DOTALL)
    line = " ".join(entry.split()).replace("- ", "-")  # the option's help, unwrapped
    assert re.search(rf"[Dd]efault {default}\b", line), line
    assert other in line, line


@pytest.mark.parametrize(
    ("hosts", "code"),
    [([], 2), (["--allow-host", "pypi.org"], 0), (["--allow-host", "other.org"], 0)],
)
def test_check_judges_as_a_session_with_those_hosts_would(hosts: list[str], code: int) -> None:
    """--allow-host turns egress on: installs stop asking for the network (ci-untrusted
    denies an ask); which hosts is the proxy's business, not the analyzer's."""
    result, _, _ = invoke(
        "check", "--policy", "ci-untrusted", *hosts, "--", "pip install -r requirements.txt"
    )
    assert result == code


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("10.0.0.1", "IP literals are always refused"),
        ("https://pypi.org", "not a URL"),
        ("PyPI.org", "lowercase"),
        ("*.com", "too wide"),
    ],
)
def test_a_bad_allow_host_is_a_usage_error_that_says_why(host: str, says: str) -> None:
    for command in (["check"], ["exec"]):
        code, _, stderr = invoke(*command, "--allow-host", host, "--", "true")
        assert code == 64 and says in stderr, (command, stderr)
