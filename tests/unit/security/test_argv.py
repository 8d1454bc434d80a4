"""Options and operands read out of an argv the way GNU getopt reads them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from security.argv import has_option, operands, shape


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-rf", "x"], "-rf"),
        (["x", "-f"], "-f"),
        (["--force"], "--force"),
        (["--for"], "--for"),  # an unambiguous prefix
        (["--fo"], "--fo"),  # GNU getopt takes any unambiguous prefix
        (["--f"], "--f"),
        (["--recursive=yes"], "--recursive=yes"),
        (["--", "-rf"], None),  # options end at --
        (["-"], None),  # standard input, not an option
        (["-x", "--verbose", "file"], None),
        ([], None),
    ],
)
def test_has_option_table(args: list[str], expected: str | None) -> None:
    assert has_option(args, "rRf", ("recursive", "force")) == expected


def _reference(args: list[str], short: str, long: tuple[str, ...]) -> str | None:
    """has_option spelled the slow, obvious way."""
    for arg in args:
        if arg == "--":
            return None
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0]
            for opt in long:
                if opt.startswith(name):
                    return arg
        elif arg.startswith("-") and len(arg) > 1 and set(short) & set(arg[1:]):
            return arg
    return None


ARGS = st.lists(st.text(alphabet="-=rfxo", max_size=8), max_size=6)


@given(ARGS, st.text(alphabet="rfx", max_size=3), st.lists(st.sampled_from(["force", "fo"])))
def test_has_option_matches_the_reference(args: list[str], short: str, long: list[str]) -> None:
    assert has_option(args, short, tuple(long)) == _reference(args, short, tuple(long))


def test_operands_skip_options_and_their_values() -> None:
    assert operands(["-n", "5", "-v", "a", "--", "-b"], ("-n",)) == ["a", "-b"]


@pytest.mark.parametrize(
    ("raw", "splits"),
    [
        ('"$x"', False),
        ('"${x}"', False),
        ('"$*"', False),  # joined into one word
        ('"${a[*]}"', False),
        ('"${#a[@]}"', False),  # a count
        ("$x", True),
        ('"$@"', True),  # one word per positional parameter, even quoted
        ('"a$@b"', True),
        ('"${@:2}"', True),
        ('"${a[@]}"', True),
        ('"${a[@]/x/y}"', True),
        ('"${!a[@]}"', True),
        ('"${!prefix@}"', True),
        # the value of ${x-WORD}, ${x:+WORD}... is WORD in its place: "$@" splits there
        ('"${x-$@}"', True),
        ('"${x:-$@}"', True),
        ('"${x:+${a[@]}}"', True),
        ('"${x-${!p@}}"', True),
        ('"${x-${!y}}"', True),  # y may name a[@]
        ('"${x:-$y}"', False),
        ('"${x:+$*}"', False),
        ("*.py", True),
    ],
)
def test_a_quoted_expansion_of_many_elements_splits(raw: str, splits: bool) -> None:
    assert shape(raw).may_split is splits
