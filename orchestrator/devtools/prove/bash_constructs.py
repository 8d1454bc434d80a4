"""Tables of bash constructs that turn a read-only looking line into a write or an exec.

Used by the grammar (`orchestrator.devtools.prove.generate`) and the hypothesis strategies
(`orchestrator.devtools.prove.strategies`). Placeholders: ``@cmd@`` an ordinary read-only
command, ``@file@`` a file a reopen would overwrite, ``@n@`` a descriptor number,
``@data@`` a file of the hostile fixtures whose content is a payload, ``@v@`` a variable
name, ``@name@`` a protected variable and ``@value@`` its value. Each table is a family
of forms bash documents (REDIRECTION, ARITHMETIC EVALUATION, Parameter Expansion, the
builtins that assign), not a list of known attacks.
"""

from __future__ import annotations

# Commands that only print, the body of a reopen.
PRINTERS = ("echo x", "printf x", "cat notes.txt", "true", ":", "ls", "echo", "pwd", "date")
# Files whose loss or change matters: a reopen for writing truncates or appends to them.
PRECIOUS = (
    ".git/config",
    ".git/HEAD",
    ".git/index",
    "notes.txt",
    "src/app.py",
    ".gitattributes",
    "README.md",
    ".git/hooks/post-checkout",
)
DESCRIPTORS = ("3", "4", "5", "9")

# Redirections that open a file for reading on a descriptor, then open that descriptor's
# file again through /dev/std*, /dev/fd/N or /proc/self/fd/N, for writing (>, >>, >|, &>).
REOPENS = (
    "@cmd@ 1<@file@ >/dev/stdout",
    "@cmd@ 1<@file@ >>/dev/stdout",
    "@cmd@ 1<@file@ >|/dev/stdout",
    "@cmd@ 2<@file@ 2>/dev/stderr",
    "@cmd@ 2<@file@ 2>>/dev/stderr",
    "@cmd@ 0<@file@ >/dev/stdin",
    "@cmd@ @n@<@file@ >/dev/fd/@n@",
    "@cmd@ @n@<@file@ >>/dev/fd/@n@",
    "@cmd@ @n@<@file@ >/proc/self/fd/@n@",
    "@cmd@ @n@<@file@ >>/proc/self/fd/@n@",
    "@cmd@ @n@<@file@ &>/dev/fd/@n@",
    "@cmd@ @n@<@file@ >/proc/$$/fd/@n@",
    "@cmd@ @n@<@file@ >/proc/thread-self/fd/@n@",
    "@cmd@ 1<@file@ >/proc/self/fd/1",
    "exec @n@<@file@; @cmd@ >/dev/fd/@n@",
    "exec @n@<@file@; @cmd@ >>/proc/self/fd/@n@",
    "exec 1<@file@; @cmd@ >/dev/stdout",
    "exec 2<@file@; @cmd@ 2>/dev/stderr",
    "exec {fd}<@file@; @cmd@ >/dev/fd/$fd",
    "exec {fd}<@file@; @cmd@ >>/dev/fd/${fd}",
    "{ @cmd@ >/dev/fd/@n@; } @n@<@file@",
    "( @cmd@ >/dev/stdout ) 1<@file@",
    "@cmd@ >/dev/stdout 1<@file@",
    "while false; do :; done 1<@file@ >/dev/stdout",
    "@cmd@ @n@<@file@ 1>&@n@ >/dev/stdout",
    "@cmd@ @n@< @file@ > /dev/fd/@n@",
    "cat /dev/null 1<@file@ >/dev/stdout",
    "@cmd@ <@file@ >/dev/stdin",
)

# Ways a value read from the repository ends up in a variable.
DATA_SOURCES = (
    "read -r @v@ < @data@",
    "IFS= read -r @v@ < @data@",
    "@v@=$(cat @data@)",
    "@v@=$(< @data@)",
    "@v@=$(head -n1 @data@)",
    'read -r @v@ <<< "$(cat @data@)"',
    "mapfile -t @v@ < @data@",
    "readarray -t @v@ < @data@",
    "@v@=$(jq -r .name hostile.json)",
    "@v@=$(git log -1 --format=%s)",
    "@v@=$(ls | grep -F '$(')",
    "for @v@ in $(cat @data@); do :; done",
    'printf -v @v@ %s "$(cat @data@)"',
    "while read -r @v@; do break; done < @data@",
    "@v@=$(sed -n 1p @data@)",
    "@v@=$(grep -h . @data@)",
    "@v@=`cat @data@`",
    "@v@=$(git show HEAD~2:payload.txt)",
    "@v@=(*)",
)

# Places where bash evaluates a value as arithmetic (and so runs the $(...) in a
# subscript it holds), or expands it again: subscripts, offsets, indirection, prompts.
ARITHMETIC_SINKS = (
    "echo ${a[$@v@]}",
    "echo ${a[@v@]}",
    'echo "${a[$@v@]}"',
    'test -v "a[$@v@]"',
    "test -v 'a[@v@]'",
    '[ -v "a[$@v@]" ]',
    "[ -v 'a[@v@]' ]",
    "[[ -v a[@v@] ]]",
    '[[ -v "a[$@v@]" ]]',
    "s=abc; echo ${s:$@v@}",
    "s=abc; echo ${s:@v@:1}",
    "echo ${!@v@}",
    'echo "${@v@@P}"',
    "read 'a[@v@]' <<< 1",
    'read "a[$@v@]" <<< 1',
    "(( @v@ ))",
    "(( a[@v@] ))",
    "echo $(( @v@ ))",
    "echo $(( $@v@ ))",
    "let @v@",
    "let 'n=@v@+1'",
    "declare -i n=@v@",
    'declare -i n="$@v@"',
    "printf -v 'a[@v@]' %s 1",
    "[[ @v@ -eq 1 ]]",
    "[[ $@v@ -lt 2 ]]",
    "echo ${#a[@v@]}",
    "unset 'a[@v@]'",
    "for ((i=@v@; i<1; i++)); do :; done",
    "echo $[@v@]",
    "declare -n r=@v@; echo $r",
    "echo ${a[@]:@v@}",
    "echo ${@v@[@]:@v@}",
    "local -i n=@v@",
    "echo \"$@v@\" >/dev/null; [ -v 'a[_]' ]",
    ': "$@v@"; echo $(( _ ))',
    'true "$@v@"; echo ${a[_]}',
    "echo ${@v@:-x} >/dev/null; test -v 'a[_]'",
    "x=$@v@; echo $(( x ))",
    "shift $@v@",
    "echo ${@v@:0:@v@}",
    "printf '%s' \"${a[$@v@]-}\"",
    "case x in ${a[$@v@]}) ;; esac",
    '[ "$@v@" -eq 1 ]',
    'test "$@v@" -gt 0',
    "[[ $@v@ == 1 ]]",
    '[[ -n "$@v@" && $@v@ != x ]]',
    "[[ $@v@ =~ ^a(b|c)$ ]]",
    "[[ -f $@v@ || $@v@ == *.py ]]",
    "[[ ( $@v@ < b ) ]]",
    "[[ -v @v@ ]]",
    "[[ 1 -eq 1 && $@v@ ]]",
    "echo ${@v@@Q}",
    'eval echo "$@v@"',
)

# Every builtin and expansion that assigns or unsets a variable.
ASSIGNERS = (
    "@name@=@value@",
    "export @name@=@value@",
    "declare @name@=@value@",
    "typeset @name@=@value@",
    "declare -x @name@=@value@",
    "readonly @name@=@value@",
    "declare -g @name@=@value@",
    "f() { local @name@=@value@; @cmd@; }; f",
    "read -r @name@ <<< @value@",
    "mapfile -t @name@ <<< @value@",
    "readarray @name@ <<< @value@",
    "printf -v @name@ %s @value@",
    "getopts a: @name@ -a @value@",
    "for @name@ in @value@; do @cmd@; done",
    "select @name@ in @value@; do break; done <<< 1",
    ": ${@name@:=@value@}",
    ": ${@name@=@value@}",
    "echo ${@name@:=@value@} >/dev/null",
    "coproc @name@ { true; }",
    "unset @name@",
    "unset -v @name@",
    "export -n @name@",
    "declare -n r=@name@; r=@value@",
    "declare +x @name@",
    "@name@+=@value@",
    "IFS=: read -r @name@ <<< @value@",
    "let @name@=1",
    "(( @name@=1 ))",
    "export @name@",
    "set -- @value@; @name@=$1",
    "set -a; @name@=@value@",
    "read -a @name@ <<< @value@",
    "printf -v '@name@' %s @value@",
    "declare -A @name@",
    "declare -l @name@=@value@",
    "typeset -x @name@=@value@",
    "f() { declare -g @name@=@value@; }; f",
    "local @name@=@value@",
    "env @name@=@value@ @cmd@",
    "@name@=@value@ @cmd@",
    "command export @name@=@value@",
)

# Variables that change how commands are found, how git reads config and locks, how
# strings are translated or expanded, where tools write: their values, and commands
# whose behaviour they change.
PROTECTED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "PATH": (
        (".:/usr/bin:/bin", ".", "tools:/usr/bin:/bin", "/workspace"),
        ("ls", "cat notes.txt", "sort notes.txt", "id", "head -1 notes.txt"),
    ),
    "IFS": (("/", "-", "a", "."), ("cat $HOME", "ls $PWD", "echo $PATH")),
    "LD_PRELOAD": (("/workspace/lib.so", "lib"), ("ls",)),
    "LD_LIBRARY_PATH": ((".", "/workspace"), ("ls",)),
    "BASH_ENV": (("tools/run", "/workspace/tools/run", "cat"), ("bash -c ls", "bash -c true")),
    "ENV": (("tools/run", "cat"), ("sh -c ls", "bash --posix -c true")),
    "PS4": (("'$(tools/run)'", "'`tools/run`'"), ("set -x; ls", "bash -xc ls")),
    "SHELLOPTS": (("xtrace", "xtrace:posix"), ("bash -c ls",)),
    "BASHOPTS": (("extdebug",), ("bash -c ls",)),
    "BASH_XTRACEFD": (("1", "3"), ("set -x; ls",)),
    "GIT_DIR": (("sub", "vendor/lib.git", ".git"), ("git status", "git log -p -1")),
    "GIT_WORK_TREE": (("/workspace", "."), ("git status",)),
    "GIT_CONFIG_GLOBAL": ((".gitconfig", "git/config"), ("git status", "git log -1")),
    "GIT_CONFIG_SYSTEM": ((".gitconfig",), ("git status",)),
    "GIT_EXTERNAL_DIFF": (("tools/run", "./cat"), ("git diff HEAD", "git log -p -1")),
    "GIT_TEST_FSMONITOR": (("tools/run",), ("git status", "git diff")),
    "GIT_PAGER": (("tools/run",), ("git log -1",)),
    "GIT_INDEX_FILE": (("pwn", "/workspace/pwn"), ("git status", "git diff")),
    "GIT_OPTIONAL_LOCKS": (("1",), ("git status",)),
    "GIT_TRACE": (("/workspace/pwn", "pwn"), ("git status",)),
    "GIT_TRACE2_EVENT": (("/workspace/pwn",), ("git rev-parse HEAD",)),
    "GIT_CONFIG_COUNT": (
        ("1",),
        ("GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0=tools/run git status",),
    ),
    "TEXTDOMAIN": (("bash", "x"), ('echo $"hello"',)),
    "TEXTDOMAINDIR": ((".", "/workspace"), ('echo $"hello"',)),
    "LC_ALL": (("C", "en_US.UTF-8"), ('echo $"hello"', "sort notes.txt")),
    "LC_MESSAGES": (("C",), ('echo $"hello"',)),
    "LANG": (("C",), ('echo $"hello"',)),
    "LANGUAGE": (("x",), ('echo $"hello"',)),
    "HOME": (("/workspace", "."), ("git status", "cd; ls", "jq -n 1")),
    "XDG_CONFIG_HOME": (("/workspace/.config", "/workspace"), ("git status", "git diff")),
    "TMPDIR": (("/workspace", "src"), ("sort notes.txt", "tac notes.txt")),
    "RIPGREP_CONFIG_PATH": ((".ripgreprc", ".ripgreprc-hyperlink"), ("rg foo", "rg -l alpha")),
    "GREP": (("tools/run", "./cat"), ("zgrep foo docs/notes.gz",)),
    "AWKPATH": ((".", "/workspace"), ("awk -f lib notes.txt", "gawk '@include \"lib\"'")),
    "AWKLIBPATH": ((".",), ("gawk -l x 'BEGIN{}'",)),
    "PAGER": (("tools/run",), ("git log -1",)),
    "CDPATH": (("src", "/tmp"), ("cd docs; ls",)),  # noqa: S108 (in the container)
    "GLOBIGNORE": (("*.md",), ("ls *",)),
    "POSIXLY_CORRECT": (("1",), ("ptx notes.txt out", "sort notes.txt")),
    "OLDPWD": (("/tmp",), ("cd -",)),  # noqa: S108
    "PROMPT_COMMAND": (("tools/run",), ("bash -ic true",)),
    "HISTFILE": (("/workspace/pwn",), ("bash -ic true",)),
}

# How each wrapper's options are spelled around the command it runs (values from
# `orchestrator.devtools.prove.tool_options.TOOLS`); the commands it is given.
WRAPPED = (
    "cat",
    "sh cat",
    "ls",
    "cat notes.txt",
    "echo x",
    "git status",
    "sort notes.txt",
    "id",
    "bash ls",
    "./cat",
    "tools/run",
)
WRAPPER_VALUES = {
    "xargs": ("sh", "x", "{}", "1", "cat", "EOF", ""),
    "env": ("X", "sh cat"),
    "timeout": ("1", "KILL", "2s"),
    "nice": ("5", "-5"),
    "stdbuf": ("L", "0", "1K"),
    "flock": ("1", "'sh cat'", "'cat notes.txt'"),
}
WRAPPER_LINES = {
    "xargs": "echo x | xargs @opt@ @cmd@",
    "env": "env @opt@ @cmd@",
    "timeout": "timeout @opt@ 1 @cmd@",
    "nice": "nice @opt@ @cmd@",
    "stdbuf": "stdbuf @opt@ @cmd@",
    "flock": "flock @opt@ notes.txt @cmd@",
}

# Globs in operand position, as the tool sees them after expansion in a folder whose
# file names are options (the option-name fixtures); "-- *" and "./*" are the controls.
GLOBS = ("*", "*", "*", "?*", "-*", "[-]*", "*[!.]*", "* .", "-- *", "./*")
GLOB_LINES: dict[str, tuple[str, ...]] = {
    "sort": ("sort @g@", "sort -r @g@", "sort @g@ -u", "ls | xargs sort", "sort -m @g@"),
    "sed": (
        "sed -n p @g@",
        "sed 1q @g@",
        "sed -n 1p @g@",
        "sed -n '$=' @g@",
        "ls | xargs sed -n 1p",
    ),
    "rg": ("rg foo @g@", "rg -n TODO @g@", "rg -l alpha @g@", "rg -c x @g@"),
    "git diff": ("git diff @g@", "git diff HEAD @g@", "git diff --stat @g@", "git diff HEAD~1 @g@"),
    "git log": ("git log @g@", "git log --oneline @g@", "git log -1 @g@"),
    "git show": ("git show @g@", "git show HEAD @g@"),
    "git grep": ("git grep foo @g@", "git grep -n alpha @g@"),
    "git blame": ("git blame @g@", "git blame notes.txt @g@"),
    "git cat-file": ("git cat-file @g@ HEAD:notes.txt", "git cat-file -p @g@"),
    "git status": ("git status @g@", "git status -s @g@"),
    "sdiff": ("cd pair && sdiff @g@",),
    "diff3": ("cd trio && diff3 @g@",),
    "diff": ("diff @g@", "cd pair && diff @g@"),
    "ptx": ("ptx @g@", "cd pair && ptx @g@"),
}

# Values for the options of the tools the read-only base may not know well, by the
# `Value` of the option (see tool_options); "@o@" is a file to write.
PROGRAMS = ("tools/run", "./tools/run", "/workspace/tools/run", "sh", "./cat", "cat", "bash")
CODE_FILES = {
    "gawk": ("lib.awk", "lib", "-", "inplace"),
    "mawk": ("lib.awk", "lib"),
    "sed": ("script.sed",),
}
LIBRARIES = ("rwarray", "filefuncs", "inplace", "readfile", "fork", "time", "readdir")
SED_SCRIPTS = (
    ":a;e tools/run",
    ":a;w @o@",
    "1e tools/run",
    "s/a/b/e",
    "w @o@",
    "W @o@",
    "r /etc/hostname",
    "$!N;P;D",
    "/a/{;e tools/run\n}",
    "1!G;h;$!d",
    ":x e tools/run",
    "s/x/tools\\/run/ep",
    "y/a/b/;w @o@",
    "#n\n1e tools/run",
    "b end; :end e tools/run",
    "0~1w @o@",
    "1v;e tools/run",
)
AWK_PROGRAMS = (
    'BEGIN { x = "}"; system("tools/run") }',
    'BEGIN { x = "{"; print 1 \\\n> "@o@" }',
    '{ print \\\n> "@o@" }',
    'function f() { system("tools/run") } BEGIN { g = "f"; @g() }',
    '@include "lib.awk"',
    '@load "rwarray"; BEGIN { a[1] = 1; writea("@o@", a) }',
    'BEGIN { "tools/run" | getline }',
    'BEGIN { print | "sh cat" }',
    'BEGIN { print 1 |& "cat" }',
    'BEGIN { f = "@o@"; print 1 > f }',
    'BEGIN { c = "tools" "/run"; system(c) }',
    'BEGIN { x = "\\"}"; system("tools/run") }',
    '# }\nBEGIN { system("tools/run") }',
    'BEGIN { printf "x" > "/dev/stdout" }',
    '/a/ { print > FILENAME ".bak" }',
    "{ print }",
    'BEGIN { s = "a}b"; n = split(s, p, "}"); system(p[1] "tools/run") }',
    'BEGIN { getline < "notes.txt"; print }',
    'BEGIN { while ((getline l < "x") > 0) print l }',
    'BEGIN { @x = "system"; }',
    'BEGIN { PROCINFO["x"] = 1; close("tools/run") }',
)
GAP_TOOLS = ("gawk", "mawk", "sed", "rg", "diff3", "sdiff", "ptx", "diff", "git grep", "sort")
GAP_OPERANDS = {
    "gawk": ("@prog@ notes.txt", "@prog@", "'{print}' notes.txt"),
    "mawk": ("@prog@ notes.txt", "@prog@"),
    "sed": ("-n p notes.txt", "1q notes.txt", "@script@ notes.txt", "-n @script@ notes.txt"),
    "rg": ("foo", "foo notes.txt", "-n TODO ."),
    "diff3": ("notes.txt README.md data.json",),
    "sdiff": ("notes.txt README.md",),
    "ptx": ("notes.txt", "notes.txt @o@", "notes.txt README.md"),
    "diff": ("notes.txt README.md",),
    "git grep": ("foo", "-n alpha"),
    "sort": ("notes.txt",),
}
