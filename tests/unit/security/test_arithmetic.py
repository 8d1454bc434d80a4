"""Class 3: bash evaluates data as arithmetic or as a variable name (S39).

Each line below, run with ``x`` (or ``$_``, or a file) holding ``b[$(id>p)]``, runs
``id`` in bash 5.2 (tests/integration/test_shell_evidence.py runs a sample of them).
"""

from __future__ import annotations

import pytest

from security import Decision, analyze
from security.checks.arithmetic import constant_expression
from security.wordscan import arithmetic_body, dollar_scan, parse_parameter

EVALUATES = [
    # array subscripts
    "echo ${a[x]}",
    "echo ${a[$x]}",
    'echo "${a[x]}"',
    'echo "${a[ x ]}"',
    'echo "${a["x"]}"',
    "echo ${#a[x]}",
    "echo ${a[x]:-d}",
    "echo ${a[i+x]}",
    "echo ${x[x]}",
    "echo ${a[_]}",
    "echo ${!a[x]}",
    "echo ${a[${b[c]}]}",
    "echo ${y:-${a[x]}}",
    'echo "${y:+${a[x]}}"',
    "cat < ${a[x]}",
    "y=${a[x]} ls",
    "cat <<< ${a[x]}",
    "cat <<EOF\n${a[x]}\nEOF",
    "cat <<EOF\nit's $[x]\nEOF",
    "for i in ${a[x]}; do ls; done",
    "for i in 1; do for j in ${a[x]}; do ls; done; done",
    "a[x]=1",
    "a[$x]=1 ls",
    # substring offsets and lengths
    "echo ${s:x}",
    "echo ${s: x}",
    "echo ${s:0:x}",
    "echo ${s:$x}",
    "echo ${@:x}",
    "echo ${a[@]:x:1}",
    # indirection and prompt expansion
    "echo ${!x}",
    "echo ${!1}",
    "echo ${!x:-d}",
    'for v in HOME "a[$(id)]"; do echo "${!v}"; done',
    'for v in HOME $(cat f); do [ -v "$v" ]; done',
    "echo ${x@P}",
    'echo "${PS1@P}"',
    # names given to builtins
    "test -v 'a[x]'",
    "[ -v 'a[_]' ]",
    'test -v "$x"',
    "echo 'b[$(id)]' >/dev/null; [ -v 'a[_]' ]",
    "read 'a[x]'",
    "read -r 'a[$i]' < f",
    "read -a 'a[x]'",
    'read "$v"',
    "printf -v 'a[x]' v",
    "wait -p 'a[x]'",
    "wait -n -p 'a[x]'",
    "declare 'a[x]=1'",
    "local 'a[x]'",
    "unset 'a[x]'",
    "unset -v 'a[x]'",
    "export 'a[x]=1'",
    "getopts ab 'a[x]'",
    "mapfile -t 'a[x]' < f",
    # arithmetic commands, expansions and attributes
    "let x",
    "let 'y = x + 1'",
    "declare -i n; n=$x",
    "typeset -i z=x",
    "declare -n r=$x",
    "echo $((x))",
    "echo $[x]",
    "((x))",
    "sh -c '((x))'",
    "bash -c 'x=$(cat f); ((x))'",
    "for ((i=x; i<3; i++)); do ls; done",
    "[[ $x -eq 1 ]]",
    "[[ -v a[x] ]]",
    # bash's own integer variables evaluate whatever they are given
    "read OPTIND < f",
    "x=$(cat f); OPTIND=$x",
    "mapfile -t OPTIND < f",
    "for RANDOM in $(cat f); do :; done",
    "x=$(cat f); export OPTIND=$x",
    ": ${HISTCMD:=$x}",
    # wrappers, substitutions, functions, pipelines
    "env echo ${a[x]}",
    "timeout 5 echo ${a[x]}",
    "sh -c 'echo ${a[x]}'",
    "bash -c \"read 'a[x]'\"",
    "echo $(echo ${a[x]})",
    "f() { echo ${a[x]}; }; f",
    "ls | while read l; do echo ${a[l]}; done",
    "( echo ${s:x} )",
    "eval 'echo ${a[x]}'",
    "xargs echo ${!x} < f",
    "find . -exec echo ${a[x]} \\;",
]
PASSES = [
    "echo ${#x}",
    "echo ${x:-default}",
    "echo ${x:=default}",
    "echo ${a[0]}",
    "echo ${a[-1]}",
    "echo ${a[@]} ${a[*]} ${#a[@]}",
    "echo ${!a[@]} ${!pre*} ${!pre@}",
    "echo ${s:1:2} ${s: -1} ${s:(-2)}",
    "echo ${x#*.} ${x%.*} ${x/a/b} ${x^^} ${x,,} ${x@Q}",
    'test -n "$x"',
    "test -v x",
    "[ -v HOME ]",
    '[ "$x" -eq 1 ]',
    "test x -lt 1",
    "i=1; echo ${a[i]}",
    "for i in 0 1 2; do echo ${a[i]}; done",
    "echo '${a[x]}' '$[x]' '${!x}'",
    "echo \\${a[x]}",
    "cat <<'EOF'\n${a[x]} $[x]\nEOF",
    "read -r line < f",
    "read -ra parts <<< 'a b'",
    "( (ls) )",
    'echo $HOME ${HOME} "${PWD}"',
]


@pytest.mark.parametrize("line", EVALUATES)
def test_data_evaluated_as_arithmetic_is_never_allowed(line: str) -> None:
    verdict = analyze(line)
    assert verdict.decision is not Decision.ALLOW, (line, verdict.explanation)


@pytest.mark.parametrize(
    "line",
    [line for line in EVALUATES if "((" not in line and "[[" not in line and "$[" not in line],
)
def test_s39_names_the_evaluation(line: str) -> None:
    """Where bashlex parses the line, S39 itself reports it (not only a parse failure)."""
    assert "S39" in {f.check for f in analyze(line).findings}, line


@pytest.mark.parametrize("line", PASSES)
def test_constant_operands_pass(line: str) -> None:
    assert "S39" not in {f.check for f in analyze(line).findings}, line


def test_s39_is_structural_no_rule_allows_it() -> None:
    from security.checks import REGISTRY

    assert REGISTRY["S39"].structural


def test_parameter_expansions_are_read_like_bash() -> None:
    read = parse_parameter
    assert read("a[x]")[2:5] == ("a", "x", "")
    assert read("!x").prefix == "!" and read("!x*").op == "*"
    assert read("#a[1]")[1:4] == ("#", "a", "1")
    assert read("x:-d").op == ":-" and read("x: -1").op == ":"
    assert read("x@P").op == "@" and read("x@P").operand == "P"
    assert read("x//a/b").op == "//"
    assert read("10:1").name == "10" and read("@:x").name == "@"
    assert read("x.y").op == "?!"  # a bad substitution: never read as harmless


def test_dollar_scan_respects_quotes() -> None:
    def params(raw: str) -> list[str]:
        scan = dollar_scan(raw)
        assert scan is not None
        return [p.body for p in scan.parameters]

    assert params("'${a[x]}'") == []
    assert params('"${a[x]}"') == ["a[x]"]
    assert params("\\${a[x]}") == []
    assert params("$'${a[x]}'") == []
    assert params("${x:-'}'}") == ["x:-'}'"]
    assert params("${x:-${a[y]}}") == ["x:-${a[y]}", "a[y]"]
    assert params("$(echo ${a[x]})") == []  # the parser finds the commands inside
    assert dollar_scan("${") is None
    assert dollar_scan('"${x:-it\'s}"') is None  # quoting inside "${...}" is unsure
    heredoc = dollar_scan("it's ${a[x]} $[y]", heredoc=True)
    assert heredoc is not None and [p.body for p in heredoc.parameters] == ["a[x]"]
    assert [arithmetic_body(a) for a in heredoc.arithmetic] == ["y"]


def test_constant_expressions() -> None:
    constants = frozenset({"i"})
    assert constant_expression("0", constants)
    assert constant_expression(" -1 + 2*(3) ", constants)
    assert constant_expression("i + 1", constants)
    assert constant_expression("$i", constants)
    assert not constant_expression("x", constants)
    assert not constant_expression("_", constants)
    assert not constant_expression("a[0]", constants)
    assert not constant_expression("$(id)", constants)
    assert not constant_expression("", constants)
    assert not constant_expression("16#ff", constants)
