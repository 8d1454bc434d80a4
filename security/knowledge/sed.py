"""sed: which scripts only read, where the scripts of an argv are, and in-place edits."""

from __future__ import annotations

from security.argv import has_option, operands
from security.knowledge.spec import words

_SED_SAFE_COMMANDS = frozenset("pdqQ=nNPDhHgGxlzF{}:btTrR#")


def sed_script_problem(script: str) -> str | None:
    """Why a sed script is not read-only (e, w, W, s///e, s///w), or None."""
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch in " \t\n;!":
            i += 1
            continue
        if ch.isdigit() or ch in "$,~+":
            i += 1
            continue
        if ch == "/" or ch == "\\":
            delim = "/" if ch == "/" else (script[i + 1] if i + 1 < n else "/")
            i = _sed_skip_regex(script, i + (1 if ch == "/" else 2), delim)
            i += 1
            while i < n and script[i] in "IM":
                i += 1
            continue
        if ch in "sy":
            if i + 1 >= n:
                return "incomplete sed command"
            delim = script[i + 1]
            j = _sed_skip_regex(script, i + 2, delim)
            j = _sed_skip_regex(script, j + 1, delim)
            flags_start = j + 1
            k = flags_start
            while k < n and script[k] not in ";\n}":
                k += 1
            flags = script[flags_start:k]
            if ch == "s" and ("e" in flags or "w" in flags or "W" in flags):
                return f"sed s///{flags.strip()} runs or writes"
            i = k
            continue
        if ch in "aic":
            i = script.find("\n", i)
            i = n if i < 0 else i
            continue
        if ch in "btT:rR#":
            end = script.find("\n", i)
            if ch in "btT":
                semi = script.find(";", i)
                end = semi if semi >= 0 and (end < 0 or semi < end) else end
            i = n if end < 0 else end
            continue
        if ch in "ewWv":
            return f"sed command {ch!r} runs or writes"
        if ch in _SED_SAFE_COMMANDS:
            i += 1
            continue
        return f"sed command {ch!r} not understood"
    return None


def _sed_skip_regex(script: str, i: int, delim: str) -> int:
    """Index of the next unescaped ``delim`` from ``i`` (len(script) if none)."""
    while i < len(script):
        if script[i] == "\\":
            i += 2
            continue
        if script[i] == delim:
            return i
        i += 1
    return len(script)


def sed_scripts(argv: list[str]) -> tuple[list[str], str | None]:
    """The scripts of a sed argv, or a reason they cannot be known (-f FILE)."""
    scripts: list[str] = []
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1])
            i += 2
            continue
        if arg.startswith("--expression="):
            scripts.append(arg.split("=", 1)[1])
        elif arg in ("-f", "--file") or arg.startswith("--file="):
            return scripts, "sed -f runs a script from a file"
        elif arg.startswith("-e") and len(arg) > 2:
            scripts.append(arg[2:])
        i += 1
    if not scripts:
        rest = operands(args)
        if rest:
            scripts.append(rest[0])
    return scripts, None


def sed_edits_in_place(argv: list[str]) -> bool:
    """Whether sed edits its files: ``-i``, ``-i.bak``, ``-ni``, ``--in-place[=SUF]``.

    Generous on purpose: an ``i`` in any short-option cluster counts, even after ``--``.
    """
    return has_option(argv[1:], "i", ("in-place",)) is not None or any(
        a.startswith("-") and not a.startswith("--") and "i" in a[1:] for a in argv[1:]
    )


def sed_read_only_problem(argv: list[str]) -> str | None:
    """Why a sed argv is not proven read-only, or None."""
    if sed_edits_in_place(argv):
        return "sed -i edits files"
    for arg in argv[1:]:  # GNU getopt takes `--e=...` for --expression: refuse the guesswork
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else ""
        if name and name not in _SED_LONG and any(o.startswith(name) for o in _SED_LONG):
            return f"sed {arg}: an abbreviated option"
    scripts, problem = sed_scripts(argv)
    if problem:
        return problem
    for script in scripts:
        problem = sed_script_problem(script)
        if problem:
            return problem
    return None


_SED_LONG = tuple(
    words(
        """
        expression file in-place null-data quiet silent regexp-extended separate unbuffered
        line-length posix sandbox debug follow-symlinks binary zero-terminated help version
        """
    )
)
