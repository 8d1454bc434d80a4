"""Shell commands for the differential fuzzer: a grammar biased to what read-only allows.

Knowledge-base programs with ordinary arguments, options the base forbids, words
respelled the ways a shell decodes them at run time, pipelines, lists, loops, wrappers,
``xargs``, zsh syntax and mutations of the analyzer corpus (`package_data.corpus_dir`); and the
constructs a hostile repository turns into writes and execs (`hostile_line`): reopened
descriptors, data evaluated as arithmetic, assignments to protected variables, wrapper
options, globs before options, the options of tools the base may not know, and
environment variables that load config. Each command comes with the fixture
(`orchestrator.devtools.prove.hostile`) its session starts from.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

from orchestrator.devtools.package_data import corpus_dir
from orchestrator.devtools.prove.hostile_lines import HostileLines
from orchestrator.devtools.prove.oracle import TMP
from security.knowledge import GIT_READ_ONLY, READ_ONLY

FILES = ("README.md", "notes.txt", "src/app.py", "data.json", "docs/list.txt", "docs/notes.gz",
         "src", "docs", ".", "missing.txt", "/etc/hostname", "-", "*.md", "src/*", "*",
         "payload.txt", "vars.txt", "option.txt", "hostile.json", ".git/config", "legacy.proc",
         "lib.awk", "script.sed", ".ripgreprc", ".gitconfig", "sub", "cat", "*")  # fmt: skip
OUTPUTS = ("pwn", "out.txt", "/workspace/pwn", f"{TMP}pwn", "notes.txt", "src/new.py")
WORDS = ("foo", "alpha", "TODO", "x", "a b", "-", "--", "1", "HEAD", "main", "-n", "%s", "")
# Ordinary arguments per program: {f} a file, {o} a file to write, {w} a word.
ARGS: dict[str, str] = {
    "ls": "-la -l -a -1 -R -d -t -h --color=never {f} {f} src",
    "cat": "{f} {f} -n -A --",
    "head": "-n1 -n 2 -c 5 -q {f} {f}",
    "tail": "-n1 -n +2 -c 5 {f} --pid=1",
    "grep": "-rn -i -c -l -E -v -o -H -e {w} foo TODO alpha . src --include=*.py {f} {f}",
    "egrep": "foo a|b {f} -c",
    "rg": "foo -n -i --files -l TODO {f} -g *.py --hidden",
    "wc": "-l -w -c {f} {f}",
    "sort": "-r -n -u -k1 -t: {f} {f} -m -c",
    "uniq": "-c -d -u {f} {f}",
    "cut": "-d: -f1 -c1-3 {f}",
    "tr": "a-z A-Z -d x -s ' '",
    "sed": "-n -e -E -s -z --expression=1p 1p p s/a/b/ s/a/b/g /foo/d $= y/ab/ba/ {f} {f}",
    "awk": "-F: -v x=1 {prog} {prog} {f} {f}",
    "gawk": "-F: {prog} {f}",
    "find": ". src -name *.py -type f -type d -maxdepth 1 -print -print0 -ls -newer {f} -empty "
    "-exec cat {} ; -exec ls {} + -path ./.git -prune -o",
    "git": "{git}",
    "echo": "{w} {w} -n -e $HOME",
    "printf": "%s\\n {w} {w} -- %b",
    "test": "-f {f} -d src -n {w} -z {w} = -e {f} -v x",
    "[": "-f {f} -d src -n {w} -v x ]",
    "read": "-r x y -a arr -p p",
    "cd": "src .. / -",
    "pushd": "src /tmp",
    "date": "+%s -u -d @0 -R -I",
    "hostname": "-s -f",
    "jq": ". .name .items[] -r -c -n input_filename --arg x y {f}",
    "diff": "{f} {f} -u -q -r",
    "cmp": "{f} {f} -l",
    "comm": "{f} {f} -12",
    "stat": "{f} -c %s",
    "du": "-sh -a {f}",
    "df": "-h .",
    "realpath": "{f}",
    "readlink": "-f {f}",
    "basename": "{f} .py",
    "dirname": "{f}",
    "which": "ls git sh",
    "type": "ls cd -a",
    "tac": "{f}",
    "rev": "{f}",
    "nl": "{f}",
    "od": "-c {f}",
    "fold": "-w 3 {f}",
    "paste": "{f} {f} -s",
    "expand": "-t 2 {f}",
    "fmt": "-w 5 {f}",
    "join": "{f} {f}",
    "pr": "-2 {f}",
    "base64": "{f} -d -w0",
    "md5sum": "{f} {f}",
    "sha256sum": "{f} -c",
    "id": "-u -g -n",
    "uname": "-a -r",
    "ps": "aux -ef",
    "free": "-m",
    "who": "-a",
    "diff3": "{f} {f} {f}",
    "base32": "{f} -d",
    "seq": "3 1 2",
    "expr": "1 + 2",
    "sleep": "0 0.1",
    "zcat": "docs/notes.gz",
    "zgrep": "foo docs/notes.gz",
    "true": "",
    ":": "{w}",
    "pwd": "-P",
    "whoami": "",
    "locale": "-a",
    "nproc": "",
    "getconf": "PATH",
    "tty": "",
    "factor": "12",
    "numfmt": "--to=si 1000",
    "wait": "",
}
GIT_ARGS: dict[str, str] = {
    "status": "-s --short --porcelain -b",
    "log": "--oneline -n1 -p --stat --format=%H --all HEAD -- notes.txt",
    "show": "HEAD --stat --name-only HEAD:notes.txt",
    "diff": "HEAD --stat --cached --name-only",
    "branch": "-a -v --list main --sort x --contains HEAD",
    "tag": "-l --list",
    "config": "--get --list -l user.name core.bare --global --local --get-regexp user",
    "stash": "list show",
    "reflog": "show",
    "rev-parse": "HEAD --show-toplevel --git-dir",
    "ls-files": "-s -m",
    "blame": "notes.txt -L1,2",
    "describe": "--always --tags --dirty",
    "shortlog": "-sn HEAD",
    "remote": "-v",
    "cat-file": "-p HEAD -t --filters --textconv HEAD:notes.txt HEAD:legacy.proc --batch",
    "grep": "foo -n --textconv",
}
GIT_ARGS["log"] += " --show-signature --format=%G? -p -1 --all"
GIT_ARGS["show"] += " --show-signature --textconv"
AWK_PROGRAMS = (
    "{print}", "{print $1}", "NR==1", "BEGIN{print 1}", "END{print NR}", "/foo/",
    '{print > "out.txt"}', '{print | "cat"}', 'BEGIN{system("id")}', 'BEGIN{"id" | getline x}',
    'BEGIN{while ((getline l < "notes.txt") > 0) print l}', '{printf "%s", $0 > "/dev/stderr"}',
)  # fmt: skip
WRAPPERS = ("timeout 2", "env", "nice", "stdbuf -oL", "command", "exec", "env -i", "nice -n 5")
ASSIGNMENTS = ("X=1", "LC_ALL=C", "TZ=UTC", "HOME=/workspace", "TMPDIR=/workspace",
               "GIT_TRACE={o}", "GIT_INDEX_FILE={o}", "POSIXLY_CORRECT=1", "IFS=,",
               "XDG_CONFIG_HOME=/workspace")  # fmt: skip
REDIRECTS = ("2>/dev/null", ">/dev/null", "< {f}", "<<< {w}", "2>&1", ">&2", "&>/dev/null",
             ">|/dev/null", ">> /dev/null", "<>{f}", "> {o}", "2>{o}", "0<{f}",
             "<<EOF\nhello\nEOF", "<<-'EOF'\n\t$HOME\nEOF")  # fmt: skip
GIT_ASSIGNMENTS = ("GIT_TRACE={o}", "GIT_TRACE2={o}", "GIT_TRACE_SETUP={o}", "GIT_INDEX_FILE={o}",
                   "GIT_DIR=.git", "GIT_PAGER=cat", "GIT_OPTIONAL_LOCKS=0", "GIT_WORK_TREE=src",
                   "GIT_CONFIG_GLOBAL={f}", "GIT_TRACE_PERFORMANCE={o}")  # fmt: skip
# How often a program is picked, against 1: those whose arguments decide what they do.
WEIGHTS = {"git": 8, "sed": 3, "awk": 3, "find": 2, "sort": 2, "date": 2, "read": 2, "test": 2,
           "[": 2, "hostname": 2, "uniq": 2, "tail": 2, "rg": 2}  # fmt: skip
ZSH = ("=ls", "ls *(.)", "echo ${(f)x}", "cat =(ls)", "echo ${~x}", "ls **/*.py")


def _edge_fragments() -> dict[str, list[str]]:
    """Options the knowledge base forbids, spelled as getopt accepts them (abbreviated too)."""
    edges: dict[str, list[str]] = {}
    specs = {**READ_ONLY, **{f"git {sub}": spec for sub, spec in GIT_READ_ONLY.items()}}
    for name, spec in specs.items():
        out = [f"-{ch}" for ch in spec.forbidden_short]
        out += [f"-{ch} {{o}}" for ch in spec.forbidden_short]
        for long in spec.forbidden_long:
            out += [f"--{long}", f"--{long}={{o}}"]
            out += [f"--{long[:k]}={{o}}" for k in range(1, len(long))]
        if out:
            edges[name] = out
    extra = {
        "sed": ["--expression=w {o}", "-e w\\ {o}", "--in-place", "-i", "--file=-", "1e id"],
        "awk": ["-d", "--dump-variables", "-p", "--profile", "-o", "--pretty-print", "-E {f}"],
        "date": ["--set 2020-01-01", "-s 2020-01-01"],
        "hostname": ["{w}", "sandbox", "-F {f}"],
        "uniq": ["{f} {o}"],
        "git": [
            "-C src",
            "-C .git",
            "--no-pager",
            "-c x=y",
            "--git-dir=.git",
            "-C sub",
            "-C vendor/lib.git",
            "--git-dir=vendor/lib.git",
            "--git-dir=sub",
            "-P",
        ],
        "git config": ["a.b get", "user.name list", "--add a.b c", "a.b"],
        "git branch": ["x", "-l x", "-d x", "-f x"],
        "git tag": ["-a x -l", "v1"],
        "read": ["'a[$(id)]'", "PATH"],
        "test": ["-v 'a[$(id)]'"],
        "[": ["-v 'a[$(id)]' ]"],
    }
    for name, fragments in extra.items():
        edges.setdefault(name, []).extend(fragments)
    return edges


EDGES = _edge_fragments()


def _abbreviate(word: str, rng: random.Random) -> str:
    """``--expression=x`` as getopt also takes it: ``--exp=x``, ``--e=x``."""
    name, sep, value = word.partition("=")
    if not re.fullmatch(r"--[a-z][a-z-]+", name):
        return word
    return name[: rng.randint(3, len(name) - 1)] + sep + value


def load_corpus(root: Path | None = None) -> list[str]:
    """Every ``cmd`` of the corpus's ``*.jsonl`` files, in the order of their names."""
    lines: list[str] = []
    for path in sorted((root or corpus_dir()).glob("*.jsonl")):
        for raw in path.read_text().splitlines():
            if raw.strip():
                lines.append(json.loads(raw)["cmd"])
    return lines


def _hypothesis_source(seed: int) -> Callable[[], str]:
    try:
        from orchestrator.devtools.prove.strategies import HypothesisSource
    except ImportError as exc:  # hypothesis is a dev dependency
        raise RuntimeError(
            f"the differential fuzzer draws from hypothesis strategies: {exc}; "
            "install the dev extras (make setup, or pip install -e '.[dev]')"
        ) from exc
    return HypothesisSource(seed)


class Generator:
    """Shell commands from a grammar biased to what the read-only policy allows.

    Mostly knowledge-base programs with ordinary arguments, sometimes an option the base
    forbids (spelled as getopt accepts it), and words respelled the ways a shell decodes
    them at run time (quotes, escapes, braces, substitutions, variables), in pipelines,
    lists, loops, wrappers and ``xargs``; plus mutations of the corpus lines, and a share
    (``hypothesis_share``) of lines drawn from the hypothesis strategies of
    `orchestrator.devtools.prove.strategies` (deeper nesting, heredocs, case, functions, zsh).
    """

    def __init__(
        self,
        seed: int,
        corpus: list[str] | None = None,
        hypothesis_share: float = 0.1,
        hostile_share: float = 0.6,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (reproducible fuzzing, not secrets)
        self.corpus = corpus if corpus is not None else load_corpus()
        self.programs = sorted(ARGS)
        self.weights = [WEIGHTS.get(name, 1) for name in self.programs]
        self.hypothesis_share = hypothesis_share
        self.hostile_share = hostile_share  # of the lines the grammar makes
        self.from_hypothesis = _hypothesis_source(seed) if hypothesis_share else None
        self.hostile = HostileLines(self.rng, self._simple)
        self.source = ""
        self.fixture = ""

    def command(self) -> str:
        """The next command; `source` says where it came from, `fixture` where it runs."""
        self.fixture = self.hostile.fixture()
        if self.from_hypothesis and self.rng.random() < self.hypothesis_share:
            self.source = "hypothesis"
            return self.from_hypothesis()
        if self.corpus and self.rng.random() < 0.3:
            self.source = "corpus mutation"
            return self._mutant()
        if self.rng.random() < self.hostile_share:
            line, production, self.fixture = self.hostile.line()
            self.source = f"hostile {production}"
            return line
        self.source = "grammar"
        if self.rng.random() < 0.02:
            return self.rng.choice(ZSH)
        return self._list(0)

    # grammar

    def _list(self, depth: int) -> str:
        parts = [self._pipeline(depth)]
        while len(parts) < 3 and self.rng.random() < 0.3:
            parts += [self.rng.choice(("; ", " && ", " || ", "\n")), self._pipeline(depth)]
        return "".join(parts)

    def _pipeline(self, depth: int) -> str:
        rng = self.rng
        if rng.random() < 0.12:  # stdin feeding options to a program through xargs
            name = self._program()
            words = " ".join(self._fill(self._fragment(name, edge=0.6)) for _ in range(2))
            return f"echo {words} | xargs {rng.choice(('', '-n2 ', '-0 '))}{name}"
        stages = [self._statement(depth)]
        while len(stages) < 3 and rng.random() < 0.25:
            stages.append(self._simple())
        return " | ".join(stages)

    def _statement(self, depth: int) -> str:
        rng = self.rng
        roll = rng.random()
        if depth >= 2 or roll < 0.6:
            return self._simple()
        inner = self._list(depth + 1)
        if roll < 0.68:
            return f"( {inner} )"
        if roll < 0.74:
            return f"{{ {inner}; }}"
        if roll < 0.8:
            return f"for x in {self._fill('{w} {f}')}; do {inner}; done"
        if roll < 0.85:
            return f"if {self._simple()}; then {inner}; fi"
        if roll < 0.9:
            return f"while read -r line; do {inner}; done < {self._fill('{f}')}"
        if roll < 0.95:
            word = self._fill(self._fragment(self._program(), edge=0.5))
            return f"v={self._quote(word)}; {self._simple(var='$v')}"
        return f"{rng.choice(WRAPPERS)} {self._simple()}"

    def _simple(self, var: str | None = None) -> str:
        rng = self.rng
        name = self._program()
        words = [self._respell(name) if rng.random() < 0.05 else name]
        assignments = ASSIGNMENTS
        if name == "git":
            sub = rng.choice(sorted(GIT_ARGS))
            if rng.random() < 0.15:
                words.append(self._fill(rng.choice(EDGES["git"])))
            words.append(sub)
            name, assignments = f"git {sub}", GIT_ASSIGNMENTS
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            words.append(self._fill(self._fragment(name)))
        if var is not None:
            words.insert(rng.randint(1, len(words)), var)
        if rng.random() < 0.15:
            words = [*words[:1], *(self._respell(w) for w in words[1:])]
        if rng.random() < 0.1:
            words = [_abbreviate(w, rng) for w in words]
        if rng.random() < (0.25 if assignments is GIT_ASSIGNMENTS else 0.1):
            words.insert(0, self._fill(rng.choice(assignments)))
        if rng.random() < 0.2:
            words.append(self._fill(rng.choice(REDIRECTS)))
        if rng.random() < 0.08:
            words.append(f"<({self._simple()})" if rng.random() < 0.5 else f"$({self._simple()})")
        return " ".join(w for w in words if w)

    def _program(self) -> str:
        return self.rng.choices(self.programs, self.weights)[0]

    def _fragment(self, name: str, edge: float = 0.12) -> str:
        rng = self.rng
        if name in EDGES and rng.random() < edge:
            return rng.choice(EDGES[name])
        if name.startswith("git "):
            pool = GIT_ARGS[name[4:]].split()
        else:
            pool = ARGS.get(name, "{w}").split() or [""]
        return rng.choice(pool)

    def _fill(self, fragment: str) -> str:
        rng = self.rng
        out = fragment
        for key, pool in (("{f}", FILES), ("{o}", OUTPUTS), ("{w}", WORDS)):
            while key in out:
                out = out.replace(key, self._quote(rng.choice(pool)), 1)
        while "{prog}" in out:
            out = out.replace("{prog}", "'" + rng.choice(AWK_PROGRAMS) + "'", 1)
        while "{git}" in out:
            out = out.replace("{git}", rng.choice(sorted(GIT_ARGS)), 1)
        return out

    def _quote(self, word: str) -> str:
        if word and re.fullmatch(r"[\w./*:%+=@-]+", word):
            return word
        return "'" + word.replace("'", "'\\''") + "'"

    def _respell(self, word: str) -> str:
        """The same word as the shell will see it at run time, spelled another way."""
        if not word or " " in word or "'" in word:
            return word
        options = [
            f"'{word}'", f'"{word}"', f"\\{word}", f"{word[0]}''{word[1:]}", f"$'{word}'",
            f"{{{word},}}", f"$(echo {word})", f"`echo {word}`", f'"$(printf %s {word})"',
            f"${{X:-{word}}}", f"${{X-{word}}}", f"{word}$(true)",
        ]  # fmt: skip
        if " " not in word and word.startswith("-"):
            options.append(f"{{{word},{self._fill('{o}')}}}")
        return self.rng.choice(options)

    # corpus mutation

    def _mutant(self) -> str:
        rng = self.rng
        line = rng.choice(self.corpus)
        for _ in range(rng.randint(1, 2)):
            words = line.split(" ")
            roll = rng.random()
            i = rng.randrange(len(words))
            if roll < 0.3:
                words[i] = self._respell(words[i])
            elif roll < 0.5:
                name = words[0] if words[0] in ARGS or words[0] in EDGES else self._program()
                words.insert(min(1, len(words)), self._fill(self._fragment(name, edge=0.5)))
            elif roll < 0.6:
                words.insert(0, self._fill(rng.choice(ASSIGNMENTS)))
            elif roll < 0.7:
                words.append(self._fill(rng.choice(REDIRECTS)))
            elif roll < 0.8:
                words += [rng.choice(("|", ";", "&&", "||")), self._simple()]
            elif roll < 0.9:
                words = [f"echo {self._fill('{w}')} | xargs", *words]
            else:
                words[i] = f"$({words[i]})" if words[i] else words[i]
            line = " ".join(words)
        return line
