"""Wrapper option tables: which command a wrapper runs, read as the real getopt reads it.

Each expectation was checked against the program in airlock/dev (coreutils 9.1,
findutils 4.9); tests/integration/test_knowledge_tools.py runs the same tables there.
"""

from __future__ import annotations

import pytest

from security import Decision, analyze
from security.argv import Arg, getopt
from security.policy import PRESETS
from security.shell import parse_line
from security.unwrap import env_split_string, inner_argv

READ_ONLY = PRESETS["read-only"]

# line -> the argv of the command the wrapper runs (None: nothing, or unknowable)
INNER: list[tuple[str, list[str] | None]] = [
    # xargs: -i, -e and -l take only an attached value
    ("xargs -i sh cat", ["sh", "cat"]),
    ("xargs -i{} sh cat {}", ["sh", "cat", "{}"]),
    ("xargs -e sh x", ["sh", "x"]),
    ("xargs -eEOF sh x", ["sh", "x"]),
    ("xargs -l sh x", ["sh", "x"]),
    ("xargs -l5 sh x", ["sh", "x"]),
    ("xargs -0i sh x", ["sh", "x"]),
    ("xargs -ri sh x", ["sh", "x"]),
    ("xargs -ir sh x", ["sh", "x"]),  # -i's value is "r"
    ("xargs -I {} sh x", ["sh", "x"]),
    ("xargs -I{} sh x", ["sh", "x"]),
    ("xargs -E END sh x", ["sh", "x"]),
    ("xargs -n 1 -P 2 sh x", ["sh", "x"]),
    ("xargs -n1 sh x", ["sh", "x"]),
    ("xargs -a f sh x", ["sh", "x"]),
    ("xargs -d , sh x", ["sh", "x"]),
    # long options: unambiguous prefixes, = values, optional values only with =
    ("xargs --repl sh cat", ["sh", "cat"]),
    ("xargs --replace sh cat", ["sh", "cat"]),
    ("xargs --rep Q sh", ["Q", "sh"]),
    ("xargs --replace=Q sh", ["sh"]),
    ("xargs --eof sh x", ["sh", "x"]),
    ("xargs --eof=E sh x", ["sh", "x"]),
    ("xargs --max-lines sh x", ["sh", "x"]),
    ("xargs --max-args 1 sh x", ["sh", "x"]),
    ("xargs --max-a=1 sh x", ["sh", "x"]),
    ("xargs --nu sh x", ["sh", "x"]),
    ("xargs --no sh x", ["sh", "x"]),  # --no-run-if-empty
    ("xargs --arg-file f sh x", ["sh", "x"]),
    ("xargs -- sh x", ["sh", "x"]),
    ("xargs sh -i x", ["sh", "-i", "x"]),  # options end at the command (`+`)
    # env
    ("env sh x", ["sh", "x"]),
    ("env -i sh x", ["sh", "x"]),
    ("env - sh x", ["sh", "x"]),
    ("env -u X sh", ["sh"]),
    ("env -uX sh", ["sh"]),
    ("env --unset X sh", ["sh"]),
    ("env --u=X sh", ["sh"]),
    ("env -C / sh", ["sh"]),
    ("env --ch / sh", ["sh"]),
    ("env A=1 B=2 sh", ["sh"]),
    ("env -i A=1 sh", ["sh"]),
    ("env 'LANG=C' sh", ["sh"]),  # an assignment however it is quoted
    ('env "A=$x" sh', ["sh"]),
    ("env --block-signal sh", ["sh"]),
    ("env --block-signal=PIPE sh", ["sh"]),
    ("env --block-signal PIPE sh", ["PIPE", "sh"]),
    ("env -- sh", ["sh"]),
    ("env sh -i", ["sh", "-i"]),
    # env -S: split, then read again, options and the operands after it included
    ("env -S 'a b' c d", ["a", "b", "c", "d"]),
    ("env -S'a b' c", ["a", "b", "c"]),
    ("env -iS'a b' c", ["a", "b", "c"]),
    ("env -vS'a b' c", ["a", "b", "c"]),
    ("env --split-string='a b' c", ["a", "b", "c"]),
    ("env --split-string 'a b' c", ["a", "b", "c"]),
    ("env --sp='a b' c", ["a", "b", "c"]),
    ("env -S'-i a' b", ["a", "b"]),
    ("env -S'-u X a' b", ["a", "b"]),
    ("env -S'A=1 a' b", ["a", "b"]),
    ("env -S'-S\"a b\" c' d", ["a", "b", "c", "d"]),
    ("env -S'a' -i b", ["a", "-i", "b"]),
    ("env -S'a' -S b", ["a", "-S", "b"]),
    ("env -S'' a", ["a"]),
    ("env -S'a #b c' d", ["a", "d"]),
    ("env -S'a\\_b' c", ["a", "b", "c"]),
    ("env -S'a\\cb c' d", ["a", "d"]),
    # timeout, nice, stdbuf, command, exec
    ("timeout 5 sh x", ["sh", "x"]),
    ("timeout -k1 5 sh x", ["sh", "x"]),
    ("timeout -k 1 5 sh x", ["sh", "x"]),
    ("timeout -vk 1 5 sh x", ["sh", "x"]),
    ("timeout -sKILL 5 sh", ["sh"]),
    ("timeout --sig=KILL 5 sh", ["sh"]),
    ("timeout --signal KILL 5 sh", ["sh"]),
    ("timeout --pre 5 sh", ["sh"]),
    ("timeout --f 5 sh", ["sh"]),
    ("timeout 5 sh -s x", ["sh", "-s", "x"]),
    ("nice sh", ["sh"]),
    ("nice -5 sh", ["sh"]),
    ("nice --5 sh", ["sh"]),
    ("nice -n 5 sh", ["sh"]),
    ("nice -n5 sh", ["sh"]),
    ("nice --adj=5 sh", ["sh"]),
    ("nice sh -n 5", ["sh", "-n", "5"]),
    ("stdbuf -oL sh", ["sh"]),
    ("stdbuf -o L -e 0 sh", ["sh"]),
    ("stdbuf --o=L sh", ["sh"]),
    ("command sh x", ["sh", "x"]),
    ("command -p sh x", ["sh", "x"]),
    ("command -- sh x", ["sh", "x"]),
    ("exec sh", ["sh"]),
    ("exec -a name sh", ["sh"]),
    ("exec -aname sh", ["sh"]),
    ("exec -cl sh", ["sh"]),
    ("builtin echo x", ["echo", "x"]),
    # nothing runs
    ("command -v sh", None),
    ("command -pv sh", None),
    ("command -V sh", None),
    ("timeout --help", None),
    ("xargs --help sh", None),
    ("xargs --vers sh", None),
    ("env", None),
    ("env A=1", None),
]


def _inner(line: str) -> list[str] | None:
    command = parse_line(line).commands[0]
    words, _ = inner_argv(command)
    return None if words is None else [w.value for w in words]


@pytest.mark.parametrize(("line", "expected"), INNER)
def test_wrapper_runs(line: str, expected: list[str] | None) -> None:
    assert _inner(line) == expected


# Wrapper lines whose command cannot be known: an option the table does not know, an
# ambiguous prefix, a missing value, a word only known at run time (S19).
UNKNOWABLE = [
    "xargs --max 1 sh",  # ambiguous: --max-lines --max-args --max-chars --max-procs
    "xargs -h sh",  # no such option in findutils 4.9
    "xargs --frobnicate sh",
    "xargs -n",
    "timeout --v 5 sh",  # --verbose or --version
    "timeout --odd 5 sh",
    "env --weird sh",
    "env --de sh",  # --debug or --default-signal
    "env --debug=x sh",  # takes no value
    "env -S'a ${HOME}' b",  # expanded from the environment
    "env -S'a $HOME' b",
    "env -S'a \\q' b",  # env rejects it
    "env -S'\"a\\cb\"' c",
    'env -S"$X" a',
    "timeout $t sh",
    'timeout "$t" sh',
    "timeout 5 $x",
    "xargs $opt sh",
    "env A=$x sh",
    'env "$a" sh',  # an assignment or the command
    "nice -n 5 -3 sh",
]


@pytest.mark.parametrize("line", UNKNOWABLE)
def test_wrapper_command_is_unknowable(line: str) -> None:
    verdict = analyze(line, READ_ONLY)
    assert verdict.decision is not Decision.ALLOW
    command = parse_line(line).commands[0]
    words, problem = inner_argv(command)
    assert words is None or not all(w.literal for w in words) or problem, (words, problem)
    if words is None:
        assert problem, line
        assert "S19" in {f.check for f in verdict.findings}


# env -S strings and the words coreutils 9.1 makes of them (checked with printf '[%s]')
ENV_SPLITS: list[tuple[str, list[str]]] = [
    ("a b", ["a", "b"]),
    ("  a\tb\nc  ", ["a", "b", "c"]),
    ("a\\_b", ["a", "b"]),
    ('"c\\_d"', ["c d"]),
    ("e\\tf", ["e\tf"]),
    ("a\\vb\\fc\\rd\\ne", ["a\vb\fc\rd\ne"]),
    ("a#b #c d", ["a#b"]),
    ("\\#a \\$b", ["#a", "$b"]),
    ('"x\ny"', ["x\ny"]),
    ("'p\"q'", ['p"q']),
    ("'a\\\\b\\x'", ["a\\b\\x"]),
    ('"a\\"b"', ['a"b']),
    ('"" x', ["", "x"]),
    ('a"b c"d', ["ab cd"]),
    ("a\\cb c", ["a"]),
    ("'$x'", ["$x"]),
]


@pytest.mark.parametrize(("text", "expected"), ENV_SPLITS)
def test_env_split_string(text: str, expected: list[str]) -> None:
    assert env_split_string(text) == (expected, None)


@pytest.mark.parametrize("text", ["a $X", "${X}", "a\\q", '"a\\cb"', "'open", '"open'])
def test_env_split_string_refuses(text: str) -> None:
    assert env_split_string(text)[1] is not None


# The getopt model itself, on xargs's table.
XARGS = getopt("+0a:e::i::I:n:", "null arg-file= eof[=] replace[=] max-lines[=] max-args=")


@pytest.mark.parametrize(
    ("args", "options", "stop"),
    [
        (["-i", "x"], [("-i", None)], 1),
        (["-ix", "y"], [("-i", "x")], 1),
        (["-0ix", "y"], [("-0", None), ("-i", "x")], 1),
        (["-I", "x", "y"], [("-I", "x")], 2),
        (["-n1", "y"], [("-n", "1")], 1),
        (["--repl", "y"], [("--replace", None)], 1),
        (["--repl=Q", "y"], [("--replace", "Q")], 1),
        (["--arg", "f", "y"], [("--arg-file", "f")], 2),
        (["--max-a=1", "y"], [("--max-args", "1")], 1),
        (["--", "-i"], [], 1),
        (["y", "-i"], [], 0),
        (["-", "y"], [], 0),
    ],
)
def test_getopt_reads_like_glibc(
    args: list[str], options: list[tuple[str, str | None]], stop: int
) -> None:
    parsed = XARGS.parse(args)
    assert parsed.error is None
    assert [(o.name, o.value) for o in parsed.options] == options
    assert parsed.stop == stop


@pytest.mark.parametrize("args", [["--max", "1"], ["-q"], ["-I"], ["--null=x"], ["--zzz"]])
def test_getopt_errors_on_what_glibc_rejects(args: list[str]) -> None:
    assert XARGS.parse(args).error


def test_getopt_permutes_unless_plus() -> None:
    permuting = getopt("o:", "output=")
    parsed = permuting.parse(["a", "-o", "x", "b", "--out=y"])
    assert [(o.name, o.value) for o in parsed.options] == [("-o", "x"), ("--output", "y")]
    assert parsed.operands == [0, 3]
    assert getopt("+o:").short == {"o": Arg.REQUIRED}


# Whole lines: what the wrapper runs is judged, so a read-only wrapper of a writer asks.
@pytest.mark.parametrize(
    "line",
    [
        "echo x | xargs -i sh cat",
        "echo x | xargs -e sh cat",
        "echo x | xargs -l sh cat",
        "echo x | xargs --repl sh cat",
        "env -S 'sh -c' 'rm x'",
        "env -S'-i sh' x",
        "env -S 'ls' -- ; rm x",
        "env -S'rm -f' x",
        "timeout -k1 5 rm x",
        "nice --adj=5 rm x",
        "xargs --process-slot-var=BASH_ENV bash -c ls",
        # an -S string's NAME=VALUE words are assignments of the command it runs
        "env -S'PATH=/tmp/evil ls' x",
        "env -S'LD_PRELOAD=/tmp/x.so ls'",
        "env -S'BASH_ENV=x bash -c ls'",
        "env -S'GIT_OPTIONAL_LOCKS=1 git status'",
        "env -S'-u GIT_OPTIONAL_LOCKS git status'",
        "env -S'-i git status'",
    ],
)
def test_wrapped_writers_are_not_allowed(line: str) -> None:
    assert analyze(line, READ_ONLY).decision is not Decision.ALLOW


@pytest.mark.parametrize(
    "line",
    [
        "ls | xargs -I{} wc -l {}",
        "ls | xargs -0 -n1 wc -l",
        "ls | xargs -l wc -l",
        "env -S'ls -l' src",
        "timeout 5 git status",
        "timeout -s KILL 10 ls",
        "nice -n 5 ls",
        "stdbuf -oL grep x f",
        "command -v python3",
        "env -S'LANG=C ls'",
    ],
)
def test_wrapped_readers_are_allowed(line: str) -> None:
    assert analyze(line, READ_ONLY).decision is Decision.ALLOW


# find -exec puts the path in place of every {} and xargs -I R (-i, --replace) puts the
# input line in place of R, inside a word too: code holding one is built at run time
# (found by a red-team pass: `find . -exec sh -c 'echo {}' \;` ran a file named
# `$(touch x)` as shell code, and `xargs -a f -I{} sh -c 'echo {}'` ran f's line).
PLACEHOLDER_IN_CODE = [
    "find . -exec sh -c 'echo {}' \\;",
    "find . -name '*' -exec bash -c 'echo {}' \\;",
    "find . -execdir sh -c 'cat \"{}\"' \\;",
    "find . -exec sh -c \"wc -l '{}'\" \\;",
    "find . -exec timeout 5 sh -c 'echo {}' \\;",
    "find . -exec env sh -c 'echo {}' \\;",
    "find . -exec nice -n 5 bash -c 'echo x{}x' \\;",
    "find . -exec env -S'{}' \\;",
    "xargs -a f -I{} sh -c 'echo {}'",
    "xargs -a f -I {} bash -c 'echo {}'",
    "xargs -a f -i sh -c 'echo {}'",
    "xargs -a f -iX sh -c 'echo X'",
    "xargs -a f --replace sh -c 'echo {}'",
    "xargs -a f --repl=@ sh -c 'echo @'",
    "xargs -a f -Iech sh -c 'echo hi'",  # the replace string inside a word of the code
    "xargs -a f -I{} timeout 5 sh -c 'echo {}'",
    "xargs -a f -I{} env sh -c 'echo {}'",
    "cat f | xargs -I{} sh -c 'echo {}'",
    "xargs -a f -I{} timeout {} ls",  # an option of the wrapper it runs
]


@pytest.mark.parametrize("line", PLACEHOLDER_IN_CODE)
def test_a_placeholder_makes_its_word_run_time_data(line: str) -> None:
    verdict = analyze(line, READ_ONLY)
    assert verdict.decision is not Decision.ALLOW, verdict.explanation


# xargs appends its input to the innermost command of a wrapper chain, and find's paths
# reach it the same way: `xargs -a f timeout 5 sort` ran `sort -oX` (a red-team pass).
FED_THROUGH_WRAPPERS = [
    "xargs -a f timeout 5 sort",
    "echo -oX | xargs nice sort",
    "echo -oX | xargs env sort",
    "echo -oX | xargs stdbuf -oL sort",
    "echo -oX | xargs command sort",
    "echo -oX | xargs timeout 5 nice env sort",
    "echo --output=X | xargs nice git log",
    "echo -f | xargs nice tail",
    "xargs -a f -I{} timeout 5 sort {}",
    "find -files0-from f -exec timeout 5 sort {} \\;",
    "find -files0-from f -exec nice env sort {} \\;",
]


@pytest.mark.parametrize("line", FED_THROUGH_WRAPPERS)
def test_words_xargs_and_find_add_reach_the_innermost_command(line: str) -> None:
    verdict = analyze(line, READ_ONLY)
    assert verdict.decision is not Decision.ALLOW, verdict.explanation


@pytest.mark.parametrize(
    "line",
    [
        "find . -exec sh -c 'wc -l \"$1\"' _ {} \\;",
        "find . -name '*.py' -exec grep -n TODO {} +",
        "find . -exec timeout 5 sort {} \\;",  # paths under `.`: never an option
        "find src -exec nice wc -l {} +",
        "ls | xargs -I{} wc -l {}",
        "xargs -a f -I{} grep -n {} notes.txt",
        "xargs -a f timeout 5 cat",
        "git ls-files -z | xargs -0 nice wc -l",
        "xargs -a f -Il ls",  # xargs never replaces inside the command name
    ],
)
def test_placeholders_and_wrapper_chains_keep_ordinary_reading(line: str) -> None:
    verdict = analyze(line, READ_ONLY)
    assert verdict.decision is Decision.ALLOW, verdict.explanation


# bash's exec -a NAME and -l run a program under another name, and multi-call programs act
# by it: `exec -a pkill pgrep x` killed processes and `exec -l pidof` ran killall5, which
# signals every process; -c drops the session's guards (found by a red-team pass).
EXEC_OPTIONS = [
    "exec -a pkill pgrep sleep",
    "exec -apkill pgrep sleep",
    "exec -l pidof",
    "exec -la x pidof",
    "exec -a killall5 pidof",
    "exec -c git status",
    "exec -cl git status",
    "command exec -a pkill pgrep x",
    "timeout 5 bash -c 'exec -a pkill pgrep x'",
    "echo x | xargs bash -c 'exec -l pidof'",
]


@pytest.mark.parametrize("line", EXEC_OPTIONS)
def test_exec_that_renames_or_empties_is_not_read_only(line: str) -> None:
    verdict = analyze(line, READ_ONLY)
    assert verdict.decision is not Decision.ALLOW, verdict.explanation


@pytest.mark.parametrize("line", ["exec ls", "exec -- git status", "exec pidof bash"])
def test_plain_exec_stays_read_only(line: str) -> None:
    assert analyze(line, READ_ONLY).decision is Decision.ALLOW


# A shell started with -k (keyword) moves every NAME=VALUE argument into the command's
# environment, and -a (allexport) exports every assignment: `bash -k -c 'rg x a
# RIPGREP_CONFIG_PATH=cfg'` ran the --pre program of cfg (found by a red-team pass).
@pytest.mark.parametrize(
    "line",
    [
        "bash -k -c 'rg x a RIPGREP_CONFIG_PATH=cfg'",
        "bash -k -c 'zgrep x a GREP=./evil'",
        "sh -k -c 'ls LD_PRELOAD=./x.so'",
        "bash -ek -c 'ls'",
        "bash -kc 'ls LD_PRELOAD=./x.so'",
        "bash -a -c 'X=1; ls'",
        "bash -xa -c 'X=1; ls'",
        "timeout 5 bash -k -c 'ls'",
    ],
)
def test_a_shell_that_exports_assignments_is_not_proven(line: str) -> None:
    assert analyze(line, READ_ONLY).decision is not Decision.ALLOW


@pytest.mark.parametrize("line", ["bash -c 'ls -la'", "bash -e -c 'git status'", "sh -xc ls"])
def test_ordinary_shell_options_pass(line: str) -> None:
    assert analyze(line, READ_ONLY).decision is Decision.ALLOW
