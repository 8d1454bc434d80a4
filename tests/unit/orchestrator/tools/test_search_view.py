"""What a search may show: only lines from files the policy lets the session read,
judged lazily, and never anything that depends on a file left out."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.tools.rg_output import Record
from orchestrator.tools.search_view import JUDGE_BATCH, search_view

REFUSED = "/w/.env"


class Judge:
    """Refuses /w/.env; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, paths: Sequence[str]) -> frozenset[str]:
        self.asked += paths
        return frozenset(p for p in paths if p != REFUSED)


def records(*rows: tuple[str | None, str]) -> list[Record]:
    return [Record(path, text) for path, text in rows]


def test_lines_of_a_refused_file_are_left_out_with_their_separators() -> None:
    rows = records(
        ("/w/.env", "1:TOKEN=x"), (None, "--"), ("/w/a", "1-ctx"), ("/w/a", "2:hit"),
        (None, "--"), ("/w/.env", "5:TOKEN=y"), (None, "--"), ("/w/b", "3:hit"), (None, "--"),
    )  # fmt: skip
    view = search_view(rows, "/w", "/w", Judge(), max_chars=10_000)
    assert view.lines == ["/w/a-1-ctx", "/w/a:2:hit", "--", "/w/b:3:hit"]
    assert not view.cut and view.unnamed == 0


def test_without_the_secret_the_view_is_the_same() -> None:
    """No oracle: the same output whether or not the refused file matched."""
    with_secret = records(("/w/.env", "1:x"), ("/w/a", "1:x"), ("/w/b", "1:x"), ("/w/c", "1:x"))
    without = [r for r in with_secret if r.path != REFUSED]
    for budget in (9, 18, 27, 10_000):
        for limit in (None, 1, 2):
            a = search_view(with_secret, "/w", "/w", Judge(), max_lines=limit, max_chars=budget)
            b = search_view(without, "/w", "/w", Judge(), max_lines=limit, max_chars=budget)
            assert a == b


def test_the_named_file_is_not_judged_again_and_its_unnamed_lines_stay() -> None:
    judge = Judge()
    note = "/w/.env: binary file matches"
    rows = records((REFUSED, "1:TOKEN=x"), (None, note))
    view = search_view(rows, REFUSED, REFUSED, judge, max_chars=10_000)
    assert view.lines == ["/w/.env:1:TOKEN=x", note] and judge.asked == []


def test_unnamed_lines_in_a_directory_search_are_counted_not_shown() -> None:
    view = search_view(records(("/w/a", "1:x"), (None, "odd")), "/w", "/w", Judge(), max_chars=99)
    assert view.lines == ["/w/a:1:x"] and view.unnamed == 1


def test_only_what_can_be_shown_is_judged() -> None:
    rows = records(*((f"/w/f{i:05}", "1:match") for i in range(5 * JUDGE_BATCH)))
    judge = Judge()
    view = search_view(rows, "/w", "/w", judge, max_chars=200)
    assert view.cut and 0 < len(view.lines) < 20
    assert len(judge.asked) == JUDGE_BATCH  # one batch, not all 1280 files
    judge = Judge()
    assert len(search_view(rows, "/w", "/w", judge, max_lines=3, max_chars=10**6).lines) == 3
    assert len(judge.asked) == JUDGE_BATCH


def test_a_link_is_judged_where_it_leads() -> None:
    """/w/docs leads to /w/.env's directory, /w/notes.txt to /w/.env itself: the files
    are judged by their real names, the named one too."""
    judge = Judge()
    rows = records(("/w/docs/.env", "1:x"), ("/w/docs/a", "1:y"))
    view = search_view(rows, "/w/docs", "/w", judge, max_chars=99)
    assert view.lines == ["/w/docs/a:1:y"] and judge.asked == ["/w/.env", "/w/a"]
    named = search_view(records(("/w/notes.txt", "1:TOKEN")), "/w/notes.txt", REFUSED,
                        Judge(), max_chars=99)  # fmt: skip
    assert named.lines == []


def test_unnamed_lines_of_a_link_are_judged_where_it_leads() -> None:
    """rg names no file in its "binary file matches" note: through /w/notes.txt -> /w/.env
    the note was shown whenever the secret matched, an oracle on its content (a binary
    key, /proc/1/environ). It is judged as the file behind the link, and left out (not
    even counted) like its lines."""
    note = '/w/notes.txt: binary file matches (found "\\0" byte around offset 3)'
    judge = Judge()
    hidden = search_view(records((None, note)), "/w/notes.txt", REFUSED, judge, max_chars=99)
    assert hidden.lines == [] and hidden.unnamed == 0 and judge.asked == [REFUSED]
    shown = search_view(records((None, note)), "/w/notes.txt", "/w/a", Judge(), max_chars=99)
    assert shown.lines == [note]
