"""The hostile repositories: config, attributes, hooks, embedded repositories, data.

Made from tables (git's program and output config keys, githooks(5), the forms in which
data becomes code in bash), each payload running or writing its own marker
(`orchestrator.devtools.prove.fixture`). `repository_fixtures` returns them, plain seed first.
"""

from __future__ import annotations

from orchestrator.devtools.prove.fixture import (
    DATE,
    MARK,
    PLAIN,
    Family,
    Fixture,
    FixtureFile,
    Payloads,
    slug,
)

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
    "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
    "prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout",
    "post-merge", "pre-push", "pre-receive", "update", "proc-receive", "post-receive",
    "post-update", "reference-transaction", "push-to-checkout", "pre-auto-gc", "post-rewrite",
    "sendemail-validate", "fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist",
    "p4-post-changelist", "p4-pre-submit", "post-index-change",
)  # fmt: skip


PROCESS_FILTER = ('filter "fp"', "process")


def git_config(
    prefix: str, path: str, found: Payloads, family: Family, extra: str = "", process: bool = False
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


def hook_files(directory: str, prefix: str, found: Payloads, family: Family) -> list[FixtureFile]:
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


def _data_files(found: Payloads) -> list[FixtureFile]:
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


def _tool_files(found: Payloads) -> list[FixtureFile]:
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
    found = Payloads()
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
    found = Payloads()
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
    found = Payloads()
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
    found = Payloads()
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


def repository_fixtures() -> list[Fixture]:
    """The plain seed, then the hostile repositories (each after its base)."""
    return [
        Fixture(PLAIN, "the plain seed repository", base=None, fresh_index=True),
        _hostile_files(),
        _git_config_fixture(),
        _git_hooks_fixture(),
        _bare_repo_fixture(),
    ]
