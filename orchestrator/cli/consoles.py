"""The command line's two consoles: results on stdout, messages and errors on stderr."""

from __future__ import annotations

from rich.console import Console

out = Console(soft_wrap=True)  # a CI log is never hard-wrapped at 80 columns
err = Console(stderr=True, soft_wrap=True)  # an error line is never cut: scripts read paths in it
