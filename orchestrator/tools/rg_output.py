"""ripgrep's ``--null`` output as records: which file each line came from.

With ``--null`` rg ends every file name with a NUL byte instead of a separator, so a
name that holds ``:`` or a newline cannot pass for another file's. Grep needs the file
of every line to leave out what the policy does not let it read.

Shapes (rg 13): matches and context lines ``PATH\\0NUM:TEXT\\n`` and ``PATH\\0NUM-TEXT\\n``,
``--`` between context groups; counts ``PATH\\0NUM\\n``; file lists ``PATH\\0``. A line
without a file name (rg's "binary file matches" note) only appears when rg searched the
one file it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEPARATOR = "--"
_NUMBERED = re.compile(r"(\d+)([:-])")


@dataclass(frozen=True)
class Record:
    """One line of rg's output: the file it came from (None for a separator or a line
    rg printed without one) and what follows the file name."""

    path: str | None
    text: str

    @property
    def is_separator(self) -> bool:
        """Whether this is the ``--`` rg prints between groups of context lines."""
        return self.path is None and self.text == SEPARATOR

    def shown(self, line_numbers: bool = True) -> str:
        """The line as rg prints it without ``--null``: ``PATH:NUM:TEXT`` for a match,
        ``PATH-NUM-TEXT`` for context (without NUM when ``line_numbers`` is off)."""
        if self.path is None:
            return self.text
        if not self.text:  # a file list
            return self.path
        numbered = _NUMBERED.match(self.text)
        if numbered is None:  # a count, or a line without a number
            return f"{self.path}:{self.text}"
        separator = numbered.group(2)
        if not line_numbers:
            return f"{self.path}{separator}{self.text[numbered.end() :]}"
        return f"{self.path}{separator}{self.text}"


def line_records(out: str) -> list[Record]:
    """Records of rg's content or count output (``PATH\\0REST`` lines, ``--`` lines)."""
    records: list[Record] = []
    pos = 0
    while pos < len(out):
        if out.startswith(SEPARATOR + "\n", pos) or out[pos:] == SEPARATOR:
            records.append(Record(None, SEPARATOR))
            pos += len(SEPARATOR) + 1
            continue
        nul = out.find("\0", pos)
        if nul == -1:  # no file name is left: lines rg printed without one
            records += [Record(None, line) for line in out[pos:].split("\n") if line]
            break
        end = out.find("\n", nul)
        end = len(out) if end == -1 else end
        records.append(Record(out[pos:nul], out[nul + 1 : end]))
        pos = end + 1
    return records


def path_records(out: str) -> list[Record]:
    """Records of rg's ``--files-with-matches --null`` output (``PATH\\0`` each)."""
    return [Record(path, "") for path in out.split("\0") if path]
