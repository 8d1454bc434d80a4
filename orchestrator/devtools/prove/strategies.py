"""Hypothesis strategies over a grammar of shell input, and a seeded source of commands.

The grammar covers words, quotes, escapes, expansions, substitutions, redirections,
heredocs, pipelines, lists, compound commands and zsh syntax, over the programs the
read-only knowledge base knows (so that a good share is allowed and gets executed).
`HypothesisSource` draws commands from it in seeded batches, for the differential
fuzzer; the strategies are usable in tests as they are.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from orchestrator.devtools.prove import bash_constructs as bc
from security.knowledge import READ_ONLY

FILES = ("README.md", "notes.txt", "src/app.py", "data.json", "docs/list.txt", "src", ".",
         "/etc/hostname", "missing.txt", "-", "payload.txt", "option.txt", ".git/config",
         "lib.awk", "*")  # fmt: skip
OUTPUTS = ("pwn", "/workspace/pwn", "/tmp/pwn", "notes.txt", "/dev/null")  # noqa: S108
WORDS = ("foo", "alpha", "TODO", "x", "a b", "-n", "-l", "--", "1", "HEAD", "%s", "")
OPTIONS = ("-a", "-l", "-n", "-r", "-R", "-1", "-c", "-v", "-x", "-o", "-i", "-f", "-e", "-w",
           "-s", "-z", "--help", "--version", "--output=pwn", "--exec=id", "-exec")  # fmt: skip
UNSAFE = ("rm", "curl", "sh", "bash", "python3", "tee", "touch", "dd", "env", "xargs")
ZSH = ("=ls", "ls *(.)", "ls *(e:'touch pwn':)", "echo ${(e)X}", "cat =(ls)", "echo ${~X}",
       "ls **/*.py", "print -P '%n'", "echo ${(f)\"$(ls)\"}", "ls *(+pwn)")  # fmt: skip
VARIABLES = ("X", "HOME", "PATH", "IFS", "1", "@", "#", "?", "RANDOM")


def _quoted(text: str, how: int) -> str:
    """``text`` spelled another way that the shell reads back as ``text``."""
    if not text:
        return ("''", '""', "$''", "''", '""')[how]
    if how == 0:
        return "'" + text.replace("'", "'\\''") + "'"
    if how == 1:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'
    if how == 2:
        return "".join("\\" + c for c in text)
    if how == 3:
        return "$'" + "".join(f"\\x{ord(c):02x}" for c in text) + "'"
    return text[:1] + "''" + text[1:]


def _expansion(name: str, word: str, form: int) -> str:
    forms = (f"${name}", f"${{{name}}}", f"${{{name}:-{word}}}", f"${{{name}#{word}}}",
             f"${{#{name}}}", f"${{{name}/a/b}}", "$((1+2))", "~", f"{{{word},x}}", "*", "?",
             f"${{{name}:={word}}}", f"${{!{name}}}")  # fmt: skip
    return forms[form % len(forms)]


def _joined(parts: list[str]) -> str:
    """Words joined by spaces; a heredoc's body goes last, where the shell expects it."""
    heredocs = [p for p in parts if "\n" in p and "EOF" in p]
    return " ".join([p for p in parts if p not in heredocs] + heredocs[:1])


names = st.one_of(
    st.sampled_from(sorted(READ_ONLY)), st.sampled_from(sorted(READ_ONLY)), st.sampled_from(UNSAFE)
)
plain_words = st.sampled_from(FILES + WORDS + OPTIONS)
respelled = st.builds(_quoted, plain_words, st.integers(0, 4))
expansions = st.builds(_expansion, st.sampled_from(VARIABLES), plain_words, st.integers(0, 12))
substitutions = st.builds(
    lambda inner, form: (f"$({inner})", f"`{inner}`", f'"$({inner})"', f"<({inner})")[form],
    st.deferred(lambda: simple_commands),
    st.integers(0, 3),
)
words = st.one_of(
    *[plain_words] * 4, respelled, respelled, expansions, st.deferred(lambda: substitutions)
)
"""One argument: plain, an option, quoted or escaped, an expansion or a substitution."""

heredoc_bodies = st.sampled_from(("hello", "$HOME", "$(id)", "`id`", "a\\\nb"))
redirections = st.one_of(
    st.builds(lambda op, o: f"{op} {o}", st.sampled_from((">", ">>", "&>", ">|", "{fd}>")),
              st.sampled_from(OUTPUTS)),
    st.sampled_from(FILES).map(lambda f: f"< {f}"),
    st.sampled_from(("2>&1", ">&2", "2>/dev/null", "3>&-", "<> notes.txt")),
    words.map(lambda w: f"<<< {w}"),
    st.builds(lambda form, body: form.replace("BODY", body),
              st.sampled_from(("<<EOF\nBODY\nEOF", "<<'EOF'\nBODY\nEOF", "<<-EOF\n\tBODY\nEOF")),
              heredoc_bodies),
)  # fmt: skip
# Redirections that reopen a descriptor's file for writing (1<FILE >/dev/stdout).
reopens = st.builds(
    lambda form, path, fd: form.replace("@file@", path).replace("@n@", fd),
    st.sampled_from(
        [r.removeprefix("@cmd@ ") for r in bc.REOPENS if r.startswith("@cmd@ ") and ";" not in r]
    ),
    st.sampled_from(bc.PRECIOUS),
    st.sampled_from(bc.DESCRIPTORS),
)
redirections = st.one_of(redirections, reopens)
assignments = st.builds(
    lambda name, value: f"{name}={value}",
    st.sampled_from(("X", "LC_ALL", "PAGER", "GIT_DIR", "IFS", *sorted(bc.PROTECTED))),
    words,
)
simple_commands: st.SearchStrategy[str] = st.builds(
    lambda prefix, name, spelled, args, redirects: _joined(
        [*prefix, spelled or name, *args, *redirects]
    ),
    st.lists(assignments, max_size=1),
    names,
    st.one_of(st.just(""), st.just(""), st.just(""), names.map(lambda n: _quoted(n, 0))),
    st.lists(words, max_size=3),
    st.lists(redirections, max_size=1),
)
"""[assignment] name [words] [redirection]."""

pipelines = st.builds(
    lambda stages, joint: joint.join(stages),
    st.lists(st.deferred(lambda: statements), min_size=1, max_size=2),
    st.sampled_from((" | ", " |& ")),
)
command_lists = st.builds(
    lambda first, rest: first + "".join(sep + p for sep, p in rest),
    pipelines,
    st.lists(
        st.tuples(st.sampled_from(("; ", " && ", " || ", "\n", " & ")), pipelines), max_size=2
    ),
)


def _compound(inner: str, form: int, word: str, test: str) -> str:
    forms = (f"( {inner} )", f"{{ {inner}; }}", f"for x in {word}; do {inner}; done",
             f"if {test}; then {inner}; fi", f"while read -r l; do {inner}; done < notes.txt",
             f"case {word} in a) {inner};; *) true;; esac", f"f() {{ {inner}; }}; f",
             f"! {inner}", f"time {inner}", f"[[ -n {word} ]] && {inner}")  # fmt: skip
    return forms[form]


statements: st.SearchStrategy[str] = st.one_of(
    *[simple_commands] * 7,
    st.builds(_compound, command_lists, st.integers(0, 9), words, simple_commands),
)
"""A simple command, or a subshell, group, loop, if, case or function around a list."""

data_lines = st.builds(
    lambda source, joint, sink, var, data: (
        (source + joint + sink).replace("@v@", var).replace("@data@", data)
    ),
    st.sampled_from(bc.DATA_SOURCES),
    st.sampled_from(("; ", " && ", "\n")),
    st.sampled_from(bc.ARITHMETIC_SINKS),
    st.sampled_from(("x", "v", "REPLY")),
    st.sampled_from(("payload.txt", "vars.txt", "hostile.json")),
)
"""A value read from a file of the repository, then used where bash evaluates it."""


def _assigned(template: str, name: str, value_index: int) -> str:
    values, consumers = bc.PROTECTED[name]
    consumer = consumers[value_index % len(consumers)]
    line = template.replace("@name@", name).replace("@value@", values[value_index % len(values)])
    line = line.replace("@cmd@", consumer)
    return line if "@cmd@" in template else f"{line}; {consumer}"


assignment_lines = st.builds(
    _assigned,
    st.sampled_from(bc.ASSIGNERS),
    st.sampled_from(sorted(bc.PROTECTED)),
    st.integers(0, 5),
)
"""A protected variable assigned or unset by one of bash's many ways, then used."""

shell_lines = st.one_of(*[command_lists] * 7, st.sampled_from(ZSH), data_lines, assignment_lines)
"""Whole command lines: lists, zsh syntax (one in ten), data evaluated as arithmetic and
assignments to protected variables."""


class HypothesisSource:
    """Commands drawn from `shell_lines` in seeded batches: the same seed, the same lines."""

    def __init__(self, seed: int, batch: int = 100) -> None:
        self.seed = seed
        self.batch = batch
        self.batches = 0
        self._queue: list[str] = []

    def __call__(self) -> str:
        if not self._queue:
            self._queue = draw_batch(self.seed * 1_000_003 + self.batches, self.batch)
            self.batches += 1
        return self._queue.pop(0)


def draw_batch(seed: int, count: int) -> list[str]:
    """``count`` lines from `shell_lines`, generated (never shrunk) by hypothesis."""
    drawn: list[str] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), derandomize=False,
    )  # fmt: skip
    @given(shell_lines)
    def collect(line: str) -> None:
        drawn.append(line)

    collect()
    return drawn[:count] or ["true"]
