"""What a search may show: lines from files the session's policy lets it read.

Searching a directory meets files the call did not name. A line from such a file is
shown only if reading that file is allowed without asking (``cat -- FILE``, judged
by the gate's `ReadJudge`); other files' lines are left out as if they did not match,
so what is shown, how many files are counted and where the output stops never depend
on a left-out file (a search is no oracle on a secret's content). The file the call
named was judged by the gate itself, unless it is a link: then every file is judged
by where it really is (a link to a directory of secrets does not hide them).

Files are judged lazily, in output order, a batch at a time: only as many as the
output can show (a line limit, a character budget) are judged.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.tools.permission import ReadJudge
from orchestrator.tools.rg_output import SEPARATOR, Record

JUDGE_BATCH = 256  # files judged at a time


@dataclass(frozen=True)
class SearchView:
    """The lines to show; whether the budget stopped them (more may follow); how many
    lines without a file name were left out."""

    lines: list[str]
    cut: bool
    unnamed: int


class _Judged:
    """Whether each file met may be read, asked of the judge a batch at a time."""

    def __init__(self, met: list[str], may_read: ReadJudge) -> None:
        self._queue = met
        self._next = 0
        self._may_read = may_read
        self._answers: dict[str, bool] = {}

    def readable(self, path: str) -> bool:
        while path not in self._answers and self._next < len(self._queue):
            batch = self._queue[self._next : self._next + JUDGE_BATCH]
            self._next += len(batch)
            allowed = self._may_read(batch)
            self._answers.update((p, p in allowed) for p in batch)
        return self._answers.get(path, False)


def search_view(
    records: list[Record],
    searched: str,
    real: str,
    may_read: ReadJudge,
    *,
    line_numbers: bool = True,
    max_lines: int | None = None,
    max_chars: int,
) -> SearchView:
    """The lines of ``records`` that may be shown, in order, within the budget.

    ``real`` is where ``searched`` leads. ``--`` separators between context groups are
    kept only between shown lines. A line without a file name is kept only when rg
    searched one file alone (its "binary file matches" note), and judged as that file:
    in a directory search nothing tells whose it is.
    """
    judged_as = {
        path: _judged_name(path, searched, real)
        for path in dict.fromkeys(r.path for r in records if r.path is not None)
    }
    alone = all(path == searched for path in judged_as)  # rg searched one file
    alone_as = _judged_name(searched, searched, real)  # whose its unnamed lines are
    met = [name for name in dict.fromkeys(judged_as.values()) if name is not None]
    if alone and alone_as is not None and alone_as not in met:
        met.append(alone_as)
    judged = _Judged(met, may_read)
    lines: list[str] = []
    used = 0
    unnamed = 0
    separator_due = False
    for record in records:
        if record.is_separator:
            separator_due = bool(lines)
            continue
        if record.path is None and not alone:
            unnamed += 1
            continue
        name = judged_as.get(record.path) if record.path is not None else alone_as
        if name is not None and not judged.readable(name):
            continue
        line = record.shown(line_numbers)
        adding = [SEPARATOR, line] if separator_due else [line]
        size = sum(len(part) + 1 for part in adding)
        if max_lines is not None and len(lines) + len(adding) > max_lines:
            return SearchView(lines, cut=False, unnamed=unnamed)  # a limit the call set
        if lines and used + size > max_chars:
            return SearchView(lines, cut=True, unnamed=unnamed)
        lines += adding
        used += size
        separator_due = False
    return SearchView(lines, cut=False, unnamed=unnamed)


def _judged_name(path: str, searched: str, real: str) -> str | None:
    """The name to judge a file rg printed as ``path`` by: where it really is. None for
    the file the call named, which the gate judged (unless it is a link)."""
    if real == searched:
        return None if path == searched else path
    if path == searched:
        return real
    base = searched.rstrip("/") + "/"
    return real.rstrip("/") + "/" + path[len(base) :] if path.startswith(base) else path
