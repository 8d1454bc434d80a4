"""Shrinking a failing shell command: list parts alone, then delta debugging."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

# Where a shell line splits into parts that can stand alone (pipeline stages too).
_SEPARATORS = re.compile(r"\s*(?:;|&&|\|\||\||\n|[(){}]|\b(?:do|done|then|else|fi)\b)\s*")


async def shrink(
    command: str,
    still_fails: Callable[[str], Awaitable[bool]],
    budget: int = 200,
    deadline: float | None = None,
) -> str:
    """The smallest command found: a part that fails alone, then delta debugging.

    First each run of list parts (``a; b && c``, loop and ``if`` bodies) is tried alone,
    shortest first; then words are removed, then characters (never whitespace, so words
    stay apart). ``still_fails`` says whether a candidate still shows the violation; at
    most ``budget`` distinct candidates are tried, none after ``deadline`` (monotonic).
    """
    tried: dict[str, bool] = {}

    async def check(candidate: str) -> bool:
        if candidate not in tried:
            if len(tried) >= budget or (deadline is not None and time.monotonic() > deadline):
                return False
            tried[candidate] = await still_fails(candidate)
        return tried[candidate]

    best = command
    cuts = [0, *(i for m in _SEPARATORS.finditer(command) for i in m.span()), len(command)]
    parts = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=True) if command[a:b].strip()]
    runs = {command[a:d].strip() for i, (a, _) in enumerate(parts) for _, d in parts[i:]}
    for candidate in sorted(runs - {command}, key=len):
        if await check(candidate):
            best = candidate
            break
    for by_chars in (False, True):
        best = await _ddmin(best, check, by_chars)
    return best


def _units(text: str, by_chars: bool) -> list[str]:
    return list(text) if by_chars else re.findall(r"\s+|\S+\s*", text)


async def _ddmin(text: str, check: Callable[[str], Awaitable[bool]], by_chars: bool) -> str:
    """Remove chunks of halving size while the check holds; again until nothing goes."""
    units = _units(text, by_chars)
    changed = True
    while changed:
        changed = False
        size = max(1, len(units) // 2)
        while size >= 1:
            start = 0
            while start < len(units):
                chunk = units[start : start + size]
                candidate = "".join(units[:start] + units[start + size :]).strip()
                if by_chars and any(u.isspace() for u in chunk):
                    start += size
                elif candidate and await check(candidate):
                    units, changed = _units(candidate, by_chars), True
                else:
                    start += size
            size //= 2
    return "".join(units).strip()
