"""Principle 1: every construct that sets, unsets or exports a variable is an assignment.

A table of constructs x protected variables: each line sets one protected variable
one way, and must never be allowed under read-only; where bashlex parses the line,
the variable checks (S14, S15, S16) must name it. Then the bindings one command
makes, construct by construct.
"""

from __future__ import annotations

import pytest

from security import Decision, analyze
from security.analyzer import build_scene
from security.checks.bindings import (
    ALL_NAMES,
    ANY_NAME,
    Binding,
    command_bindings,
    constant_names,
    known_values,
    scene_bindings,
)

# {v} is the variable, {x} a hostile value (a directory or file the repository holds)
CONSTRUCTS = [
    "{v}={x}",
    "{v}={x} ls",
    "{v}+={x}",
    "export {v}={x}",
    "export {v}",
    "declare {v}={x}",
    "declare -x {v}={x}",
    "typeset -gx {v}={x}",
    "readonly {v}={x}",
    "f() {{ local {v}={x}; ls; }}; f",
    "read {v} < f",
    "read -r -a {v} < f",
    "read -d , -r {v} < f",
    "IFS= read -r {v} < f",
    "while read -r {v}; do ls; done < f",
    "mapfile {v} < f",
    "readarray -t {v} < f",
    "getopts ab {v}",
    "printf -v {v} {x}",
    "wait -p {v}",
    "wait -n -p {v}",
    "for {v} in {x}; do ls; done",
    "for {v}; do ls; done",
    ": ${{{v}:={x}}}",
    "echo ${{{v}={x}}}",
    "cat < ${{{v}:={x}}}",
    'n={v}; : "${{!n:={x}}}"; ls',  # the variable n names (a red-team pass)
    'n={v}; echo "${{!n={x}}}"; ls',
    "unset {v}",
    "unset -v {v}",
    "export -n {v}",
    "declare +x {v}",
    "declare -n r={v}; r={x}",
    "let {v}=1",
    "env {v}={x} ls",
    "env -u {v} ls",
    "env --unset={v} ls",
    "exec {{{v}}}<f",
    "sh -c '{v}={x}; ls'",
    "bash -c 'read {v} < f; ls'",
    "eval '{v}={x}'",
    "builtin export {v}={x}",
    "command read {v} < f",
    "trap '{v}={x}' EXIT",
    "timeout 5 env {v}={x} ls",
    "ls | while read {v}; do ls; done",
    "( {v}={x} ); ls",
    "{{ {v}={x}; }}; ls",
    "if true; then {v}={x}; fi",
    "cd /tmp && {v}={x} ls",
    "x=$(cat f) {v}=$x ls",
]
# bashlex cannot parse these: the line is refused as unparseable (S04) at least
UNPARSED = [
    "select {v} in {x}; do ls; done",
    "coproc {v} {{ ls; }}",
    "(( {v} = 1 ))",
    "echo $(( {v} = 1 ))",
    "{v}=({x})",
    "case a in a) {v}={x};; esac",
]
PROTECTED = [
    "IFS",
    "PATH",
    "CDPATH",
    "EXECIGNORE",
    "HOME",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "BASH_ENV",
    "ENV",
    "PS4",
    "PROMPT_COMMAND",
    "GLOBIGNORE",
    "BASHOPTS",
    "SHELLOPTS",
    "BASH_COMPAT",
    "BASH_XTRACEFD",
    "POSIXLY_CORRECT",
    "TMPDIR",
    "HISTFILE",
    "HISTFILESIZE",  # assigning it truncates ~/.history or $HISTFILE (a red-team pass)
    "INPUTRC",
    "MAILPATH",
    "TEXTDOMAIN",
    "TEXTDOMAINDIR",
    "LC_ALL",
    "LC_MESSAGES",
    "LANG",
    "LANGUAGE",
    "LOCPATH",
    "NLSPATH",
    "GCONV_PATH",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OPTIONAL_LOCKS",
    "GIT_TEST_FSMONITOR",
    "GIT_EXTERNAL_DIFF",
    "GIT_CONFIG_GLOBAL",
    "GIT_TRACE",
    "XDG_CONFIG_HOME",
    "RIPGREP_CONFIG_PATH",
    "GREP",
    "AWKPATH",
    "AWKLIBPATH",
    "GAWK_PERSIST_FILE",
    "JQ_LIBRARY_PATH",
    "PAGER",
    "GIT_PAGER",
    "LESSOPEN",
    "PYTHONPATH",
    "PERL5OPT",
]
HOSTILE = "/workspace/.x/../evil"
ENVIRONMENT_CHECKS = {"S14", "S15", "S16"}


def _lines(templates: list[str]) -> list[tuple[str, str]]:
    return [(v, t.format(v=v, x=HOSTILE)) for t in templates for v in PROTECTED]


@pytest.mark.parametrize(("variable", "line"), _lines(CONSTRUCTS))
def test_every_construct_that_sets_a_protected_variable_is_seen(variable: str, line: str) -> None:
    verdict = analyze(line)
    assert verdict.decision is not Decision.ALLOW, (line, verdict.explanation)
    checks = {f.check for f in verdict.findings}
    assert checks & ENVIRONMENT_CHECKS, (line, verdict.explanation)
    named = [f.detail for f in verdict.findings if f.check in ENVIRONMENT_CHECKS]
    assert any(variable in detail or "computed" in detail for detail in named), (line, named)


@pytest.mark.parametrize(("variable", "line"), _lines(UNPARSED))
def test_constructs_bashlex_lacks_are_never_allowed(variable: str, line: str) -> None:
    assert analyze(line).decision is not Decision.ALLOW, line


def _bindings(line: str) -> list[Binding]:
    return scene_bindings(build_scene(line))


def _names(line: str) -> set[str]:
    return {b.name for b in _bindings(line)}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x=1", {"x"}),
        ("a[1]=2 b=3 ls", {"a", "b"}),
        ("read", {"REPLY"}),
        ("read -r -p 'name? ' a b", {"a", "b"}),
        ("read -ra arr", {"arr"}),
        ("read -d '' -a arr", {"arr"}),
        ("mapfile -t -n 3 lines", {"lines"}),
        ("readarray", {"MAPFILE"}),
        ("getopts ab: opt", {"opt", "OPTARG", "OPTIND"}),
        ("printf -v out %s x", {"out"}),
        ("printf -vout %s x", {"out"}),
        ("wait -n -p pid", {"pid"}),
        ("cd src", {"PWD", "OLDPWD"}),
        ("pushd src", {"PWD", "OLDPWD", "DIRSTACK"}),
        ("let 'i += 2' j++ --k", {"i", "j", "k"}),
        ("declare -a list x=1", {"list", "x"}),
        ("declare -f fn", set()),
        ("declare -p HOME", set()),
        ("unset -f fn", set()),
        ("env -i A=1 B=2 ls", {ALL_NAMES, "A", "B"}),
        ("env -u X -C /tmp Y=1 ls", {"X", "Y"}),
        ("env - A=1 ls", {ALL_NAMES, "A"}),
        ("env -iu X Y=1 ls", {ALL_NAMES, "X", "Y"}),
        ("env --unset=X --chdir=/ Y=1 ls", {"X", "Y"}),
        ("env --weird Y=1 ls", {ANY_NAME}),
        ("env * ls", {ANY_NAME}),
        ("env A=1 $x ls", {"A", ANY_NAME}),
        ("source ./x", {ANY_NAME}),
        ('export "$n"=1', {ANY_NAME}),
        ('read "$v"', {ANY_NAME}),
        ("exec {fd}<f", {"fd"}),
        ("echo ${x:-a} ${y:=b} ${z=c}", {"y", "z"}),
        ("for f in a b; do echo $f; done", {"f"}),
        ("sh -c 'for g in *; do :; done'", {"g"}),
    ],
)
def test_bindings_of_each_construct(line: str, expected: set[str]) -> None:
    assert _names(line) == expected


def test_values_are_known_only_when_literal() -> None:
    values = {b.name: b.value for b in _bindings("a=1 b=$x c='q r' d=~/x e=\"$(id)\" ls")}
    assert values == {"a": "1", "b": None, "c": "q r", "d": None, "e": None}
    loop = [b.value for b in _bindings("for i in 1 $x 3; do :; done")]
    assert loop == ["1", None, "3"]


def test_what_is_exported() -> None:
    exported = {b.name: b.exported for b in _bindings("a=1 ls; b=2; export c=3; declare d=4")}
    assert exported == {"a": True, "b": False, "c": True, "d": False}
    # the session's own variables are in the environment already
    assert all(b.exported for b in _bindings("LANG=C; PWD=/x"))
    # set -a exports every assignment after it (and, flow-insensitively, all of them)
    assert all(b.exported for b in _bindings("set -a; b=2; for x in y; do :; done"))
    assert not any(b.exported for b in _bindings("set -e; b=2"))


def test_env_split_string_sets_what_its_string_names() -> None:
    """-S strings are split as coreutils does and read again (unwrap.read_env)."""
    assert _names("env -S 'A=1 ls'") == {"A"}
    assert _names("env -vS'-u B A=1 ls'") == {"A", "B"}
    assert ALL_NAMES in _names("env -iS'git status'")  # -i before -S still empties it
    assert ALL_NAMES in _names("env -S'-i git status'")
    assert ANY_NAME in _names('env -S "$x" ls')  # a string built at run time
    assert ANY_NAME in _names("env -S 'A=${B} ls'")  # env expands ${NAME} itself


def test_removals() -> None:
    removed = {b.name for b in _bindings("unset a; export -n b; declare +x c; env -u d ls")}
    assert removed == {"a", "b", "c", "d"}
    assert all(b.removes for b in _bindings("unset a; export -n b; declare +x c; env -u d ls"))


def test_exec_c_empties_the_environment_like_env_i() -> None:
    """`exec -c git status` ran git without GIT_OPTIONAL_LOCKS=0: it wrote .git/index
    (found by a red-team pass)."""
    for line in ("exec -c git status", "exec -lc git status", "command exec -c ls"):
        assert any(b.name == ALL_NAMES and b.removes for b in _bindings(line)), line
    assert not any(b.name == ALL_NAMES for b in _bindings("exec git status"))
    assert analyze("exec -c git status", "dev").decision is not Decision.ALLOW


def test_nameref_assigns_the_variable_it_names() -> None:
    assert "PATH" in _names("declare -n r=PATH; r=/tmp")
    assert ANY_NAME in _names('declare -n r="$x"; r=/tmp')
    assert ANY_NAME in _names("declare -n r; r=PATH; r=/tmp")


def test_constant_names() -> None:
    assert constant_names(_bindings("i=1; j=2; j=3")) == {"i", "j"}
    assert constant_names(_bindings("i=1; i=$x")) == set()
    assert constant_names(_bindings("for i in 1 2 3; do :; done")) == {"i"}
    assert constant_names(_bindings("for i in $(seq 3); do :; done")) == set()
    assert constant_names(_bindings("read i; i=1")) == set()
    assert constant_names(_bindings("_=1")) == set()  # bash resets $_ after each command
    assert constant_names(_bindings('i=1; export "$n"=2')) == set()


def test_names_that_hold_only_plain_names() -> None:
    assert known_values(_bindings("for v in HOME PATH; do :; done")).names == {"v"}
    assert known_values(_bindings("for v in HOME 'a[1]'; do :; done")).names == set()
    assert known_values(_bindings("v=HOME; read v")).names == set()


def test_a_command_without_bindings_costs_nothing() -> None:
    scene = build_scene("grep -rn TODO src | head")
    assert all(command_bindings(c) == [] for c in scene.commands)
