"""The shape of one read-only entry: forbidden options, operand limits, a test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from security.argv import has_option, operands

ArgTest = Callable[[list[str]], str | None]  # argv -> why not read-only, or None


@dataclass(frozen=True, slots=True)
class ReadOnlySpec:
    """When a command only reads."""

    forbidden_short: str = ""  # short options that write, execute or hang
    forbidden_long: tuple[str, ...] = ()
    max_operands: int | None = None  # e.g. `uniq IN OUT` writes OUT
    test: ArgTest | None = None
    value_options: tuple[str, ...] = ()  # options whose value is the next argument


def words(text: str) -> list[str]:
    """A whitespace-separated table written as one string."""
    return text.split()


def spec(
    short: str = "",
    long: str = "",
    max_operands: int | None = None,
    test: ArgTest | None = None,
    values: str = "",
) -> ReadOnlySpec:
    """A `ReadOnlySpec` from space-separated tables."""
    return ReadOnlySpec(short, tuple(long.split()), max_operands, test, tuple(values.split()))


def check_spec(entry: ReadOnlySpec, argv: list[str]) -> str | None:
    """Why ``argv`` breaks ``entry`` (an option, too many operands, its test), or None."""
    args = argv[1:]
    found = has_option(args, entry.forbidden_short, entry.forbidden_long)
    if found:
        return f"{argv[0]} {found}"
    if entry.max_operands is not None:
        files = operands(args, entry.value_options)
        if len(files) > entry.max_operands:
            return f"{argv[0]} with {len(files)} operands writes a file"
    return entry.test(argv) if entry.test else None
