"""The word lexer: quote removal, ANSI-C decoding, and its fast path for plain words."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from security.wordscan import scan_word

PLAIN = st.text(alphabet="abc-_./*?[]{}(),~=!^#|&;<>019é", max_size=16)


@given(PLAIN)
def test_fast_path_agrees_with_the_full_scan(word: str) -> None:
    fast = scan_word(word)
    full = scan_word(word + "''")  # an empty quoted tail forces the full scan
    assert (fast.value, fast.unquoted, fast.expands) == (full.value, full.unquoted, full.expands)
    assert not fast.quoted and full.quoted


def test_quote_removal_and_decoding() -> None:
    assert scan_word("c''url").value == "curl"
    assert scan_word("\\rm").value == "rm"
    assert scan_word('"a b"').value == "a b"
    assert scan_word("$'\\x63url'").value == "curl" and scan_word("$'\\x63url'").ansi_c
    assert scan_word("$'\\u0441'").value == "\u0441"
    assert scan_word('"$HOME"').expands and not scan_word("'$HOME'").expands
    assert scan_word("*.py").unquoted == {"*"} and scan_word("'*.py'").unquoted == set()


@given(st.text(alphabet="ab $'\"\\`{}()*=-é\n", max_size=30))
def test_a_word_without_quotes_is_its_own_value(raw: str) -> None:
    """`Command.text` lists a word's value only when it was quoted: this is why."""
    scan = scan_word(raw)
    assert scan.quoted or scan.value == raw
