"""pip and npm: how their argv names a subcommand, where an install writes, and what
is left to judge once the session's egress proxy decides which hosts they reach.

pip (23.0.1 in Debian bookworm, 26.3 in the project's venv: `pip <sub> --help` of both)
reads its argv with optparse: general options may come before the subcommand (``pip
--proxy P install x``), long options take ``=value`` or the next word and may be
abbreviated. npm reads any ``--key[=value]`` as configuration (nopt, abbreviations
included) and a few letters as shorthands (``-g`` is ``--global``, ``-C`` is
``--prefix``); it is read generously here: a false match only asks.

Both honour the session's ``HTTPS_PROXY``. A requirements file, ``pip.conf`` in a
virtual environment and ``.npmrc`` in the project are the attacker's: through them an
install may name other indexes and registries (the proxy judges their hosts), run the
project's code (setup.py, lifecycle scripts, ``script-shell``), or point at a proxy of
their own (which the sandbox makes fail). None of that runs anything the ``dev`` policy
does not already run, so what is judged is what the line itself says: where it
installs (`pip_written_paths`, `npm_written_paths`: the workspace checks judge those
paths), a global or ``--user`` install (`install_outside`), and options that route
around the proxy (`install_route`).
"""

from __future__ import annotations

import re

from security.argv import Parsed, getopt
from security.knowledge.spec import words

PIP_INSTALLS = frozenset({"install", "download", "wheel"})
NPM_INSTALLS = frozenset({"install", "i", "ci", "add", "update", "install-test", "it"})
# Installers reviewed for sessions with an egress proxy, and their subcommands that
# fetch packages into the project. Others (yarn, pnpm, bun, uv, poetry, gem, cargo, go,
# apt...) and other subcommands (npm exec, npx, pipx) still ask.
PROXIED_INSTALLS: dict[str, frozenset[str]] = {
    "pip": PIP_INSTALLS,
    "pip3": PIP_INSTALLS,
    "npm": NPM_INSTALLS,
}

_PIP_VALUES = """
    abi all-releases build-constraint cache-dir cert client-cert exists-action
    extra-index-url group implementation keyring-provider log log-file no-binary
    only-binary only-final platform progress-bar proxy python python-version
    refresh-package report requirements-from-script resume-retries retries root
    root-user-action src timeout trusted-host upgrade-strategy uploaded-prior-to
    use-deprecated use-feature config-settings constraint dest editable find-links
    index-url requirement target wheel-dir prefix install-option global-option
    build-option editor
"""
_PIP_FLAGS = """
    break-system-packages check-build-dependencies compile debug
    disable-pip-version-check dry-run force-reinstall ignore-requires-python isolated
    no-build-isolation no-cache-dir no-clean no-color no-compile no-deps no-index
    no-input no-proxy-env no-require-hashes no-verify no-warn-conflicts
    no-warn-script-location only-deps pre prefer-binary require-hashes
    require-virtualenv user ignore-installed upgrade help quiet verbose version
    use-pep517 no-use-pep517 no-python-version-warning global site
"""
# pip's general options and those of install, download, wheel and config, as one table
PIP = getopt(
    "r:c:e:t:UIC:i:f:hvqVd:w:",
    " ".join([*(f"{name}=" for name in words(_PIP_VALUES)), *words(_PIP_FLAGS)]),
)
_PIP_SHORT = {"-t": "--target", "-d": "--dest", "-w": "--wheel-dir"}
# where pip writes, by option (the value is a folder or a file; `-` is standard output)
_PIP_WRITES = frozenset(
    words("--target --prefix --root --src --log --log-file --report --dest --wheel-dir")
) | {"--cache-dir"}
_PIP_CONFIG_WRITES = frozenset({"set", "unset", "edit"})
_PIP_CONFIG_FILES = {
    "--global": "/etc/xdg/pip/pip.conf",
    "--site": "$VIRTUAL_ENV/pip.conf",
    "--user": "~/.config/pip/pip.conf",
}


PIP_NAMES = re.compile(r"pip[\d.]*")  # pip, pip3, pip3.11


def installer(name: str) -> str:
    """The installer a command name runs, as the tables name it: ``pip3.11`` is pip."""
    return "pip" if name not in ("pip", "pip3") and PIP_NAMES.fullmatch(name) else name


def pip_argv(argv: list[str]) -> list[str] | None:
    """The pip argv a command runs (``python3 -m pip ARGS`` is ``pip ARGS``), or None."""
    name = argv[0].rsplit("/", 1)[-1] if argv else ""
    if PIP_NAMES.fullmatch(name):
        return argv
    if argv[1:3] == ["-m", "pip"]:
        return ["pip", *argv[3:]]
    return None


def read_pip_argv(argv: list[str]) -> tuple[str, Parsed]:
    """(subcommand, options) of a pip argv: the subcommand is its first operand, after
    general options and their values (``pip --log L install``: install)."""
    parsed = PIP.parse(argv[1:])
    sub = argv[1 + parsed.operands[0]] if parsed.operands else ""
    return sub, parsed


def pip_written_paths(argv: list[str]) -> list[tuple[str, str]]:
    """(path, how) for each place a pip argv names to write: an install's ``--target``,
    ``--prefix``, ``--root``, ``--src``, a log or report, a download folder; ``--user``
    (``~/.local``); the configuration file ``pip config set`` writes."""
    sub, parsed = read_pip_argv(argv)
    found: list[tuple[str, str]] = []
    for option in parsed.options:
        name = _PIP_SHORT.get(option.name, option.name)
        if name in _PIP_WRITES and option.value not in (None, "-"):
            found.append((option.value or "", f"pip {sub} {name}"))
        elif name == "--user" and sub in PIP_INSTALLS:
            found.append(("~/.local", f"pip {sub} --user"))
    operands = [argv[1 + i] for i in parsed.operands]
    if parsed.error:  # read generously: what follows the error may be anything
        operands = [sub, *(a for a in argv[2:] if a in _PIP_CONFIG_WRITES)]
    if sub == "config" and operands[1:2] and operands[1] in _PIP_CONFIG_WRITES:
        chosen = [o.name for o in parsed.options if o.name in _PIP_CONFIG_FILES]
        for flag in chosen or ["--user"]:
            found.append((_PIP_CONFIG_FILES[flag], f"pip config {operands[1]}"))
    return found


# npm's configuration keys that take a value, as a word after them may be one
_NPM_VALUES = frozenset(
    words(
        """
        --prefix -C --registry --cache --userconfig --globalconfig --loglevel --location
        --workspace -w --proxy --https-proxy --noproxy --script-shell --otp --tag --access
        --omit --include --install-strategy
        """
    )
)
_NPM_CONFIG = frozenset({"config", "c"})
_NPM_CONFIG_WRITES = frozenset({"set", "delete", "edit", "fix"})


def npm_subcommand(argv: list[str]) -> tuple[str, list[str]]:
    """(subcommand, the words after it) of an npm argv: its first word that is neither
    an option nor the value of one that takes a value (``npm --prefix web ci``: ci)."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in _NPM_VALUES:
            i += 2
        elif arg.startswith("-"):
            i += 1
        else:
            return arg, argv[i + 1 :]
    return "", []


def _option_values(args: list[str], short: str, long: str) -> list[str]:
    """Values of ``-S VALUE``, ``--long VALUE``, ``--long=VALUE`` (and abbreviations of
    ``--long`` of three letters or more), read generously."""
    values: list[str] = []
    for i, arg in enumerate(args):
        name, equals, value = arg.partition("=")
        if name == short or (
            name.startswith("--") and len(name) >= 5 and long.startswith(name[2:])
        ):
            if equals:
                values.append(value)
            elif i + 1 < len(args):
                values.append(args[i + 1])
    return values


def npm_global(args: list[str]) -> bool:
    """Whether npm runs on its global prefix: ``-g`` (alone or among shorthands),
    ``--global`` (or an abbreviation) but ``--global=false``, ``--location=global``."""
    for arg in args:
        name, _, value = arg.partition("=")
        if name.startswith("--"):
            if len(name) > 2 and "global".startswith(name[2:]) and value != "false":
                return True
        elif name.startswith("-") and "g" in name[1:]:
            return True
    return "global" in _option_values(args, "", "location")


def npm_written_paths(argv: list[str]) -> list[tuple[str, str]]:
    """(path, how) for each place an npm argv names to write: an install's ``--prefix``
    (``-C``) folder; the ``.npmrc`` that ``npm config set`` (``npm set``) writes."""
    sub, rest = npm_subcommand(argv)
    args = argv[1:]
    found: list[tuple[str, str]] = []
    if sub in NPM_INSTALLS:
        found += [(value, f"npm {sub} --prefix") for value in _option_values(args, "-C", "prefix")]
    action = rest[0] if sub in _NPM_CONFIG and rest else ("set" if sub == "set" else "")
    if action in _NPM_CONFIG_WRITES:
        location = (_option_values(args, "", "location") or ["user"])[-1]
        if npm_global(args) or location == "global":
            found.append(("/usr/etc/npmrc", f"npm config {action}"))
        elif location == "project":
            found.append((".npmrc", f"npm config {action}"))
        else:
            found.append(("~/.npmrc", f"npm config {action}"))
    return found


def install_outside(tool: str, args: list[str]) -> str | None:
    """Why an install by ``tool`` (pip or npm, ``args`` after its name) goes outside the
    project whatever the paths say: a global npm install, ``pip --user``. (An install
    into a named folder is judged by the workspace checks, through the written paths.)"""
    if tool == "npm" and npm_global(args):
        return "npm -g installs into the global prefix, outside the workspace"
    if tool in ("pip", "pip3"):
        sub, parsed = read_pip_argv([tool, *args])
        if parsed.error:
            return f"pip: {parsed.error} (an option the analyzer does not know)"
        if any(option.name == "--user" for option in parsed.options):
            return f"pip {sub} --user installs into ~/.local, outside the workspace"
    return None


def install_route(tool: str, args: list[str]) -> str | None:
    """The option by which pip or npm would reach hosts around the session's proxy."""
    if tool in ("pip", "pip3"):
        _, parsed = read_pip_argv([tool, *args])
        for option in parsed.options:
            if option.name in ("--proxy", "--no-proxy-env"):
                return f"pip {option.name} reaches hosts around the session's proxy"
        return None
    for key in ("proxy", "https-proxy", "noproxy"):
        if _option_values(args, "", key) or f"--no-{key}" in args:
            return f"npm --{key} reaches hosts around the session's proxy"
    return None
