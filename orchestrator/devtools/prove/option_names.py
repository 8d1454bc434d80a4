"""Option-name fixtures: a tool's dangerous options as file names a glob hands to it.

One fixture per tool, option and spelling, from each tool's option table
(`orchestrator.devtools.prove.tool_options.TOOLS`): ``sort *`` in a folder holding
``-opwned-...`` writes the marker file; ``sed -n p *`` next to ``-f`` and ``-f.sed``
runs the sed script in ``-f.sed``.
"""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.devtools.prove.fixture import (
    MARK,
    Family,
    Fixture,
    FixtureFile,
    Payloads,
    marker_file,
    slug,
)
from orchestrator.devtools.prove.tool_options import TOOLS, Option, Value

# --- option names -----------------------------------------------------------------------

# Tools a glob is handed to, whose options getopt still finds among the operands (gawk
# and mawk stop at the program text, so a glob after it is only operands).
NAMED_TOOLS = ("sort", "sed", "rg", "git diff", "git log", "git show", "git grep", "git blame",
               "git cat-file", "git status", "sdiff", "diff3", "diff", "ptx")  # fmt: skip
SED_CODE = "1e {prog}\nw {out}\n"  # what sed -f reads from the file a name points to
PAIRS = {"sdiff": "pair", "diff3": "trio"}  # tools that take a fixed number of operands
HERE = "@MARK@"  # where a spelling names the fixture's marker


def _spelled_names(tool: str, option: Option) -> Iterator[list[str]]:
    """Each way file names spell ``option``: one name (``-oV``, ``--output=V``, a flag),
    or the option then its value, which sorts right after it (``-f`` then ``-f.sed``).
    A value that is a file to write is the marker; a program, ``sh`` (it runs its first
    operand, a file of the repository, as a script); code for sed, the file ``.sed``.
    """
    plain = Option(option.short, "" if tool.startswith("git ") and not option.long else
                   option.long, option.value, option.optional, option.effect)  # fmt: skip
    if option.value is Value.FLAG:
        names = plain.spellings() if not tool.startswith("git ") else [f"--{option.long}"]
        yield from ([n] for n in names)
        return
    if option.value is Value.CODE:
        if tool == "sed":
            yield ["-f", "-f.sed"]
            yield ["-f.sed"]  # -f with the attached value ".sed"
            yield ["--file=.sed"]
        return
    value = {Value.OUT: HERE, Value.PROG: "sh", Value.SCRIPT: f"w {HERE}"}.get(option.value)
    if tool == "sed" and option.optional:
        value = f"{HERE}-*"  # in-place backups named after each file
    if value is None:
        return
    for words in plain.spelled_words(value):
        head = words[0].split("=", 1)[0]
        if tool.startswith("git ") and head.startswith("--") and head != f"--{option.long}":
            continue  # git's diff options take no abbreviations
        if len(words) == 2 and not words[1].startswith("-"):
            continue  # a separate value must itself start with "-" to sort right after
        yield words


def option_name_fixtures() -> list[Fixture]:
    """One fixture per tool, dangerous option and spelling: the option as file names."""
    fixtures = []
    for tool in NAMED_TOOLS:
        for option in TOOLS[tool]:
            if not option.dangerous:
                continue
            opt = slug(option.long or option.short)
            for index, words in enumerate(_spelled_names(tool, option)):
                name = slug(f"names-{tool}-{opt}-{index}")
                found = Payloads()
                names = [w.replace(HERE, MARK + name) for w in words]
                if any(HERE in w for w in words):
                    found.output(name, Family.OPTION_NAME, f"file names {names} ({tool})")
                files = [FixtureFile(n, "foo\n") for n in names]
                if tool == "sed":
                    code = SED_CODE.format(
                        prog=found.program(name + "-code", Family.OPTION_NAME,
                                           f"sed -f reads .sed after file names {names}"),
                        out=marker_file(name + "-code-write"),
                    )  # fmt: skip
                    files = [FixtureFile(f.path, code if f.path.endswith(".sed") else f.content)
                             for f in files] + [FixtureFile(".sed", code)]  # fmt: skip
                folder = PAIRS.get(tool)
                if folder:
                    count = 2 if folder == "pair" else 3
                    files += [FixtureFile(f"{folder}/{c}", f"{c}\nfoo\n") for c in "abc"[:count]]
                    files += [FixtureFile(f"{folder}/{n}", "foo\n") for n in names]
                help_viewer = option.long == "help"  # runs the viewer git-config configures
                fixtures.append(Fixture(
                    name=name, summary=f"{tool}: {option.effect}; file names {names}",
                    base="git-config" if help_viewer else "hostile-files",
                    committed=() if help_viewer else tuple(files),
                    planted=tuple(files) if help_viewer else (),
                    payloads=tuple(found.items), tool=tool,
                ))  # fmt: skip
    return fixtures
