"""Table tests of the read-only knowledge base: each rule with the lines it must refuse
(hostile variants: quoting, attached and detached values, clusters, abbreviations,
`--`, wrappers, `sh -c`) and the look-alikes it must allow.

tests/integration/test_knowledge_tools.py checks the same tables against the real
programs in airlock/dev.
"""

from __future__ import annotations

import shlex

import pytest

from security import Decision, analyze
from security.argv import ends_options
from security.knowledge import READ_ONLY, read_only_problem
from security.knowledge.awk import awk_program_problem, read_awk_argv
from security.knowledge.readonly import VERSION_QUERIES
from security.knowledge.sed import SedSyntax, parse_sed, read_sed_argv, sed_script_refusal
from security.policy import PRESETS

READ_ONLY_POLICY = PRESETS["read-only"]


def allowed(line: str) -> bool:
    return analyze(line, READ_ONLY_POLICY).decision is Decision.ALLOW


def wrapped(line: str) -> list[str]:
    """The line, and the same line run through wrappers and shells."""
    return [line, f"timeout 5 {line}", f"sh -c {shlex.quote(line)}", f"env {line}"]


# --- sed scripts: (script, None | "runs" | "writes" | "unknown"), checked with sed --debug
SED_SCRIPTS: list[tuple[str, str | None]] = [
    # labels end at whitespace or `;`: what follows is a command
    (":a;e id", "runs"),
    (":a ;e id", "runs"),
    (":a e id", "runs"),
    (":a\te id", "runs"),
    ("b a;e id", "runs"),
    ("t x;:x;e id", "runs"),
    ("v;e id", "runs"),
    ("v 4.2;e id", "runs"),
    ("e", "runs"),
    ("e id", "runs"),
    ("1e id", "runs"),
    ("/x/!e id", "runs"),
    ("s/a/b/e", "runs"),
    ("s/a/b/3pe", "runs"),
    ("s/a/b/g e", "runs"),
    ("s/a/b/;s/c/d/e", "runs"),
    ("1{s/a/b/e\n}", "runs"),
    ("s|a|b|e", "runs"),
    ("s/[/]/X/e", "runs"),  # the delimiter inside a bracket expression does not end it
    ("s/[]/]/X/e", "runs"),
    ("s/[[:alpha:]/]/X/e", "runs"),
    ("\\%[%]%e id", "runs"),
    ("a\\\ntext\ne id", "runs"),  # a's text ends at an unescaped newline
    ("y/abc/xyz/;e id", "runs"),
    ("w out", "writes"),
    ("w /dev/stdout", "writes"),
    ("W out", "writes"),
    ("1,5w out", "writes"),
    ("s/a/b/w out", "writes"),
    ("s/a/b/gw out", "writes"),
    ("/x/I,+2!{s/a/b/gw /dev/stdout\n};$p", "writes"),
    ("$!N;w out", "writes"),
    # not read the way sed would: asked
    ("s/a/b", "unknown"),
    ("s/a/b/x", "unknown"),
    ("s/a[/b/c/", "unknown"),
    ("}", "unknown"),
    ("{p", "unknown"),
    ("1{p}p", "unknown"),
    ("1!!p", "unknown"),
    ("k", "unknown"),
    ("-n", "unknown"),
    # read and print only
    ("p", None),
    ("1d", None),
    ("1,10p", None),
    ("$p", None),
    ("0~4p", None),
    ("/^#/d", None),
    ("s/a/b/g", None),
    ("s/a/b/gI", None),
    ("s/a/b/ ", None),
    ("s/\\(a\\)/\\1/", None),
    ("s/x/\\n/", None),
    ("s/[/]/X/", None),
    ("s,[,],X,", None),
    ("\\%x%!d", None),
    ("$!N;P;D", None),
    ("1!G;h;$!d", None),
    ("/start/,/end/p", None),
    ("/a/,/b/{/c/!d}", None),
    ("1{p};p", None),
    ("y/abc/xyz/", None),
    ("y/a\\/b/x\\/y/", None),
    ("a foo; e id", None),  # a's one-line text runs to the end of the line
    ("i\\", None),
    ("c foo", None),
    ("r foo;e id", None),  # r's file name runs to the end of the line
    ("R foo", None),
    ("#n\np", None),
    ("# e id", None),
    (": a;p", None),
    ("l;l 5;q;q5;Q 3", None),
    ("=;F;z;x;h;H;g;G;n;N;D;P", None),
]


@pytest.mark.parametrize(("script", "kind"), SED_SCRIPTS)
def test_sed_script(script: str, kind: str | None) -> None:
    refusal = sed_script_refusal(script)
    assert (refusal[1] if refusal else None) == kind, refusal


@pytest.mark.parametrize(("script", "kind"), [(s, k) for s, k in SED_SCRIPTS if k != "unknown"])
def test_sed_script_lines(script: str, kind: str | None) -> None:
    for line in wrapped(f"sed -n {shlex.quote(script)} f"):
        assert allowed(line) is (kind is None), line


def test_sed_parser_fails_closed() -> None:
    with pytest.raises(SedSyntax):
        parse_sed("s/unterminated")
    assert sed_script_refusal("\x00") is not None


# sed argv: where the script is, and options that edit, load scripts or change parsing
SED_ARGV: list[tuple[str, bool]] = [
    ("sed -n p f", True),
    ("sed -e p -e 1d f", True),
    ("sed --expression=p f", True),
    ("sed --e=p f", True),  # an unambiguous prefix
    ("sed -ne p f", True),
    ("sed -nep f", True),  # -e's value attached, in a cluster
    ("sed -s -n -z -u -E -r p f", True),
    ("sed --debug --sandbox -n p f", True),
    ("sed -l 5 l f", True),
    ("sed -n -- p f", True),
    ("sed -f s.sed f", False),
    ("sed -fs.sed f", False),
    ("sed -nf s.sed f", False),
    ("sed -nfs.sed f", False),
    ("sed --file=s.sed f", False),
    ("sed --fi=s.sed f", False),
    ("sed --file s.sed f", False),
    ("sed -f - f", False),
    ("sed -i p f", False),
    ("sed -ibak p f", False),
    ("sed -ni p f", False),
    ("sed -in p f", False),  # -i with the suffix n
    ("sed --in-place p f", False),
    ("sed --in=.b p f", False),
    ("sed -s -i p f", False),
    ("sed p f -i", False),  # options mix with operands
    ("sed --posix p f", False),
    ("sed --s p f", False),  # ambiguous: silent, separate, sandbox
    ("sed -x p f", False),  # unknown
    ("sed -e p -e 'e id' f", False),
    ("sed -e 'a\\' -e 'e id' f", True),  # the next -e is a's text
    ("sed -n 'w /dev/stdout' f", False),
]


@pytest.mark.parametrize(("line", "ok"), SED_ARGV)
def test_sed_argv(line: str, ok: bool) -> None:
    assert (read_only_problem(shlex.split(line)) is None) is ok
    for each in wrapped(line):
        assert allowed(each) is ok, each


def test_sed_script_operand_index() -> None:
    found, _ = read_sed_argv(["sed", "-n", "-l", "5", "p", "f"])
    assert found is not None and found.script_index == 4


# --- awk programs: refused (True) or read-and-print only (False)
AWK_PROGRAMS: list[tuple[str, bool]] = [
    ('BEGIN{system("id")}', True),
    ('BEGIN { system ( "id" ) }', True),
    ('{print > "/etc/x"}', True),
    ('{print >> "f"}', True),
    ('{printf "%s", $1 > "f"}', True),
    ('{printf("%s\\n", $1) > "f"}', True),
    ('{print | "sh"}', True),
    ('{ "date" | getline d }', True),
    ('BEGIN { print 1 |& "cat" }', True),
    ('{ print "}" > "f" }', True),  # } inside a string
    ('{ print "x" \\\n > "f" }', True),  # a continued line before >
    ('{ print a,\n b > "x" }', True),  # a newline after a comma continues the print
    ('BEGIN{f="system"; @f("id")}', True),  # an indirect call
    ('@load "rwarray"', True),
    ('@include "x.awk"', True),
    ('@namespace "x"', True),
    ('{ a = b / c; print > "x" # / }', True),
    ('{ i++ / 2; print > "f" # / }', True),  # ++ before /: not read, refused
    ("BEGIN { getline / 2 }", True),
    ('{ getline x < "/etc/passwd" }', True),
    ('BEGIN { while ((getline l < "f") > 0) print l }', True),
    ('BEGIN { ARGV[1]="/inet/tcp/0/h/80"; ARGC=2 }', True),
    ('BEGIN { x = "/inet/tcp/0/h/80" }', True),
    ('BEGIN { print ENVIRON["HOME"] }', True),
    ('BEGIN { PROCINFO["sorted_in"]="x" }', True),
    ('BEGIN { SYMTAB["ARGV"][1]="x" }', True),
    ("BEGIN { close(x) }", True),
    ("{ print $1 \\ }", True),  # a backslash that does not end a line
    ('BEGIN { print "unterminated }', True),
    ("{ print é }", True),
    ('BEGIN { awk::system("id") }', True),
    # read and print only
    ("{print $1}", False),
    ("$3 > 100", False),
    ("NR > 1 && $2 >= 3", False),
    ("length > 72", False),
    ("{ print length / 2 }", False),
    ("{ n++ } END { print n / 2 }", False),
    ("{ if (x) /re/; print }", False),  # a regex after if (...)
    ("/[/]/ { print }", False),
    ('{ printf("%s\\n", $1 > 2) }', False),
    ("{ print (a > b) }", False),
    ("{ print a[b > c] }", False),
    ("{ print a\n b > c }", False),  # the newline ends the print: b > c compares
    ("{ while ((getline line) > 0) print line }", False),
    ("{ print $1; fflush() }", False),
    ("{s += $1} END {print s}", False),
    ('{ gsub(/a/, "b"); print }', False),
    ("{ x[$1] += $2 } END { for (k in x) print k, x[k] }", False),
    ("{ print $1 }  # it's a comment", False),
    ('BEGIN { printf "%d items\\n", 3 }', False),
    ('{ print "a > b" }', False),
]


@pytest.mark.parametrize(("program", "refused"), AWK_PROGRAMS)
def test_awk_program(program: str, refused: bool) -> None:
    assert (awk_program_problem(program) is not None) is refused


@pytest.mark.parametrize(("program", "refused"), AWK_PROGRAMS[:12])
def test_awk_program_lines(program: str, refused: bool) -> None:
    for name in ("awk", "gawk", "mawk", "nawk"):
        for line in wrapped(f"{name} {shlex.quote(program)} f"):
            assert allowed(line) is not refused, line


AWK_ARGV: list[tuple[str, bool]] = [
    ("awk '{print}' f", True),
    ("awk -F: '{print $1}' f", True),
    ("awk -F : -v x=1 '{print x}' f", True),
    ("awk -vx=1 '{print x}' f", True),
    ("gawk -e '{print}' f", True),
    ("gawk --source='{print}' f", True),
    ("gawk -M -b -c -P -r -S -t -O -s -n -N '{print}' f", True),
    ("awk -- '{print}' f", True),
    ("awk '{print}' -d f", True),  # after the program: an operand
    ("mawk -F: '{print $1}' f", True),
    ("awk -f p.awk f", False),
    ("awk -fp.awk f", False),
    ("gawk --file=p.awk f", False),
    ("gawk --fil=p.awk f", False),
    ("gawk -E p.awk f", False),
    ("gawk --exec p.awk", False),
    ("gawk -i inplace '{print}' f", False),
    ("gawk -iinplace '{print}' f", False),
    ("gawk --include=inplace '{print}' f", False),
    ("gawk --inc=inplace '{print}' f", False),
    ("gawk -l rwarray '{print}' f", False),
    ("gawk -lrwarray '{print}' f", False),
    ("gawk --load=x '{print}' f", False),
    ("gawk --lo=x '{print}' f", False),
    ("gawk -d '{print}' f", False),
    ("gawk -dout '{print}' f", False),
    ("gawk --dump-variables '{print}' f", False),
    ("gawk --dump '{print}' f", False),
    ("gawk -D '{print}' f", False),
    ("gawk -o '{print}' f", False),
    ("gawk -oout '{print}' f", False),
    ("gawk --pretty-print=out '{print}' f", False),
    ("gawk -p '{print}' f", False),
    ("gawk --profile '{print}' f", False),
    ("gawk --persist '{print}' f", False),
    ("gawk -W exec p.awk", False),
    ("gawk -Wdump-variables '{print}' f", False),
    ("mawk -W exec p.awk", False),
    ("mawk -We p.awk", False),
    ("mawk -W dump '{print}'", False),
    ("gawk --nostalgia '{print}'", False),
    ("awk '{print}' /inet/tcp/0/example.com/80", False),
    ("awk -e '{print}' /inet/tcp/0/example.com/80", False),
]


@pytest.mark.parametrize(("line", "ok"), AWK_ARGV)
def test_awk_argv(line: str, ok: bool) -> None:
    for each in wrapped(line):
        assert allowed(each) is ok, each


def test_awk_program_place() -> None:
    found, _ = read_awk_argv(["gawk", "-F", ":", "-v", "x=1", "{print}", "f"])
    assert found is not None and found.program_index == 5 and found.operands == [6]


# --- the rest of READ_ONLY: (line, allowed), each harmful option in several spellings
READ_ONLY_LINES: list[tuple[str, bool]] = [
    # diff family
    ("diff -u a b", True),
    ("diff -r --from-file=a b c", True),
    ("cmp a b 10 20", True),
    ("diff3 a b c", True),
    ("diff3 --diff-program=./x a b c", False),
    ("diff3 --diff-p=./x a b c", False),
    ("sdiff a b", True),
    ("sdiff -o out a b", False),
    ("sdiff -oout a b", False),
    ("sdiff -so out a b", False),
    ("sdiff --output=out a b", False),
    ("sdiff --out out a b", False),
    ("sdiff --diff-program=./x a b", False),
    ("ptx a b", True),
    ("ptx -G a b", False),
    ("ptx -fG a b", False),
    ("ptx --traditional a b", False),
    ("ptx --trad a b", False),
    # ripgrep
    ("rg -n x src", True),
    ("rg --no-config x", True),
    ("rg --ignore-file .ignore x", True),
    ("rg --pre ./x y", False),
    ("rg --pre=./x y", False),
    ("rg --pre-glob '*' --pre ./x y", False),
    ("rg -z x", False),
    ("rg -nz x", False),
    ("rg --search-zip x", False),
    ("rg --hostname-bin ./x y", False),
    ("rg --hostname-bin=./x y", False),
    # sort, uniq, tail, file, tree, xxd, date, ps
    ("sort -u f", True),
    ("sort --files0-from=list", True),
    ("sort --random-source=f -R f", True),
    ("sort -o out f", False),
    ("sort -uo out f", False),
    ("sort --output=out f", False),
    ("sort --out=out f", False),
    ("sort --compress-program=./x f", False),
    ("sort -T dir f", False),
    ("uniq -c f", True),
    ("uniq in out", False),
    ("tail -n 5 f", True),
    ("tail -f f", False),
    ("tail --follow=name f", False),
    ("file f", True),
    ("file -b --mime-type f", True),
    ("file -C -m x", False),
    ("file --compile -m x", False),
    ("file -p f", False),
    ("file -z f.gz", False),
    ("file --uncompress f.gz", False),
    ("tree -L 2", True),
    ("tree -a -I node_modules", True),
    ("tree -o out", False),
    ("tree -R -H . -L 1", False),
    ("xxd f", True),
    ("xxd -r f", False),
    ("xxd f out", False),
    ("date +%s", True),
    ("date -d yesterday +%F", True),
    ("date 0101", False),
    ("date -s now", False),
    ("date --set=now", False),
    ("date -I 0101", False),
    ("ps aux", True),
    ("ps -eo pid,user,cmd", True),
    ("ps -o user -p 1", True),
    ("ps e", False),
    ("ps auxe", False),
    ("ps axeww", False),
    # new entries
    ("fd -e py src", True),
    ("fdfind -t f -H x", True),
    ("fd -x rm", False),
    ("fd --exec rm", False),
    ("fd -X rm", False),
    ("fd --exec-batch rm", False),
    ("fd -l", False),
    ("iconv -f latin1 -t utf-8 f", True),
    ("iconv -l", True),
    ("iconv -o out f", False),
    ("iconv --output=out f", False),
    ("iconv -cof f", False),
    ("printenv HOME", True),
    ("printenv -0 PATH LANG", True),
    ("printenv", False),
    ("printenv GITHUB_TOKEN", False),
    ("printenv AWS_SECRET_ACCESS_KEY", False),
    ("printenv -- HOME", False),
    ("pip show requests", True),
    ("pip3 show -f requests", True),
    # the session sets PIP_DISABLE_PIP_VERSION_CHECK=1 (SESSION_GUARDS): no index, no cache
    ("pip list", True),
    ("pip freeze", True),
    ("pip list --outdated", False),  # asks the index
    ("pip list --index-url http://x", False),
    ("pip freeze -r requirements.txt", False),
    ("PIP_DISABLE_PIP_VERSION_CHECK=0 pip list", False),
    ("env -i pip freeze", False),
    ("npm ls", True),  # npm_config_update_notifier=false, npm_config_logs_max=0
    ("npm ls --depth=0 --json", True),
    ("npm ls --registry http://x", False),
    ("npm_config_logs_max=5 npm ls", False),
    ("npm install", False),
    ("go env GOPATH GOROOT", True),  # GOTOOLCHAIN=local
    ("go env -w GOFLAGS=-x", False),  # writes go's env file
    ("go build", False),
    ("GOTOOLCHAIN=auto go version", False),
    ("env -i go version", False),
    ("pip show --log out x", False),
    ("pip --python ./x show y", False),
    ("base64 -w0 f", True),
    ("base64 -d f", True),
    ("printf '%s\\n' x", True),
    ("printf -v x y", False),
    ("wait -p PATH", False),
    ("xargs --process-slot-var=BASH_ENV bash -c ls", False),
    ("xargs --process-slot-var BASH_ENV bash -c ls", False),
    ("xargs --proc=BASH_ENV bash -c ls", False),
    ("time -o out ls", False),
    ("env -S 'time -o out' ls", False),
]


@pytest.mark.parametrize(("line", "ok"), READ_ONLY_LINES)
def test_read_only_entry(line: str, ok: bool) -> None:
    assert allowed(line) is ok


# --- version queries: exactly the forms each program takes
VERSIONS: list[tuple[str, bool]] = [
    ("node -v", True),
    ("node --version", True),
    ("java -version", True),
    ("java --version", True),
    ("bash --version", True),
    ("docker --version", True),
    ("docker -v", True),
    ("python3 -V", True),
    ("python3 --version", True),
    ("gcc --version", True),
    ("git --version", True),
    ("git version", True),
    ("pip --version", True),
    ("jq --version", True),
    ("node -v x.js", False),
    ("node -e x", False),
    ("bash --version ./x.sh", False),
    ("docker version", False),  # asks the engine
    ("docker --version; docker ps", False),
    ("go version", True),  # GOTOOLCHAIN=local (a session guard): go.mod cannot switch it
    ("cargo -V", False),  # rustup reads rust-toolchain.toml (a toolchain path)
    ("rustc --version", False),
    ("npm --version", True),  # the session turns npm's log files and update check off
    ("yarn --version", False),  # .yarnrc's yarn-path runs a file of the repository
    ("pnpm --version", False),
    ("php --version", False),  # php.ini from the working directory loads extensions
    ("pytest --version", False),  # conftest.py
    ("./node -v", False),
    ("gcc -V", False),
]


@pytest.mark.parametrize(("line", "ok"), VERSIONS)
def test_version_query(line: str, ok: bool) -> None:
    assert allowed(line) is ok


def test_version_forms_are_exact() -> None:
    for name, forms in VERSION_QUERIES.items():
        assert forms, name
        for form in forms:
            assert read_only_problem([name, *form]) is None
            if name not in READ_ONLY:  # (git version x, jq --version x: read-only anyway)
                assert read_only_problem([name, *form, "x"]) is not None


# --- git: options that write, run programs, and subcommands that write the index
GIT_LINES: list[tuple[str, bool]] = [
    ("git status", True),
    ("git log --oneline -n 20", True),
    ("git log -p -1", True),
    ("git log --format=%h", True),
    ("git show HEAD:path", True),
    ("git diff HEAD~1 --stat", True),
    ("git diff --no-textconv HEAD", True),
    ("git blame -L 1,20 f", True),
    ("git describe --tags", True),
    ("git describe --broken", True),
    ("git cat-file -p HEAD", True),
    ("git grep -n x", True),
    ("git stash list", True),
    ("git stash show -p", True),
    ("git reflog -n 5", True),
    ("git worktree list", True),
    ("git tag -n5 -l 'v*'", True),
    ("git branch -vv", True),
    ("git --help", True),
    ("git config user.name", True),  # one key, nothing after it: a read
    ("git config --global core.pager", True),
    ("git config --type bool core.bare", True),
    ("git config --get-regexp 'alias.*'", True),
    ("git config user.name -l", False),  # sets user.name to "-l"
    ("git config user.name x", False),
    ("git config a.b --get", False),
    ("git config --add a.b c", False),
    ("git config -e", False),
    ("git config core.pager 'sh -c id'", False),
    ("git log -h", True),
    ("git describe --dirty", False),  # refreshes and writes the index (post-index-change)
    ("git describe --dirty=x", False),
    ("git describe --dir", False),
    ("git cat-file --filters HEAD:f", False),  # smudge filters
    ("git cat-file --textconv HEAD:f", False),
    ("git cat-file --text HEAD:f", False),
    ("git log --textconv -p", False),
    ("git show --textconv", False),
    ("git grep --textconv x", False),
    ("git log --show-signature", False),  # gpg.program
    ("git log --show-sig", False),
    ("git log --format=%G?", False),
    ("git log --pretty='format:%h %GS'", False),
    ("git show -s --format=%GK", False),
    ("git log --output=x", False),
    ("git diff --out=x", False),
    ("git log --ext-diff", False),
    ("git grep -O x", False),
    ("git grep -Ovim x", False),
    ("git grep --open-files-in-pager x", False),
    ("git log --help", False),  # man, with the repository's man.<tool>.cmd
    ("git --help log", False),
    ("git status --help", False),
    ("git stash", False),
    ("git stash -p", False),
    ("git stash drop", False),
    ("git reflog expire --all", False),
    ("git reflog delete HEAD@{0}", False),
    ("git worktree add x", False),
    ("git tag -a", False),
    ("git tag -v v1", False),
    ("git tag v2", False),
    ("git --bare log", False),
    ("git -c core.pager=x log", False),
]


@pytest.mark.parametrize(("line", "ok"), GIT_LINES)
def test_git_subcommand(line: str, ok: bool) -> None:
    assert allowed(line) is ok


# --- principle 3: a word only known at run time may be any option, unless after `--`
GLOB_LINES: list[tuple[str, bool]] = [
    # no option of these can write or run: any word is fine
    ("ls -la *", True),
    ("wc -l src/*.py", True),
    ("head -n 20 *.md", True),
    ("du -sh *", True),
    ("cat $f", True),
    ("grep -rn x *", True),
    ("tail -n 5 *.log", True),  # tail's -f only waits
    ("stat *", True),
    ("sha256sum *", True),
    ("jq . *.json", True),
    ("diff * x", True),
    # these have harmful options: a glob may spell them
    ("sort *", False),
    ("sort -u *", False),
    ("sort $f", False),
    ('sort "$f"', False),
    ("sort {-o,x} y", False),
    ("sort -- *", True),
    ("sort -u -- *.txt", True),
    ("git diff *", False),
    ("git diff -- *", True),
    ("git log $x", False),
    ("git show HEAD:$f", False),  # unquoted: splits, and a piece may be --output=...
    ('git show "HEAD:$f"', True),
    ('git log --author="$x"', False),
    ("rg x *", False),
    ("rg x -- *", True),
    ("rg x src/*", True),  # every match starts with src/
    ("sed -n p *", False),
    ("sed -n p -- *", True),
    ("sed -n p src/*", True),
    ("sed src/*", False),  # the script itself from a file name
    ("sed -n $s f", False),
    ("awk '{print}' *", False),
    ("awk '{print}' src/*", True),
    ("awk $p f", False),
    ("file *", False),  # -C writes magic.mgc
    ("file -- *", True),
    ("tree *", False),
    ("uniq *", False),
    ("uniq -- *", False),  # two operands: IN OUT
    ("date +$f", False),
    ('date "+$f"', True),
    ("find * -name x", False),
    ("find . -name $p", False),
    ('find . -name "$p"', True),  # the value of -name
    ("find -- *", False),  # find does not stop at --: the glob may be -delete
    ("find . -exec sed -n 1p {} \\;", True),
    ("find $d -exec sed -n 1p {} \\;", False),
    ("find . -files0-from list -exec sort {} \\;", False),
    ("find . -exec sort {} +", True),  # every path starts with ./
    ("[ * ]", False),  # -v 'a[$(id)]' from file names
    ("[ -f $f ]", False),
    ('[ -n "$x" ]', True),
    ("[ -n $x ]", False),
    # test decides by its number of arguments: a value that stays one word is data
    ('[ -f "$f" ]', True),
    ('[ ! -d "$d" ]', True),
    ('[ "$a" = "$b" ]', True),
    ('[ ! "$a" != -v ]', True),
    ('test "$n" -eq 1', True),  # test converts with strtoimax: no arithmetic
    ('[ "$a" ]', True),
    ('[ -v "$x" ]', False),  # names a variable: its subscript is evaluated
    ('[ -R "$x" ]', False),
    ('[ "$op" "$a" ]', False),  # the operator itself from a value
    ('[ "$a" -a "$b" ]', False),  # more than three: parsed as an expression
    ('[ -n "$@" ]', False),  # one word per positional parameter
    ('[ -f "${a[@]}" ]', False),
    ('[ "${!p@}" = x ]', False),
    ('[ "${x-$@}" ]', False),  # "$@" when x is unset: bash -c '...' _ -v 'a[$(id)]'
    ('test -n "${x:-$@}"', False),
    ('[ "${x:+${a[@]}}" = y ]', False),
    ('[ "${x:-$y}" ]', True),
    ("printf *", False),
    ("printf -- *", False),  # the format from a file name
    ("printf $fmt x", False),
    ("printf -v x '%s' *", False),  # assigns
    ("printf '%s\\n' *.md", True),  # after the format every word is data: `-v` too
    ("printf -- '%s %d' * $n", True),
    ("printf '%s' $(cat f)", True),
    ("ps e*", False),  # ps takes BSD options without a dash: a file named e is `ps e`
    ("ps $opts", False),
    ("printenv $name", False),
    ("pip show $pkg", False),
    ("echo * | xargs sort", False),
    ("ls | xargs sort", False),
    ("ls | xargs wc -l", True),
    ("echo 'rm -f x' | xargs xargs", False),  # the inner xargs runs what the outer appends
    ("echo 'rm -f x' | xargs command", False),
    ("echo 'rm -f x' | xargs env", False),
    ("ls | xargs xargs wc -l", True),
    ("ls | xargs timeout 5 wc -l", True),
    ("timeout 5 sort *", False),
    ("sh -c 'sort *'", False),
    ("env sort *", False),
]


@pytest.mark.parametrize(("line", "ok"), GLOB_LINES)
def test_run_time_words(line: str, ok: bool) -> None:
    assert allowed(line) is ok


def test_any_argument_entries_forbid_nothing() -> None:
    for name, entry in READ_ONLY.items():
        if entry.any_arguments:
            assert not (entry.forbidden_short or entry.forbidden_long or entry.test), name


# A program named by a path is the tool the knowledge base describes only in the image's
# own (read-only) program folders; anywhere else it is the repository's file.
PATH_NAMED = [
    ("/usr/bin/cat x", True),
    ("/bin/ls -la", True),
    ("/usr/local/bin/jq . f", True),
    ("./cat x", False),
    ("tools/ls", False),
    ("/workspace/cat x", False),
    ("/tmp/bin/grep x f", False),
    ("//usr/bin/../../workspace/cat", False),
    ("/usr/bin/../../workspace/cat", False),
    ("/usr/lib/git-core/git status", False),
    ("nice -n 5 ./cat", False),
    ("timeout 1 ./cat", False),
    ("find . -exec ./cat {} +", False),
    ("echo x | xargs ./cat", False),
    ("sh -c './ls'", False),
]


@pytest.mark.parametrize(("line", "allowed"), PATH_NAMED)
def test_a_program_named_by_path_is_the_tool_only_in_system_folders(
    line: str, allowed: bool
) -> None:
    assert (analyze(line).decision is Decision.ALLOW) is allowed, analyze(line).explanation


# Tilde words other than ~ and ~user are $OLDPWD, $PWD or the directory stack, which the
# same line may set from data: they may spell any option (found by a red-team pass).
TILDE_WORDS = [
    ("OLDPWD=-oX; sort ~- a", False),
    ("read OLDPWD < f; sort ~- a", False),
    ("PWD=-oX; sort ~+ a", False),
    ("pushd -n -- -oX >/dev/null; sort ~1 a", False),
    ("OLDPWD=--pre=./x; rg ~- b a", False),
    ("OLDPWD=-delete; find victim ~-", False),
    ("OLDPWD=-odir; sort ~-/a b", False),
    ("sort -- ~- a", True),
    ("sort ~/a b", True),
    ("ls ~", True),
    ("cat ~root/x", True),
]


@pytest.mark.parametrize(("line", "allowed"), TILDE_WORDS)
def test_tilde_words_from_the_directory_stack_may_be_options(line: str, allowed: bool) -> None:
    assert (analyze(line).decision is Decision.ALLOW) is allowed, analyze(line).explanation


@pytest.mark.parametrize(
    ("line", "allowed"),
    [("who", True), ("who -a", True), ("who --lookup", False), ("who --look", False),
     ("last", True), ("last -n 5", True), ("last -d", False), ("last --dns", False),
     ("last -ad", False), ("who *", False), ("last *", False)],
)  # fmt: skip
def test_who_and_last_never_ask_dns(line: str, allowed: bool) -> None:
    """A reverse lookup opens a socket (found by a red-team pass)."""
    assert (analyze(line).decision is Decision.ALLOW) is allowed, analyze(line).explanation


# Found by the 30-minute differential run from hostile fixtures (2026-12-07).
RUN_FINDINGS = [
    ("v=-f; zgrep $v f", False),  # zgrep -f copies a pattern pipe with mktemp, cat, rm
    ("zgrep -if pats x.gz", False),
    ("zgrep --file=pats x.gz", False),
    ("zgrep -e -f x.gz", False),  # -f read as the pattern, refused all the same
    ("zgrep foo docs/notes.gz", True),
    ("zgrep -c foo -- *", True),
    ("echo 1 | xargs bash --version", False),  # runs `bash --version 1`
    ("bash --version", True),
    ("sed p -- -ix", True),  # after --, -ix is a file
    ("sed -n p -- *", True),
    ("sed p x -i", False),  # GNU getopt permutes: -i after an operand counts
    ("sed -ni p x", False),
    ("sed --in-pl p x", False),
    # lsof names every address by DNS unless told -n (a red-team pass)
    ("lsof -i :8080", False),
    ("lsof -p 1", False),
    ("lsof -iTCPn", False),  # an n inside a value is not the option
    ("lsof -n -i :8080", True),
    ("lsof -nP -i :80", True),
    ("git cat-file -p -- *", True),  # after -p --, a file named --filters is an object
]


@pytest.mark.parametrize(
    ("argv", "ok"),
    [
        (["git", "cat-file", "-p", "--", "--filters", "x"], True),
        (["git", "cat-file", "--filters", "x"], False),
        (["git", "log", "-p", "--", "--output=x"], True),
        (["git", "log", "--author", "--", "--output=x"], False),  # --author takes the --
    ],
)
def test_what_ran_is_judged_as_the_line_was(argv: list[str], ok: bool) -> None:
    """The differential oracle judges the argv that ran with `read_only_problem`: after
    a `--` that ends git's options, a file named like an option is not one (found by the
    second 30-minute run: `git cat-file -p -- *` with a file named --filters)."""
    assert (read_only_problem(argv) is None) is ok


@pytest.mark.parametrize(("line", "ok"), RUN_FINDINGS)
def test_findings_of_the_differential_run(line: str, ok: bool) -> None:
    assert allowed(line) is ok


@pytest.mark.parametrize(
    ("line", "allowed"),
    [("lsns", True), ("lsns -l -t mnt", True), ("lsns -o NS,TYPE,PID", True),
     ("lsns -t net -o NS", False), ("lsns -p 1 -J", True), ("lsns -- *", True),
     ("lsns -t net", False), ("lsns -tnet", False), ("lsns --ty=net", False),
     ("lsns --type net", False), ("lsns -o NS,NETNSID", False), ("lsns -o+netnsid", False),
     ("lsns --output=netnsid", False), ("lsns --output-all", False), ("lsns --output-a", False),
     ("lsns *", False), ("lsns -Z", False), ("timeout 5 lsns -t net", False),
     ("echo --output-all | xargs lsns", False)],
)  # fmt: skip
def test_lsns_never_asks_for_the_netnsid_column(line: str, allowed: bool) -> None:
    """The NETNSID column opens a netlink socket (found by a red-team pass)."""
    assert (analyze(line).decision is Decision.ALLOW) is allowed, analyze(line).explanation


# An option that takes a value takes a `--` after it as that value, and getopt reads on:
# the `--` ends nothing (found by a red-team pass: `sort --random-source -- -oX a` wrote
# X, `rg -e -- --pre=./x p a` ran x, `sdiff -I -- --diff-program=./x a b` ran x,
# `ptx -b -- -G in out` wrote out).
DASHDASH_AS_VALUE = [
    ("sort --random-source -- -oX a", False),
    ("sort --random-source -- *", False),
    ("sort -k -- -- -oX", True),  # -k takes the first `--`; the second ends the options
    ("sort --files0-from -- -oX", False),
    ("sort -tx -- *", True),  # -t's value is attached: the `--` ends the options
    ("sort -u -- *", True),
    ("sort -- -oX", True),
    ("rg -e -- --pre=./x p a", False),
    ("rg -e -- --pre ./x p a", False),
    ("rg --regexp -- --search-zip a", False),
    ("sdiff -I -- --diff-program=./x a b", False),
    ("sdiff -I -- -o out a b", False),
    ("diff3 -L -- --diff-program=./x a b c", False),
    ("ptx -b -- -G in out", False),
    ("iconv -f -- -o X a", False),
    ("last -f -- -d", False),
    ("git log --author -- --output=X", False),
    ("git log --grep -- *", False),
    ("git grep -e -- -Osh", False),
    ("rg -n x -- -foo", True),
    ("git log -- README", True),
    ("git diff HEAD -- f", True),
    ("git log -p -- *", True),  # -p never takes a value: the `--` ends the options
    ("git diff --stat -- *", True),
    ("git log --author -- *", False),
    ("git diff -l -- *", False),  # -l<n> also takes a detached number
]


@pytest.mark.parametrize(("line", "ok"), DASHDASH_AS_VALUE)
def test_a_dashdash_that_is_an_options_value_ends_nothing(line: str, ok: bool) -> None:
    assert allowed(line) is ok, analyze(line).explanation


def test_ends_options_reads_values_when_the_table_is_complete() -> None:
    values = ["-k", "-t", "--key", "--random-source"]
    assert ends_options(["-u", "--", "x"], 1, values)
    assert not ends_options(["-u", "--", "x"], 1)  # unknown table: -u may take it
    assert not ends_options(["-uk", "--", "x"], 1, values)
    assert ends_options(["-ku", "--", "x"], 1, values)  # "u" is -k's value
    assert not ends_options(["--rand", "--", "x"], 1, values)  # a prefix of --random-source
    assert ends_options(["--random-source=f", "--", "x"], 1)
    assert ends_options(["f", "--", "x"], 1)
    assert ends_options(["--", "x"], 0)
    assert ends_options(["-k", "--", "--", "x"], 2, values)


# pidof is sysvinit's killall5 (getopt "qhco:d:sxzn"): every usage error goes to syslog,
# a socket (found by a red-team pass: `pidof -o x bash` and `pidof -S , bash` connected
# to /dev/log; the old table took -S and -w from another pidof).
PIDOF_LINES = [
    ("pidof bash", True),
    ("pidof -s -x bash", True),
    ("pidof -o 1 -x bash", True),
    ("pidof -o %PPID,12:34 bash", True),
    ("pidof -d , -n -q -z -c bash", True),
    ("pidof -h", True),
    ("pidof -- bash", True),
    ("pidof -o x bash", False),
    ("pidof -o '' bash", False),
    ("pidof -o 0 bash", False),
    ("pidof -o 1, bash", False),
    ("pidof -o %CPPID bash", False),
    ("pidof bash -o x", False),  # getopt permutes
    ("pidof -S , bash", False),
    ("pidof -w bash", False),
    ("pidof --help", False),
    ("pidof -1", False),
    ("pidof *", False),
]


@pytest.mark.parametrize(("line", "ok"), PIDOF_LINES)
def test_pidof_never_reports_to_syslog(line: str, ok: bool) -> None:
    assert allowed(line) is ok, analyze(line).explanation
