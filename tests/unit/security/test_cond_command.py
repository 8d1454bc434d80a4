"""`[[ ... ]]`: read as the `[ ... ]` it is judged as, and refused where it evaluates.

The premise is checked against bash itself: every line allowed below runs in a real
bash with hostile values and leaves no mark.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from security import Decision, analyze
from security.cond_command import translate

ALLOWED = [
    "[[ -f README.md ]] && echo exists",
    "if [[ -d src ]]; then ls src; fi",
    '[[ -n "$x" ]]',
    "[[ $x == b ]] && echo y",
    "[[ $x == *.py ]]",  # a pattern: never globbed, so never an option
    '[[ "$x" =~ ^a ]]',
    "[[ $x =~ ^(a|b)$ ]] && echo m",
    '[[ ! -d "$HOME/x" ]]',
    "[[ ( -f x ) && ! -e y || $x < b ]]",
    "[[ -f x ]] || [[ -d y ]]",
    'for f in *; do [[ -f $f ]] && echo "$f"; done',
    "[[ 1 -eq 1 ]]",
    "[[ -v x ]]",
    "[[ -f x ]] 2>/dev/null",
    "while [[ -f x ]]; do echo y; done",
    "! [[ -e x ]]",
    "{ [[ -e x ]]; }",
    "( [[ -e x ]] )",
    "echo [[ x ]]",  # an ordinary word where it is not a command
]

REFUSED = [
    "[[ $x -eq 1 ]]",  # [[ evaluates the operands of -eq as arithmetic
    "[[ x -lt 2 ]]",  # a name: its value is evaluated
    "[[ 1 -ge $x ]]",
    "[[ -v $x ]]",  # -v evaluates a subscript
    "[[ -v a[$i] ]]",
    "[[ -R $x ]]",
    "[[ $(touch p) ]]",
    "[[ -n `touch p` ]]",
    "[[ -f <(touch p) ]]",
    "[[ $x =~ $(touch p) ]]",
    "[[ ${!x} ]]",
    "[[ ${x@P} ]]",
    "[[ $x == @(a|b) ]]",
    "[[ -f x ]] && rm -rf ~",
    "[[ -f x ]]; touch y",
    "[[ a ]] > out",
    "echo [[ a && touch p ]]",
    "[[ ${PATH:=/tmp} ]]; ls",
    "[[ -n ${BASH_ENV:=/x} ]]",
    "x=1 [[ -f y ]]",
    "[[ -f x",
    "[[ ]]",
    "[[ -f x\n]]",
    # `]]` ends at any metacharacter: bash closes here and runs what follows
    "[[ a ]]>p && [[ b ]]",
    "bash -c '[[ a ]]>p && touch q || [[ b ]]'",
    "bash -c '[[ a ]]<f && touch q || [[ b ]]'",
    "bash -c '[[ a ]](x) || [[ b ]]'",
]


@pytest.mark.parametrize("line", ALLOWED)
def test_plain_conditionals_are_read_only(line: str) -> None:
    verdict = analyze(line, "read-only")
    assert verdict.decision is Decision.ALLOW, verdict.explanation


@pytest.mark.parametrize("line", REFUSED)
def test_what_a_conditional_evaluates_is_refused(line: str) -> None:
    verdict = analyze(line, "read-only")
    assert verdict.decision is not Decision.ALLOW, verdict.explanation


def test_the_rewrite_keeps_every_position() -> None:
    line = "x=1; [[ -f a && $b == c || ( $d =~ ^(e|f)$ ) ]] && echo y"
    start = line.index("[[")
    rewritten = translate(line, start)
    assert rewritten is not None
    text, close = rewritten
    assert len(text) == len(line)
    assert text == "x=1; [  -f a -a $b == c -o x $d =~ xxxxxxx x  ] && echo y"
    assert text[close] == "]" and line[close - 1 : close + 1] == "]]"


@pytest.mark.parametrize(
    "line", ["[[ $x -eq 1 ]]", "[[ -v $x ]]", "[[ $(id) ]]", "[[ -f x", "[[ a\n]]"]
)
def test_the_rewrite_declines_what_it_does_not_follow(line: str) -> None:
    assert translate(line, 0) is None


# Quoting that a reader of quotes alone gets wrong: bash ends the quoted part later, so
# the reader would take what bash runs (`touch p`) for part of a regex, x it out, and
# bashlex would see one `[` command (the parser differential is then all that stops it).
MISREAD_QUOTES = [
    '[[ a =~ x"\\"\'" ]] || touch p #\' ]]',  # a \" inside "...": the ' is quoted
    "[[ a =~ x($'\\'(') ]] || touch p # ')) ]]",  # $'\'' goes on past its second quote
]


@pytest.mark.parametrize("line", [*MISREAD_QUOTES, "[[ $'\\' ]] && [[ ' ]]"])
def test_the_rewrite_never_hides_what_quotes_leave_outside(line: str) -> None:
    rewritten = translate(line, 0)
    assert rewritten is None or "touch p" in rewritten[0]  # declined, or read as bash does
    assert analyze(line, "read-only").decision is not Decision.ALLOW


# In a shell string the parser differential does not look: the reader alone decides.
SHELL_STRINGS = [
    'bash -c "[[ a =~ x\\"\\\\\\"\'\\" ]] || touch p #\' ]]"',
    "bash <<'EOF'\n" + MISREAD_QUOTES[0] + "\nEOF",
    "bash <<'EOF'\n" + MISREAD_QUOTES[1] + "\nEOF",
    'eval "[[ a =~ x\\"\\\\\\"\'\\" ]] || touch p #\' ]]"',
]


@pytest.mark.parametrize("line", SHELL_STRINGS)
def test_misread_quotes_in_shell_strings_are_not_allowed(line: str) -> None:
    verdict = analyze(line, "read-only")
    assert verdict.decision is not Decision.ALLOW, verdict.explanation


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
@pytest.mark.parametrize("line", MISREAD_QUOTES)
def test_misread_quotes_hide_a_command_from_bash(line: str, tmp_path: Path) -> None:
    """The premise of the test above: bash runs the command the quotes would hide."""
    subprocess.run(["bash", "-c", line], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                   capture_output=True, timeout=30, check=False)  # fmt: skip
    assert (tmp_path / "p").exists()


HOSTILE_VALUES = ["a[$(touch MARK-sub)]", "-v", "*", "$(touch MARK-cmd)", "`touch MARK-bq`"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_allowed_conditionals_evaluate_no_value_in_bash(value: str, tmp_path: Path) -> None:
    """The premise: outside -v and the arithmetic operators, [[ runs nothing a value
    holds. Each allowed line runs with x, f and HOME set to a payload."""
    (tmp_path / "-v").write_text("")
    env = {"PATH": "/usr/bin:/bin", "x": value, "HOME": value, "LC_ALL": "C"}
    for line in ALLOWED:
        script = f'f="$x"\n{line}\n'
        subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                       timeout=30, check=False)  # fmt: skip
        marks = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("MARK"))
        assert marks == [], (line, value)
    # control: the refused arithmetic form does run the payload
    subprocess.run(["bash", "-c", "a=(); [[ $x -eq 1 ]]"], cwd=tmp_path, env=env,
                   capture_output=True, timeout=30, check=False)  # fmt: skip
    if value.startswith("a["):
        assert (tmp_path / "MARK-sub").exists()


TEST_FORMS = [
    '[ -f "$x" ]',
    '[ ! -d "$x" ]',
    '[ "$x" = "$x" ]',
    '[ ! "$x" != -v ]',
    'test "$x" -eq 1',
    '[ "$x" ]',
    '[ ! "$x" ]',
    '[ -t "$x" ]',
]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_test_with_one_word_values_evaluates_none_of_them_in_bash(
    value: str, tmp_path: Path
) -> None:
    """The premise of `[ -f "$x" ]` being read-only: with three arguments or fewer, a
    quoted value is an operand. Each form is allowed, and runs no payload in bash."""
    env = {"PATH": "/usr/bin:/bin", "x": value, "LC_ALL": "C"}
    for line in TEST_FORMS:
        assert analyze(line, "read-only").decision is Decision.ALLOW, line
        subprocess.run(["bash", "-c", f"a=(); {line}"], cwd=tmp_path, env=env,
                       capture_output=True, timeout=30, check=False)  # fmt: skip
        assert not any(p.name.startswith("MARK") for p in tmp_path.iterdir()), (line, value)
