"""The command line's two consoles: results on stdout, messages and errors on stderr.

Neither hard-wraps a line (``soft_wrap``): a CI log is never cut at 80 columns, and an
error line that names a path stays whole for the scripts that read it. Where the output
is not a terminal and no ``COLUMNS`` says otherwise, tables (doctor, prove, sessions) are
laid out `LOG_WIDTH` wide, one row to a line, instead of folding each cell at 80.
"""

from __future__ import annotations

import os

from rich.console import Console

LOG_WIDTH = 400


def console(*, stderr: bool = False) -> Console:
    """A console for one of the two streams, sized for a terminal or for a log."""
    made = Console(stderr=stderr, soft_wrap=True)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made.width = LOG_WIDTH
    return made


out = console()
err = console(stderr=True)
