"""Hostile workspaces for the oracle: repositories that attack whoever reads them.

The threat model's attacker writes the repository: its git config, attributes and
hooks, embedded repositories, file names that are options, file contents that end up
in variables, and the config files tools read. Each `Fixture` here is such a workspace,
and each of its `Payload`s leaves *named* evidence when it runs, so that the oracle
can say which one ran:

- an exec of a marker program ``/tmp/airlock-oracle/bin/pwned-<name>`` (a symlink to a
  script that also writes ``/tmp/pwned-<name>``), or
- a write of a marker file whose base name holds ``pwned-<name>`` (trace2 targets,
  ``--output=pwned-...`` file names, ``$(: >/tmp/pwned-...)`` in data).

`marker_in` reads a name back from a path. The fixtures are built in the oracle's
container (`build_script`, from the files of `layers_tar`) into one tar each, which
the oracle unpacks before every run; they are made from tables (git config keys, hook
names, each tool's options in `orchestrator.prove.tool_options`), not listed one by one.
"""

from __future__ import annotations

import io
import re
import shlex
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from orchestrator.prove.tool_options import TOOLS, Option, Value

ORACLE_DIR = "/tmp/airlock-oracle"  # noqa: S108 (in the container; read-only once built)
MARKER_BIN = f"{ORACLE_DIR}/bin"
FIXTURE_DIR = f"{ORACLE_DIR}/fixtures"
LAYER_DIR = f"{ORACLE_DIR}/layers"
WORKSPACE = "/workspace"
MARK = "pwned-"
MARKER_SCRIPT = '#!/bin/sh\n: > "/tmp/${0##*/}"\n'  # the marker leaves a file as well
_MARKED = re.compile(r"pwned-([a-z0-9][a-z0-9._-]*)")  # at the start of a base name
DATE = "@1700000000"
PLAIN = "plain"


def marker_program(name: str) -> str:
    """The program a payload runs: its exec names the payload."""
    return f"{MARKER_BIN}/{MARK}{name}"


def marker_file(name: str) -> str:
    """A file a payload writes: its write names the payload."""
    return f"/tmp/{MARK}{name}"  # noqa: S108


def marker_in(path: str) -> str | None:
    """The payload name a written or executed path carries, or None."""
    match = _MARKED.match(path.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


class Family(StrEnum):
    """Which class of the hostile-repository threat a payload belongs to."""

    REPO_CONFIG = "repository config runs programs"
    HOOKS = "repository hooks run"
    BARE_REPO = "embedded bare repository"
    OPTION_NAME = "file names that are options"
    DATA = "data evaluated as code"
    TOOL_CONFIG = "config and programs loaded through the environment or working tree"
    SHADOW = "repository programs named like tools"


class Evidence(StrEnum):
    EXEC = "exec"  # the marker program runs
    WRITE = "write"  # a marker file is written


@dataclass(frozen=True, slots=True)
class Payload:
    """One attack a fixture carries, and the marker that shows it ran."""

    name: str  # the marker: pwned-<name>
    family: Family
    carrier: str  # where it sits, e.g. ".git/config core.fsmonitor"
    evidence: Evidence

    def describe(self) -> str:
        return f"{self.family}: {self.carrier}"


@dataclass(frozen=True, slots=True)
class FixtureFile:
    """A file of a fixture, relative to the workspace."""

    path: str
    content: str | bytes
    mode: int = 0o644
    append: bool = False  # planted files only: appended to the file already there

    def data(self) -> bytes:
        return self.content.encode() if isinstance(self.content, str) else self.content


@dataclass(frozen=True, slots=True)
class Fixture:
    """A seed workspace: a base, files committed into it, shell, then planted files.

    Built in the container: the base fixture's tar (or the plain seed repository),
    then ``committed`` files added and committed, ``setup`` run, ``planted`` files
    written (not committed: ``.git/config``, hooks), and ``finish`` run. The git
    commands of the build run before anything hostile is planted in ``.git``.
    """

    name: str
    summary: str
    base: str | None = PLAIN
    committed: tuple[FixtureFile, ...] = ()
    planted: tuple[FixtureFile, ...] = ()
    setup: str = ""
    finish: str = ""
    message: str = "hostile"
    message_from: str = ""  # a committed file whose text is the commit message
    payloads: tuple[Payload, ...] = ()
    fresh_index: bool = False  # refresh git's index after each reset (the plain seed only)
    tool: str | None = None  # option-name fixtures: the tool whose options the names are

    @property
    def tar(self) -> str:
        return f"{FIXTURE_DIR}/{self.name}.tar"


# --- the pieces -------------------------------------------------------------------------

PLAIN_SEED = f"""git init -q -b main . && git config user.email oracle@airlock.invalid
git config user.name oracle && mkdir -p src docs
printf 'def main():\\n    print("hello")  # TODO: foo\\n' > src/app.py
printf 'alpha\\nbeta foo\\ngamma\\n' > notes.txt
printf '{{"name": "seed", "items": [1, 2, 3]}}\\n' > data.json
printf '# Seed\\nfoo bar\\n' > README.md
printf 'b\\na\\nc\\na\\n' > docs/list.txt
printf 'x y\\nfoo\\n' | gzip -c > docs/notes.gz
git add -A && GIT_AUTHOR_DATE={DATE} GIT_COMMITTER_DATE={DATE} git commit -qm seed
echo delta >> notes.txt
"""

# git config keys whose value is a program git runs, or a file it writes. Drivers named
# here (tc, drv, fl, fp, pv) are the ones ATTRIBUTES and SETTINGS refer to.
GIT_PROGRAM_KEYS = (
    ("core", "fsmonitor"), ("core", "pager"), ("core", "sshCommand"), ("core", "askPass"),
    ("core", "editor"), ("core", "gitProxy"), ("core", "alternateRefsCommand"),
    ("diff", "external"), ('diff "tc"', "textconv"), ('diff "drv"', "command"),
    ('diff "drv"', "textconv"), ('filter "fl"', "clean"), ('filter "fl"', "smudge"),
    ('filter "fp"', "process"), ("gpg", "program"), ('gpg "x509"', "program"),
    ('gpg "ssh"', "program"), ('man "pv"', "cmd"), ('man "pv"', "path"),
    ('browser "pv"', "cmd"), ("pager", "log"), ("pager", "diff"), ("pager", "show"),
    ("pager", "status"), ("pager", "grep"), ("pager", "branch"), ("sequence", "editor"),
    ("credential", "helper"), ("alias", "st"), ("alias", "l"),
)  # fmt: skip
GIT_OUTPUT_KEYS = (("trace2", "eventTarget"), ("trace2", "normalTarget"), ("trace2", "perfTarget"))
GIT_SETTINGS = (
    ("log", "showSignature", "true"), ("help", "format", "man"), ("man", "viewer", "pv"),
    ("web", "browser", "pv"), ("help", "autoCorrect", "immediate"),
    ("status", "showUntrackedFiles", "all"), ("diff", "noprefix", "false"),
)  # fmt: skip
# A process filter that does not speak git's protocol ends the command (fatal), which
# would hide every later payload: it applies only to legacy.proc, committed and then
# removed from the work tree, and only vendor/lib.git configures it
# (`git -C vendor/lib.git cat-file --filters HEAD:legacy.proc` runs it).
ATTRIBUTES = "* diff=tc filter=fl\n*.py diff=drv\n*.proc filter=fp\n"
HOOKS = (  # githooks(5), git 2.39
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "pre-commit",
    "pre-merge-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "pre-push",
    "pre-receive",
    "update",
    "proc-receive",
    "post-receive",
    "post-update",
    "reference-transaction",
    "push-to-checkout",
    "pre-auto-gc",
    "post-rewrite",
    "sendemail-validate",
    "fsmonitor-watchman",
    "p4-changelist",
    "p4-prepare-changelist",
    "p4-post-changelist",
    "p4-pre-submit",
    "post-index-change",
)


@dataclass
class _Payloads:
    """Collects the payloads of one fixture as its files are written."""

    items: list[Payload] = field(default_factory=list)

    def program(self, name: str, family: Family, carrier: str) -> str:
        self.items.append(Payload(name, family, carrier, Evidence.EXEC))
        return marker_program(name)

    def output(self, name: str, family: Family, carrier: str) -> str:
        self.items.append(Payload(name, family, carrier, Evidence.WRITE))
        return marker_file(name)


PROCESS_FILTER = ('filter "fp"', "process")


def git_config(
    prefix: str, path: str, found: _Payloads, family: Family, extra: str = "", process: bool = False
) -> str:
    """A git config file where every program key runs a marker, every output one writes
    (the process filter only where ``process``: see ATTRIBUTES)."""
    sections: dict[str, list[str]] = {}
    for section, key in GIT_PROGRAM_KEYS:
        if (section, key) == PROCESS_FILTER and not process:
            continue
        name = slug(f"{prefix}-{section}-{key}")
        program = found.program(name, family, f"{path} {section.replace(' ', '.')}.{key}")
        value = f"!{program}" if section in ("alias", "credential") else program
        sections.setdefault(section, []).append(f"\t{key} = {value}")
    for section, key in GIT_OUTPUT_KEYS:
        name = slug(f"{prefix}-{section}-{key}")
        target = found.output(name, family, f"{path} {section}.{key}")
        sections.setdefault(section, []).append(f"\t{key} = {target}")
    for section, key, value in GIT_SETTINGS:
        sections.setdefault(section, []).append(f"\t{key} = {value}")
    text = "".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items())
    return text + extra


def hook_files(directory: str, prefix: str, found: _Payloads, family: Family) -> list[FixtureFile]:
    """An executable hook of every name git runs, each running its own marker."""
    files = []
    for hook in HOOKS:
        program = found.program(slug(f"{prefix}-hook-{hook}"), family, f"{directory}/{hook}")
        files.append(FixtureFile(f"{directory}/{hook}", f'#!/bin/sh\n{program} "$@"\n', 0o755))
    return files


# Two commits rewritten with a signature header (x509, then PGP at HEAD): showing them
# runs gpg.x509.program and gpg.program.
SIGN_HEAD = f"""sign() {{ git cat-file commit HEAD | awk -v kind="$1" '
  {{ print }} /^committer / {{ print "gpgsig -----BEGIN " kind "-----"; print " AAAA";
  print " -----END " kind "-----" }}' > /tmp/signed && \\
  git update-ref HEAD "$(git hash-object -t commit -w /tmp/signed)" && rm /tmp/signed; }}
git commit -q --allow-empty -m x509 --date={DATE} && sign 'SIGNED MESSAGE'
git commit -q --allow-empty -m pgp --date={DATE} && sign 'PGP SIGNATURE'
"""

# What files hold, to be read into variables: each a way data becomes code in bash.
DATA_FORMS = (
    ("subscript", "b[$({prog})]"),
    ("subscript-write", "b[$(: >{out})]"),
    ("backquote", "b[`{prog}`]"),
    ("prompt", "$({prog})"),
    ("nested", "a[b[$({prog})]]"),
)
SHADOWED = ("cat", "ls", "grep", "sort", "sed", "head", "id")


def _data_files(found: _Payloads) -> list[FixtureFile]:
    lines = []
    for form, template in DATA_FORMS:
        name = f"data-{form}"
        carrier = f"payload.txt, vars.txt, hostile.json: {template}"
        if "{out}" in template:
            lines.append(template.format(out=found.output(name, Family.DATA, carrier)))
        else:
            lines.append(template.format(prog=found.program(name, Family.DATA, carrier)))
    option = f"-o{MARK}data-option"
    found.output("data-option", Family.DATA, f"option.txt, hostile.json: {option}")
    commit = found.program("data-commit", Family.DATA, "a commit message (git log --format=%s)")
    named = f"b[$(: >{MARK}data-filename)]"
    found.output("data-filename", Family.DATA, f"a file named {named}")
    quoted = lines[0].replace("\\", "\\\\").replace('"', '\\"')
    return [
        FixtureFile("payload.txt", lines[0] + "\n"),
        FixtureFile("vars.txt", "\n".join([*lines, option]) + "\n"),
        FixtureFile("option.txt", option + "\n"),
        FixtureFile("hostile.json", f'{{"name": "{quoted}", "items": ["{option}"]}}\n'),
        FixtureFile(".commit-message", f"b[$({commit})]\n"),
        FixtureFile(named, "a file name that is code\n"),
        FixtureFile("legacy.proc", "run through the process filter\n"),
    ]


def _tool_files(found: _Payloads) -> list[FixtureFile]:
    """Repository programs, and config that tools load through the environment."""
    shadow, config = Family.SHADOW, Family.TOOL_CONFIG
    files = [
        FixtureFile(n, f'#!/bin/sh\n{found.program(f"shadow-{n}", shadow, n)} "$@"\n', 0o755)
        for n in SHADOWED
    ]
    run = found.program("repo-tool", shadow, "tools/run, a repository program")
    files.append(FixtureFile("tools/run", f'#!/bin/sh\n{run} "$@"\n', 0o755))
    rg_pre = found.program("ripgreprc-pre", config, ".ripgreprc --pre (RIPGREP_CONFIG_PATH)")
    rg_host = found.program("ripgreprc-hostname", config, ".ripgreprc --hostname-bin")
    files.append(FixtureFile(".ripgreprc", f"--pre={rg_pre}\n"))
    hyperlink = f"--hostname-bin={rg_host}\n--hyperlink-format=default\n"  # ripgrep 14
    files.append(FixtureFile(".ripgreprc-hyperlink", hyperlink))
    awk = found.program("code-awk", config, "lib.awk and lib (awk -f, @include, AWKPATH)")
    awk_out = found.output("code-awk-write", config, "lib.awk print >")
    files.append(FixtureFile("lib.awk", f'BEGIN {{ system("{awk}"); print 1 > "{awk_out}" }}\n'))
    files.append(FixtureFile("lib", f'BEGIN {{ system("{awk}") }}\n'))
    sed = found.program("code-sed", config, "script.sed (sed -f)")
    sed_out = found.output("code-sed-write", config, "script.sed w")
    files.append(FixtureFile("script.sed", f"1e {sed}\nw {sed_out}\n"))
    for prefix, path in (("home", ".gitconfig"), ("xdg", ".config/git/config"),
                         ("xdgroot", "git/config")):  # fmt: skip
        files.append(FixtureFile(path, git_config(prefix, path, found, config)))
    files.append(FixtureFile(".config/git/attributes", ATTRIBUTES))
    files.append(FixtureFile("git/attributes", ATTRIBUTES))
    return files


def _hostile_files() -> Fixture:
    found = _Payloads()
    files = [*_data_files(found), *_tool_files(found)]
    return Fixture(
        name="hostile-files",
        summary="payloads in data files, a commit message and a file name; repository "
        "programs named like tools; .ripgreprc, lib.awk, script.sed; git config under "
        "HOME and XDG_CONFIG_HOME",
        committed=tuple(files),
        message_from=".commit-message",
        finish="rm legacy.proc\n",
        payloads=tuple(found.items),
    )


def _git_config_fixture() -> Fixture:
    found = _Payloads()
    hooks_path = "[core]\n\thooksPath = .githooks\n"
    config = git_config("gitconfig", ".git/config", found, Family.REPO_CONFIG, hooks_path)
    hooks = hook_files(".githooks", "hookspath", found, Family.HOOKS)
    return Fixture(
        name="git-config",
        summary=".git/config runs a marker from every program key; .gitattributes "
        "routes every file through its drivers; core.hooksPath to committed hooks; "
        "signed commits",
        base="hostile-files",
        committed=(FixtureFile(".gitattributes", ATTRIBUTES), *hooks),
        setup=SIGN_HEAD,
        planted=(FixtureFile(".git/config", "\n" + config, append=True),),
        payloads=tuple(found.items),
    )


def _git_hooks_fixture() -> Fixture:
    found = _Payloads()
    hooks = hook_files(".git/hooks", "hooks", found, Family.HOOKS)
    included = git_config("include", "extra.gitconfig", found, Family.REPO_CONFIG)
    return Fixture(
        name="git-hooks",
        summary=".git/hooks holds every hook; .git/info/attributes; .git/config "
        "includes a committed extra.gitconfig with payloads",
        base="hostile-files",
        committed=(FixtureFile("extra.gitconfig", included),),
        setup=SIGN_HEAD,
        planted=(
            *hooks,
            FixtureFile(".git/info/attributes", ATTRIBUTES),
            FixtureFile(".git/config", "[include]\n\tpath = ../extra.gitconfig\n", append=True),
        ),
        payloads=tuple(found.items),
    )


def _bare_repo_fixture() -> Fixture:
    found = _Payloads()
    planted: list[FixtureFile] = []
    for prefix, gitdir, core in (
        ("bare", "sub", "[core]\n\tbare = false\n\tworktree = ..\n"),
        ("vendor", "vendor/lib.git", ""),
    ):
        text = git_config(prefix, f"{gitdir}/config", found, Family.BARE_REPO, core, not core)
        planted.append(FixtureFile(f"{gitdir}/config", text, append=True))
        planted.append(FixtureFile(f"{gitdir}/info/attributes", ATTRIBUTES))
        planted.extend(hook_files(f"{gitdir}/hooks", prefix, found, Family.BARE_REPO))
    clone = (
        "git clone -q --bare . sub && mkdir -p vendor && git clone -q --bare . vendor/lib.git"
        " && rm -f sub/hooks/*.sample vendor/lib.git/hooks/*.sample\n"
    )
    return Fixture(
        name="bare-repo",
        summary="bare repositories committed as ordinary files: sub/ (with core.worktree "
        "..) and vendor/lib.git, each with payloads in config, attributes and hooks",
        base="hostile-files",
        setup=SIGN_HEAD + clone,
        planted=tuple(planted),
        finish=f"git add -f -- sub vendor && git commit -q --date={DATE} -m 'vendored repos'\n",
        payloads=tuple(found.items),
    )


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
                found = _Payloads()
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


# --- the catalogue ----------------------------------------------------------------------


def _catalogue() -> dict[str, Fixture]:
    fixtures = [
        Fixture(PLAIN, "the plain seed repository", base=None, fresh_index=True),
        _hostile_files(),
        _git_config_fixture(),
        _git_hooks_fixture(),
        _bare_repo_fixture(),
        *option_name_fixtures(),
    ]
    return {f.name: f for f in fixtures}


FIXTURES: dict[str, Fixture] = _catalogue()
"""Every fixture by name, each after its base."""


def _payload_index() -> dict[str, tuple[Payload, str]]:
    index: dict[str, tuple[Payload, str]] = {}
    for fixture in FIXTURES.values():
        for payload in fixture.payloads:
            if payload.name in index:
                raise ValueError(f"two payloads named {payload.name}")
            index[payload.name] = (payload, fixture.name)
    return index


PAYLOADS: dict[str, tuple[Payload, str]] = _payload_index()
"""Every payload by marker name, with the fixture that carries it (and its descendants)."""


def payload_named(marker: str) -> tuple[Payload, str] | None:
    """The payload a marker names; a longer marker (sed's ``pwned-X-notes.txt``) counts
    as the payload whose name it extends."""
    while marker:
        if marker in PAYLOADS:
            return PAYLOADS[marker]
        marker = marker[: max(marker.rfind("-"), marker.rfind("."), 0)]
    return None


def fixtures_for(tool: str) -> list[str]:
    """The option-name fixtures of a tool (``git diff`` for git's)."""
    return [f.name for f in FIXTURES.values() if f.tool == tool]


# --- building in the container ----------------------------------------------------------


def layers_tar(fixtures: Iterable[Fixture]) -> bytes:
    """Every fixture's files, under ``<name>/committed/`` and ``<name>/planted/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for fixture in fixtures:
            for part, files in (("committed", fixture.committed), ("planted", fixture.planted)):
                for item in files:
                    data = item.data()
                    info = tarfile.TarInfo(f"{fixture.name}/{part}/{item.path}")
                    info.size, info.mode, info.mtime = len(data), item.mode, 1_700_000_000
                    tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def marker_script() -> str:
    """Shell that makes the marker program and a link for every payload."""
    names = " ".join(shlex.quote(MARK + name) for name in sorted(PAYLOADS))
    return (
        f"mkdir -p {MARKER_BIN} {FIXTURE_DIR} && cd {MARKER_BIN} && "
        f"printf %s {shlex.quote(MARKER_SCRIPT)} > pwned && chmod 755 pwned && "
        f'for n in {names}; do ln -sf pwned "$n"; done\n'
    )


def build_script(fixture: Fixture) -> str:
    """Shell, run in the container, that builds one fixture into its tar."""
    layer = f"{LAYER_DIR}/{fixture.name}"
    lines = [
        "set -e",
        f"cd / && chmod -R u+rwX {WORKSPACE} 2>/dev/null || true",
        f"rm -rf {WORKSPACE}/* {WORKSPACE}/.[!.]* {WORKSPACE}/..?* && cd {WORKSPACE}",
    ]
    if fixture.base is None:
        lines.append(PLAIN_SEED)
    else:
        lines.append(f"tar -x -f {FIXTURES[fixture.base].tar}")
    if fixture.committed:
        tops = sorted({f.path.split("/", 1)[0] for f in fixture.committed})
        lines.append(f"cp -a {layer}/committed/. .")
        lines.append("git add -f -- " + " ".join(shlex.quote(t) for t in tops))
        lines.append(f"GIT_AUTHOR_DATE={DATE} GIT_COMMITTER_DATE={DATE} git commit -q -F -")
        lines[-1] = f"printf '%s\\n' {shlex.quote(fixture.message)} | {lines[-1]}"
        if fixture.message_from:
            lines[-1] = lines[-1].replace("-F -", f"-F {shlex.quote(fixture.message_from)}")
    if fixture.setup:
        lines.append(fixture.setup)
    for item in fixture.planted:
        source, target = shlex.quote(f"{layer}/planted/{item.path}"), shlex.quote(item.path)
        parent = shlex.quote(item.path.rsplit("/", 1)[0]) if "/" in item.path else "."
        verb = ">>" if item.append else ">"
        lines.append(f"mkdir -p -- {parent} && cat -- {source} {verb} {target}")
        lines.append(f"chmod {item.mode:o} -- {target}")
    if fixture.finish:
        lines.append(fixture.finish)
    lines.append(f"find . -exec touch -h -d {DATE} {{}} +")
    lines.append(f"tar -c -f {fixture.tar} .")
    return "\n".join(lines) + "\n"
