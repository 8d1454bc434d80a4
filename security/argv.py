"""Reading options and operands out of an argv, the way GNU getopt does.

Two levels: `has_option`/`operands` are generous scans (a false match only asks);
`Getopt` is a faithful model of glibc's ``getopt_long`` for one program's table
(clusters, attached and detached values, optional values that only attach,
unambiguous prefixes of long options, ``--``, and ``+`` tables that stop at the
first operand). What the model does not know is an error, never a guess.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field


def has_option(
    args: list[str],
    short: str = "",
    long: Collection[str] = (),
    values: Collection[str] | None = None,
    flags: Collection[str] = (),
) -> str | None:
    """The first argument that is one of the given options, before ``--``; else None.

    Short options match inside clusters (``-rf`` holds ``f``); long ones match with
    ``=value`` and as any prefix, since GNU getopt takes an unambiguous one of any
    length (``--s`` for date's ``--set``). Matching is deliberately generous: a false
    match only asks. ``values``: every option that takes a detached value, when the
    program's table is complete (see `ends_options`).
    """
    for i, arg in enumerate(args):
        if arg[:1] != "-" or len(arg) < 2:
            continue  # an operand, or `-` (standard input)
        if arg[1] != "-":
            if any(map(short.__contains__, arg[1:])):
                return arg
        elif len(arg) == 2:
            if ends_options(args, i, values, flags):
                return None  # `--`: options end here
        else:
            name = arg[2:].split("=", 1)[0]
            if any(opt.startswith(name) for opt in long):  # any prefix, as GNU getopt
                return arg
    return None


def ends_options(
    args: list[str],
    i: int,
    values: Collection[str] | None = None,
    flags: Collection[str] = (),
) -> bool:
    """Whether ``args[i]`` is a ``--`` that ends the options for certain.

    Not when the word before it is an option that takes the next word as its value:
    getopt gives it the ``--`` and reads on (``sort --random-source -- -oX a`` wrote X,
    ``rg -e -- --pre=./x p`` ran x). ``values`` lists every option of the program that
    takes a detached value (``-k``, ``--key``); without it any option before the ``--``
    may (a generous reading: a wrong guess only asks), but for ``flags``, options known
    never to take one (git's ``-p``, ``--stat``).
    """
    if args[i] != "--":
        return False
    before = args[i - 1] if i > 0 else ""
    if before[:1] != "-" or len(before) < 2 or before == "--" or before in flags:
        return True  # an operand, a flag (or `--`, the value of the option before it)
    if before.startswith("--"):
        if "=" in before:
            return True
        name = before[2:]
        return values is not None and not any(
            v.startswith("--") and v[2:].startswith(name) for v in values
        )
    if values is None:
        return False
    letters = before[1:]
    for pos, letter in enumerate(letters):
        if f"-{letter}" in values:
            return pos + 1 < len(letters)  # the rest of the cluster is its value
    return True


def operands(args: list[str], with_value: Iterable[str] = ()) -> list[str]:
    """Arguments that are not options (everything after ``--`` counts).

    ``with_value`` names options whose value is the next argument (``-l 64``).
    """
    takes_value = frozenset(with_value)
    out: list[str] = []
    after_dashes = skip = False
    for arg in args:
        if skip:
            skip = False
        elif after_dashes:
            out.append(arg)
        elif arg == "--":
            after_dashes = True
        elif arg.startswith("-") and len(arg) > 1:
            skip = arg in takes_value
        else:
            out.append(arg)
    return out


class Arg(enum.Enum):
    """Whether an option takes a value (getopt's ``:`` and ``::``)."""

    NONE = "none"
    REQUIRED = "required"  # attached (-n5, --max=5) or the next word (-n 5, --max 5)
    OPTIONAL = "optional"  # attached only (-i{}, --replace=R); never the next word


@dataclass(frozen=True, slots=True)
class Option:
    """One option as getopt returns it."""

    name: str  # "-i" or "--replace" (a long option by its full name, never a prefix)
    value: str | None
    first: int  # index of the word it starts in
    last: int  # index of the last word it used (first + 1 for a detached value)


@dataclass(slots=True)
class Parsed:
    """What getopt made of an argv (``args``, without the program name)."""

    options: list[Option] = field(default_factory=list)
    operands: list[int] = field(default_factory=list)  # indices into args
    stop: int = 0  # index where option parsing ended (first operand, or after `--`)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Getopt:
    """One program's getopt_long table.

    Built with `getopt`: ``getopt("+0a:e::", "null arg-file= eof[=]")``. A leading
    ``+`` stops at the first operand (wrappers: the rest is the command they run);
    otherwise options and operands mix, as GNU getopt permutes them.
    """

    short: Mapping[str, Arg]
    long: Mapping[str, Arg]
    permute: bool = True

    def resolve(self, name: str) -> tuple[str | None, str | None]:
        """(full long name, None) for an exact name or unambiguous prefix; else (None, why)."""
        if name in self.long:
            return name, None
        matches = [full for full in self.long if full.startswith(name)]
        if len(matches) == 1:
            return matches[0], None
        if matches:
            return None, f"--{name} is ambiguous ({', '.join('--' + m for m in matches)})"
        return None, f"unknown option --{name}"

    def parse(self, args: list[str]) -> Parsed:
        """Options and operands of ``args``; the first thing not understood is an error."""
        out = Parsed()
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                out.stop = i + 1
                out.operands.extend(range(i + 1, len(args)))
                return out
            if arg[:1] != "-" or arg == "-":
                if not self.permute:
                    out.stop = i
                    out.operands.extend(range(i, len(args)))
                    return out
                out.operands.append(i)
                i += 1
                continue
            step = self._long(args, i, out) if arg[1] == "-" else self._cluster(args, i, out)
            if step is None:
                out.stop = i
                return out
            i = step
        out.stop = len(args)
        return out

    def _long(self, args: list[str], i: int, out: Parsed) -> int | None:
        name, eq, value = args[i][2:].partition("=")
        full, problem = self.resolve(name)
        if full is None:
            out.error = problem
            return None
        kind = self.long[full]
        if kind is Arg.NONE and eq:
            out.error = f"--{full} takes no value"
            return None
        if kind is Arg.REQUIRED and not eq:
            if i + 1 >= len(args):
                out.error = f"--{full} needs a value"
                return None
            out.options.append(Option("--" + full, args[i + 1], i, i + 1))
            return i + 2
        out.options.append(Option("--" + full, value if eq else None, i, i))
        return i + 1

    def _cluster(self, args: list[str], i: int, out: Parsed) -> int | None:
        cluster = args[i][1:]
        for pos, letter in enumerate(cluster):
            kind = self.short.get(letter)
            if kind is None:
                out.error = f"unknown option -{letter}"
                return None
            rest = cluster[pos + 1 :]
            if kind is Arg.NONE:
                out.options.append(Option("-" + letter, None, i, i))
                continue
            if rest or kind is Arg.OPTIONAL:
                out.options.append(Option("-" + letter, rest or None, i, i))
                return i + 1
            if i + 1 >= len(args):
                out.error = f"-{letter} needs a value"
                return None
            out.options.append(Option("-" + letter, args[i + 1], i, i + 1))
            return i + 2
        return i + 1


def getopt(optstring: str, longopts: str = "") -> Getopt:
    """A `Getopt` from getopt's own notation.

    ``optstring``: letters, ``x:`` for a required value, ``x::`` for an optional one,
    a leading ``+`` to stop at the first operand. ``longopts``: space-separated names,
    ``name=`` for a required value, ``name[=]`` for an optional one.
    """
    permute = not optstring.startswith("+")
    letters = optstring.lstrip("+")
    short: dict[str, Arg] = {}
    i = 0
    while i < len(letters):
        letter = letters[i]
        colons = len(letters[i + 1 :]) - len(letters[i + 1 :].lstrip(":"))
        short[letter] = (Arg.NONE, Arg.REQUIRED, Arg.OPTIONAL)[min(colons, 2)]
        i += 1 + colons
    long: dict[str, Arg] = {}
    for spec in longopts.split():
        if spec.endswith("[=]"):
            long[spec[:-3]] = Arg.OPTIONAL
        elif spec.endswith("="):
            long[spec[:-1]] = Arg.REQUIRED
        else:
            long[spec] = Arg.NONE
    return Getopt(short, long, permute)


# Word shapes: what a word the shell expands at run time may turn into.

_GLOB = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Shape:
    """What a run-time word may become (judged on its raw text, conservatively)."""

    may_be_option: bool  # its expansion may start with `-`
    may_split: bool  # it may become several words, or none (globs, unquoted $x, braces)


FIXED = Shape(False, False)


def shape(raw: str) -> Shape:
    """How the word ``raw`` may expand: whether it may start with ``-`` or split.

    Only what is certain counts as safe: a word whose first character is a plain
    character other than ``-`` (``src/*.py``, ``"docs"/*``, ``~/x``) and that splits
    only by globbing or brace expansion cannot become an option: every word it
    makes starts with that character. An unquoted ``$x`` splits into words that may
    start with anything (``HEAD:$f`` with ``f='x --output=y'``), and so may be an
    option wherever it is. Command substitution anywhere counts as unquoted (its
    quoting is not scanned).
    """
    unquoted = _unquoted_expansions(raw)
    split = unquoted or _may_glob(raw)
    return Shape(_may_start_with_dash(raw) or unquoted, split)


def _may_start_with_dash(raw: str) -> bool:
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch in "\"'":
            if raw[i + 1 : i + 2] == ch:
                i += 2  # an empty quoted string: look on
                continue
            inner = raw[i + 1 : i + 2]
            return (ch == '"' and inner in ("$", "`")) or inner in ("-", "")
        if ch == "\\":
            return raw[i + 1 : i + 2] in ("-", "", "\n")
        if ch == "~" and i == 0:
            return _tilde_may_start_with_dash(raw)
        if ch == "{":
            return _brace_may_expand(raw, i)
        if ch in "@!+":
            return raw[i + 1 : i + 2] == "("  # extglob patterns
        return ch in "-$`(" or ch in _GLOB
    return False


def _tilde_may_start_with_dash(raw: str) -> bool:
    """``~`` and ``~/...`` are the home directory, ``~user`` a user's: absolute paths.
    ``~-``, ``~+`` and ``~N`` (``~+N``, ``~-N``) are $OLDPWD, $PWD and the directory
    stack, which the same line may set from data (``OLDPWD=-oX; sort ~- a``)."""
    prefix = raw[1:].split("/", 1)[0]
    return bool(prefix) and (prefix[0] in "+-" or prefix[0].isdigit())


def _brace_may_expand(raw: str, start: int) -> bool:
    """Brace expansion needs a comma or a ``..`` sequence inside: ``{}`` stays itself."""
    rest = raw[start:]
    return "," in rest or ".." in rest


# The body of a ${...} that makes one word per element even inside double quotes.
_MANY_WORDS = re.compile(r"@|!?[A-Za-z_]\w*\[@\]|![A-Za-z_]\w*@$")


def _unquoted_expansions(raw: str) -> bool:
    """Whether ``raw`` has a parameter or command expansion outside double quotes."""
    if "$(" in raw or "`" in raw:
        return True
    quote = ""
    i = 0
    while i < len(raw):
        ch = raw[i]
        if quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            i += 1
        elif quote == '"':
            if ch == '"':
                quote = ""
            elif raw.startswith("$@", i):
                return True  # "$@" is one word per positional parameter
            elif raw.startswith("${", i):
                end = raw.find("}", i)
                if end < 0 or any(q in raw[i:end] for q in "\"'\\"):
                    return True  # quotes inside ${...}: not scanned
                if _MANY_WORDS.match(raw, i + 2, end):
                    return True  # "${a[@]}", "${@:2}", "${!a[@]}", "${!pre@}": many words
                if _nests_many_words(raw[i + 2 : end]):
                    return True  # "${x-$@}", "${x:+${a[@]}}": the value is "$@"
                i = end
        elif ch in "'\"":
            quote = ch
        elif ch == "$" and raw[i + 1 : i + 2] not in ("'", ""):
            return True
        i += 1
    return False


def _nests_many_words(body: str) -> bool:
    """Whether the body of a ``${...}`` holds an expansion that may make many words:
    the value of ``${x-WORD}``, ``${x:+WORD}`` and the like is WORD expanded as if in
    its place, so ``"${x-$@}"`` is ``"$@"``. Any nested ``$`` with an ``@`` (or an
    indirection, whose name may be ``a[@]``) counts, whatever it is."""
    return "$" in body and ("@" in body or "!" in body)


def _may_glob(raw: str) -> bool:
    """Whether ``raw`` has an unquoted glob or brace expansion (more words, or none)."""
    quote = ""
    i = 0
    while i < len(raw):
        ch = raw[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch == "\\":
            i += 1
        elif ch in "'\"":
            quote = ch
        elif ch in _GLOB or ch == "(" or (ch == "{" and _brace_may_expand(raw, i)):
            return True
        i += 1
    return False
