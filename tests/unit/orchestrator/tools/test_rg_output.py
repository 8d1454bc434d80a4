"""Reading rg's --null output: every line keeps the file it came from."""

from __future__ import annotations

from orchestrator.tools.rg_output import Record, line_records, path_records


def test_matches_context_and_separators() -> None:
    out = "/w/a\x001-before\n/w/a\x002:hit\n--\n/w/b:c\x009:hit: too\n"
    records = line_records(out)
    assert records == [
        Record("/w/a", "1-before"),
        Record("/w/a", "2:hit"),
        Record(None, "--"),
        Record("/w/b:c", "9:hit: too"),
    ]
    assert [r.shown() for r in records] == [
        "/w/a-1-before",
        "/w/a:2:hit",
        "--",
        "/w/b:c:9:hit: too",
    ]
    assert [r.shown(line_numbers=False) for r in records] == [
        "/w/a-before", "/w/a:hit", "--", "/w/b:c:hit: too"
    ]  # fmt: skip
    assert records[2].is_separator and not records[0].is_separator


def test_a_name_with_a_newline_stays_one_name() -> None:
    out = "/w/evil\n/w/.env\x001:x\n/w/ok\x002:y"
    assert line_records(out) == [Record("/w/evil\n/w/.env", "1:x"), Record("/w/ok", "2:y")]


def test_counts_file_lists_and_lines_without_a_name() -> None:
    assert line_records("/w/a\x003\n/w/b\x001\n") == [Record("/w/a", "3"), Record("/w/b", "1")]
    assert Record("/w/a", "3").shown() == "/w/a:3"
    assert path_records("/w/a\x00/w/b c\x00") == [Record("/w/a", ""), Record("/w/b c", "")]
    assert Record("/w/a", "").shown() == "/w/a"
    note = '/w/bin: binary file matches (found "\\0" byte around offset 3)\n'
    assert line_records(note) == [Record(None, note.rstrip("\n"))]
    assert line_records("") == [] and path_records("") == []
