"""The shape of one read-only entry: forbidden options, operand limits, a test.

An entry also says how words only known at run time are judged (principle 3: any
operand can come from a glob, so from a file name the attacker chose): a command
whose entry forbids nothing at all takes any word; otherwise a run-time word that
may start with ``-`` (``*``, ``$x``) may be any of its options, and is refused unless
it comes after a ``--`` the program honours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from security.argv import has_option, operands

ArgTest = Callable[[list[str]], str | None]  # argv -> why not read-only, or None
ArgIndex = Callable[[list[str]], int | None]  # argv -> index of a word that must be literal


@dataclass(frozen=True, slots=True)
class ReadOnlySpec:
    """When a command only reads."""

    forbidden_short: str = ""  # short options that write, execute or reach out
    forbidden_long: tuple[str, ...] = ()
    max_operands: int | None = None  # e.g. `uniq IN OUT` writes OUT
    test: ArgTest | None = None
    value_options: tuple[str, ...] = ()  # options whose value is the next argument
    # Options that only make it wait (`tail -f`): asked for when written, but harmless
    # when a glob may spell them.
    stall_short: str = ""
    stall_long: tuple[str, ...] = ()
    dashdash: bool = True  # honours `--`: after it, a word is never an option
    code_operand: ArgIndex | None = None  # sed's script, awk's program: must be literal
    positional: bool = False  # operands' number or order matter (date, ptx -G)
    literal_words: bool = False  # every word must be known before it runs (ps: any word
    # may be a BSD option, `ps e` included; printenv: a name may be a secret's)
    all_values: bool = False  # value_options holds every option that takes a detached
    # value, so a `--` after any other option ends the options (see argv.ends_options)
    flags: tuple[str, ...] = ()  # options that never take a detached value (a `--` after
    # one ends the options even when value_options is not complete)

    @property
    def detached_values(self) -> tuple[str, ...] | None:
        """Every option that may take the next word as its value; None if not known."""
        return self.value_options if self.all_values else None

    @property
    def stalls(self) -> bool:
        """Some option makes it wait for more input (tail -f) instead of ending."""
        return bool(self.stall_short or self.stall_long)

    @property
    def any_arguments(self) -> bool:
        """Read-only whatever its arguments: no option or operand can make it write,
        run a program or reach the network (so globs are harmless)."""
        return (
            not self.forbidden_short
            and not self.forbidden_long
            and self.max_operands is None
            and self.test is None
            and self.code_operand is None
            and not self.positional
            and not self.literal_words
        )


def words(text: str) -> list[str]:
    """A whitespace-separated table written as one string."""
    return text.split()


def spec(
    short: str = "",
    long: str = "",
    max_operands: int | None = None,
    test: ArgTest | None = None,
    values: str = "",
    *,
    stalls: tuple[str, str] = ("", ""),
    dashdash: bool = True,
    code_operand: ArgIndex | None = None,
    positional: bool = False,
    literal_words: bool = False,
    all_values: bool = False,
    flags: str = "",
) -> ReadOnlySpec:
    """A `ReadOnlySpec` from space-separated tables."""
    return ReadOnlySpec(
        short,
        tuple(long.split()),
        max_operands,
        test,
        tuple(values.split()),
        stalls[0],
        tuple(stalls[1].split()),
        dashdash,
        code_operand,
        positional,
        literal_words,
        all_values,
        tuple(flags.split()),
    )


def check_spec(entry: ReadOnlySpec, argv: list[str], *, stalls_allowed: bool = False) -> str | None:
    """Why ``argv`` breaks ``entry`` (an option, too many operands, its test), or None.
    ``stalls_allowed``: an option that only makes it wait is no reason."""
    args = argv[1:]
    found = has_option(
        args, entry.forbidden_short, entry.forbidden_long, entry.detached_values, entry.flags
    )
    if found:
        return f"{argv[0]} {found}"
    stalls = None if stalls_allowed else has_option(args, entry.stall_short, entry.stall_long)
    if stalls:
        return f"{argv[0]} {stalls} waits for more input"
    if entry.max_operands is not None:
        files = operands(args, entry.value_options)
        if len(files) > entry.max_operands:
            return f"{argv[0]} with {len(files)} operands writes a file"
    return entry.test(argv) if entry.test else None
