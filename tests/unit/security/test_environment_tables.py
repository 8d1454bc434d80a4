"""Class 6: variables that load config or programs, for every tool of the read-only base.

security/knowledge/environment.py records, for each read-only tool, the variables it
reads (its manual's ENVIRONMENT section and the names in its binary, checked in
airlock/dev). Every one of them, set on that tool, is refused unless it is inert with
the value given; any variable nobody reviewed asks when it reaches a program (S40).
"""

from __future__ import annotations

import pytest

from security import Decision, Policy, analyze
from security.knowledge import READ_ONLY
from security.knowledge.environment import (
    GLIBC_ENVIRONMENT,
    INERT,
    LOADS_CODE,
    TOOL_ENVIRONMENT,
    inert_value,
    judge_variable,
)

HOSTILE = "/workspace/evil"
VARIABLE_CHECKS = {"S14", "S15", "S16", "S40"}


def test_every_read_only_tool_was_reviewed() -> None:
    missing = sorted(set(READ_ONLY) - set(TOOL_ENVIRONMENT))
    assert not missing, f"review these tools' environment in knowledge/environment.py: {missing}"


def _reviewed() -> list[tuple[str, str]]:
    pairs = {
        (tool, variable) for tool, variables in TOOL_ENVIRONMENT.items() for variable in variables
    }
    pairs |= {("cat", variable) for variable in GLIBC_ENVIRONMENT}
    return sorted(pair for pair in pairs if not inert_value(pair[1], HOSTILE))


def _tool_line(tool: str) -> str:
    return {"git": "git status", "[": "[ -f x ]", "printf": "printf x", "read": "read l"}.get(
        tool, f"{tool} x"
    )


FORMS = ["{v}={x} {cmd}", "env {v}={x} {cmd}", "export {v}={x}; {cmd}"]
# IFS given to read alone splits only what read reads (S14 lets it pass)
HARMLESS = {("{v}={x} {cmd}", "read", "IFS")}


@pytest.mark.parametrize(
    ("form", "tool", "variable"),
    [(f, t, v) for f in FORMS for t, v in _reviewed() if (f, t, v) not in HARMLESS],
)
def test_a_reviewed_variable_on_its_tool_is_refused(form: str, tool: str, variable: str) -> None:
    line = form.format(v=variable, x=HOSTILE, cmd=_tool_line(tool))
    verdict = analyze(line)
    assert verdict.decision is not Decision.ALLOW, (line, verdict.explanation)
    assert {f.check for f in verdict.findings} & VARIABLE_CHECKS, (line, verdict.explanation)


def test_code_loading_variables_deny() -> None:
    for variable in ("RIPGREP_CONFIG_PATH", "GREP", "AWKPATH", "GIT_TEST_FSMONITOR", "HOME"):
        assert variable in LOADS_CODE or variable.startswith("GIT_")
        verdict = analyze(f"{variable}=./x rg y")
        assert verdict.decision is Decision.DENY, (variable, verdict.explanation)


INERT_LINES = [
    "LC_ALL=C sort f",
    "LC_ALL=C.UTF-8 LANG=en_US.UTF-8 grep -c x f",
    "TZ=UTC date",
    "TZ=Europe/Paris date +%H",
    "COLUMNS=200 ps aux",
    "NO_COLOR=1 rg TODO",
    "TERM=dumb git log --oneline -3",
    "GIT_PAGER=cat git log -1",
    "PAGER=cat git show --stat",
    "GIT_OPTIONAL_LOCKS=0 git status",
    "env LANG=C ls",
    "LS_COLORS= ls --color=auto",
    "x=1; ls",
    'for f in *.py; do wc -l "$f"; done',
    "cd src && ls",
    "FOO=bar; echo $FOO",  # not exported, and no tool reads FOO
    "TZ=UTC; date",
]
NOT_INERT_LINES = [
    "FOO=1 cat f",
    "env FOO=1 cat f",
    "export FOO=1; cat f",
    "set -a; FOO=1; cat f",
    "TZ=/workspace/tz date",
    "TZ=:../../workspace/tz date",
    "LC_ALL=../../workspace/l ls",
    "LANGUAGE=../../../workspace/l ls",
    "COLUMNS=$(cat f) ls",
    "GIT_OPTIONAL_LOCKS=1 git status",
    "GIT_PAGER=less git log",
    "TERM=../x tput cols",
    "POSIXLY_CORRECT=1 sort f",
    "GZIP=-S.x zcat f.gz",
    "MAGIC=./m file f",
    "LANG=$x ls",
    "read LANG < f; ls",
    "for LANG in ../x; do date; done",
    "for TZ in /workspace/x; do date; done",  # TZ may be exported by the session already
]


@pytest.mark.parametrize("line", INERT_LINES)
def test_inert_variables_pass(line: str) -> None:
    verdict = analyze(line)
    assert verdict.decision is Decision.ALLOW, (line, verdict.explanation)


@pytest.mark.parametrize("line", NOT_INERT_LINES)
def test_variables_not_known_inert_ask(line: str) -> None:
    verdict = analyze(line)
    assert verdict.decision is not Decision.ALLOW, (line, verdict.explanation)
    assert {f.check for f in verdict.findings} & VARIABLE_CHECKS, (line, verdict.explanation)


def test_dev_runs_with_the_projects_variables_but_not_code_loading_ones() -> None:
    dev = Policy.load("dev")
    assert analyze("NODE_ENV=test npm test", dev).decision is Decision.ALLOW
    assert analyze("CI=1 make check", dev).decision is Decision.ALLOW
    assert analyze("source .venv/bin/activate && pytest -q", dev).decision is Decision.ALLOW
    assert analyze("LD_PRELOAD=./x.so make", dev).decision is Decision.DENY
    assert analyze("RIPGREP_CONFIG_PATH=x rg y", dev).decision is Decision.DENY


def test_inert_rules() -> None:
    assert all(rule.pattern for rule in INERT.values())
    assert inert_value("LC_ALL", "C") and not inert_value("LC_ALL", "../x")
    assert not inert_value("LC_ALL", None)  # computed at run time: unknown
    assert inert_value("PWD", None)  # cd keeps it up to date
    assert not inert_value("UNLISTED", "1")
    assert judge_variable("UNLISTED", "1", exported=False) is None
    judgement = judge_variable("UNLISTED", "1", exported=True)
    assert judgement is not None and judgement.kind == "not-inert"
