"""Lines a hostile repository turns into writes and execs, each with its fixture.

Productions over the tables of `orchestrator.devtools.prove.bash_constructs` and
`orchestrator.devtools.prove.tool_options`: reopened descriptors, data evaluated as arithmetic,
data used as options, assignments to protected variables, wrapper options, globs before
options, the options of tools the read-only base may not know, and environment
variables that load config. `HostileLines.line` returns a line, the production it came
from, and the fixture its session should start from.
"""

from __future__ import annotations

import random
import re
import shlex
from collections.abc import Callable

from orchestrator.devtools.prove import bash_constructs as bc
from orchestrator.devtools.prove.hostile import FIXTURES, PLAIN, fixtures_for
from orchestrator.devtools.prove.oracle import TMP
from orchestrator.devtools.prove.tool_options import ENVIRONMENT, TOOLS, Option, Value

# The fixtures a line that is not tied to one starts from, and how often.
FIXTURE_WEIGHTS = {PLAIN: 3, "hostile-files": 3, "git-config": 3, "git-hooks": 2, "bare-repo": 2}
NAMES_WEIGHT = 2  # the option-name fixtures together
DATA_FILES = ("payload.txt", "vars.txt", "hostile.json", ".commit-message", "option.txt")
VARIABLES = ("x", "v", "line", "_x", "REPLY")
OUTPUTS = ("pwn", "/workspace/pwn", "src/new.py", "notes.txt", f"{TMP}pwn")
DATA_EXPANSIONS = (
    "$(cat option.txt)",
    "$(< option.txt)",
    "`cat option.txt`",
    "$(jq -r '.items[]' hostile.json)",
    "$(head -1 option.txt)",
    "$(cat vars.txt)",
)
OPTION_CONSUMERS = (
    "sort @x@ notes.txt",
    "sdiff @x@ notes.txt README.md",
    "git diff @x@",
    "sed -n p @x@ notes.txt",
    "rg foo @x@",
    "ptx @x@ notes.txt",
    "uniq @x@",
)
# What each environment table entry's tool is run as.
ENV_CONSUMERS = {
    "git": (
        "git status",
        "git diff",
        "git log -p -1",
        "git show",
        "git rev-parse HEAD",
        "git describe --dirty --always",
        "git blame notes.txt",
        "git ls-files",
    ),
    "rg": ("rg foo", "rg -l alpha ."),
    "zgrep": ("zgrep foo docs/notes.gz",),
    "gawk": ("gawk -f lib notes.txt", "gawk '@include \"lib\"' notes.txt", "gawk -l rwarray 1"),
    "awk": ("awk -f lib notes.txt", "awk '{print}' notes.txt"),
    "sort": ("sort notes.txt",),
    "date": ("date",),
    "grep": ("grep foo notes.txt",),
    "bash": ("bash -c ls", "sh -c ls", "ls", "cat notes.txt", "set -x; ls", "bash -c true"),
}
ENV_VALUES = {
    "prog": ("tools/run", "./tools/run", "/workspace/tools/run", "./cat"),
    "out": OUTPUTS,
    "dir": (".", "/workspace", "src", "tools"),
    "gitconfig": (".gitconfig", "git/config", "extra.gitconfig", "sub/config"),
    "rgconfig": (".ripgreprc", ".ripgreprc-hyperlink"),
    "code": ("tools/run", "cat"),
}


def quote(word: str) -> str:
    if word and re.fullmatch(r"[\w./*:%+=@,-]+", word):
        return word
    return shlex.quote(word)


class HostileLines:
    """The productions; ``rng`` is the generator's, so a seed gives the same lines."""

    def __init__(self, rng: random.Random, simple: Callable[[], str]) -> None:
        self.rng = rng
        self.simple = simple  # an ordinary command of the grammar
        self.names = [f.name for f in FIXTURES.values() if f.tool]
        self.productions: dict[str, Callable[[], tuple[str, str]]] = {
            "reopen": self.reopen,
            "data": self.data,
            "data option": self.data_option,
            "assignment": self.assignment,
            "wrapper": self.wrapper,
            "glob": self.glob,
            "tool option": self.tool_option,
            "environment": self.environment,
        }

    def fixture(self) -> str:
        """A fixture for a line that does not need a particular one."""
        pool = [*FIXTURE_WEIGHTS, "names"]
        chosen = self.rng.choices(pool, [*FIXTURE_WEIGHTS.values(), NAMES_WEIGHT])[0]
        return self.rng.choice(self.names) if chosen == "names" else chosen

    def hostile_fixture(self) -> str:
        """A fixture holding the hostile files (every one but the plain seed)."""
        fixture = self.fixture()
        return fixture if fixture != PLAIN else "hostile-files"

    def line(self) -> tuple[str, str, str]:
        """(line, production, fixture)."""
        name = self.rng.choice(sorted(self.productions))
        line, fixture = self.productions[name]()
        return line, name, fixture

    # productions: each returns (line, fixture)

    def _pick(self, pool: tuple[str, ...]) -> str:
        return self.rng.choice(pool)

    def reopen(self) -> tuple[str, str]:
        command = self.simple() if self.rng.random() < 0.2 else self._pick(bc.PRINTERS)
        line = (
            self._pick(bc.REOPENS)
            .replace("@cmd@", command)
            .replace("@file@", self._pick(bc.PRECIOUS))
            .replace("@n@", self._pick(bc.DESCRIPTORS))
        )
        return line, self.fixture()

    def data(self) -> tuple[str, str]:
        variable = self._pick(VARIABLES)
        source = self._pick(bc.DATA_SOURCES)
        sink = self._pick(bc.ARITHMETIC_SINKS)
        if sink.startswith("local"):
            sink = f"f() {{ {sink}; }}; f"
        joint = self._pick(("; ", " && ", "\n"))
        line = source + joint + sink
        line = line.replace("@v@", variable).replace("@data@", self._pick(DATA_FILES))
        return line, self.hostile_fixture()

    def data_option(self) -> tuple[str, str]:
        line = self._pick(OPTION_CONSUMERS).replace("@x@", self._pick(DATA_EXPANSIONS))
        if self.rng.random() < 0.3:
            line = f"read -r o < option.txt; {line.replace('@x@', '$o')}"
        return line, self.hostile_fixture()

    def assignment(self) -> tuple[str, str]:
        name = self.rng.choice(sorted(bc.PROTECTED))
        values, consumers = bc.PROTECTED[name]
        consumer = self._pick(consumers)
        template = self._pick(bc.ASSIGNERS)
        line = (
            template.replace("@name@", name)
            .replace("@value@", self._pick(values))
            .replace("@cmd@", consumer)
        )
        if "@cmd@" not in template:
            line += self._pick(("; ", " && ", "\n")) + consumer
        return line, self.hostile_fixture()

    def wrapper(self) -> tuple[str, str]:
        tool = self.rng.choice(sorted(bc.WRAPPER_LINES))
        option = self.rng.choice(TOOLS[tool])
        spelled = self._spell(tool, option, bc.WRAPPER_VALUES[tool])
        line = bc.WRAPPER_LINES[tool].replace("@opt@", spelled)
        return line.replace("@cmd@", self._pick(bc.WRAPPED)), self.hostile_fixture()

    def glob(self) -> tuple[str, str]:
        tool = self.rng.choice(sorted(bc.GLOB_LINES))
        line = self._pick(bc.GLOB_LINES[tool]).replace("@g@", self._pick(bc.GLOBS))
        own = fixtures_for(tool)
        fixture = self.rng.choice(own) if own and self.rng.random() < 0.85 else self.fixture()
        return line, fixture

    def tool_option(self) -> tuple[str, str]:
        tool = self._pick(bc.GAP_TOOLS)
        options = [self.rng.choice(TOOLS[tool]) for _ in range(self.rng.choice((1, 1, 2)))]
        spelled = " ".join(self._spell(tool, option, ("1", "x")) for option in options)
        operands = self._fill(self._pick(bc.GAP_OPERANDS[tool]))
        return f"{tool} {spelled} {operands}".strip(), self.hostile_fixture()

    def environment(self) -> tuple[str, str]:
        tool = self.rng.choice(sorted(ENVIRONMENT))
        assignment = self._pick(ENVIRONMENT[tool])
        for key, pool in ENV_VALUES.items():
            assignment = assignment.replace("{" + key + "}", self._pick(pool))
        consumer = self._pick(ENV_CONSUMERS[tool])
        form = self._pick(("@a@ @c@", "@a@ @c@", "export @a@; @c@", "env @a@ @c@"))
        return form.replace("@a@", assignment).replace("@c@", consumer), self.hostile_fixture()

    # values

    def _spell(self, tool: str, option: Option, words: tuple[str, ...]) -> str:
        """``option`` spelled one of getopt's ways, with a value of its kind."""
        value = quote(self._value(tool, option, words))
        spelled = self.rng.choice(option.spellings(value) or [f"-{option.short}"])
        flags = [o.short for o in TOOLS[tool] if o.short and o.value is Value.FLAG]
        if flags and re.match(r"-[^-]", spelled) and self.rng.random() < 0.3:
            spelled = f"-{self.rng.choice(flags)}{spelled[1:]}"  # in a cluster: -nfscript.sed
        return spelled

    def _value(self, tool: str, option: Option, words: tuple[str, ...]) -> str:
        kind = option.value
        if kind is Value.OUT:
            return self._pick(OUTPUTS)
        if kind is Value.PROG:
            return self._pick(bc.PROGRAMS)
        if kind is Value.CODE:
            return self._pick(bc.CODE_FILES.get(tool, ("lib.awk",)))
        if kind is Value.LIB:
            return self._pick(bc.LIBRARIES)
        if kind is Value.SCRIPT:
            pool = bc.SED_SCRIPTS if tool == "sed" else bc.AWK_PROGRAMS
            return self._pick(pool).replace("@o@", self._pick(OUTPUTS))
        if kind is Value.COMMAND:
            return self._pick(("sh cat", "cat notes.txt", "ls -la", "tools/run"))
        if kind is Value.DIR:
            return self._pick((".", "src", "/workspace", "tools"))
        if kind is Value.FILE:
            return self._pick(("notes.txt", "payload.txt", "lib.awk", "/etc/hostname"))
        if tool == "mawk" and option.short == "W":
            return self._pick(("exec lib.awk", "exec=lib.awk", "e lib.awk", "dump", "ex lib"))
        return self._pick(words)

    def _fill(self, operands: str) -> str:
        out = operands.replace("@o@", self._pick(OUTPUTS))
        if "@prog@" in out:
            out = out.replace("@prog@", quote(self._pick(bc.AWK_PROGRAMS)).replace("@o@", "pwn"))
        if "@script@" in out:
            out = out.replace("@script@", quote(self._pick(bc.SED_SCRIPTS).replace("@o@", "pwn")))
        return out
