"""Reading options and operands out of an argv, the way GNU getopt does."""

from __future__ import annotations

from collections.abc import Collection, Iterable


def has_option(args: list[str], short: str = "", long: Collection[str] = ()) -> str | None:
    """The first argument that is one of the given options, before ``--``; else None.

    Short options match inside clusters (``-rf`` holds ``f``); long ones match with
    ``=value`` and as any prefix, since GNU getopt takes an unambiguous one of any
    length (``--s`` for date's ``--set``). Matching is deliberately generous: a false
    match only asks.
    """
    for arg in args:
        if arg[:1] != "-" or len(arg) < 2:
            continue  # an operand, or `-` (standard input)
        if arg[1] != "-":
            if any(map(short.__contains__, arg[1:])):
                return arg
        elif len(arg) == 2:
            return None  # `--`: options end here
        else:
            name = arg[2:].split("=", 1)[0]
            if any(opt.startswith(name) for opt in long):  # any prefix, as GNU getopt
                return arg
    return None


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
