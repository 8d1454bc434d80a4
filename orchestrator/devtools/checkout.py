"""The airlock source checkout this code runs from, if any (an editable install).

Only the attack suites want it: the fault tests are the checkout's pytest files, the
engine restart uses its ``scripts/ensure-engine.sh``, and fuzzing findings are kept in its
``tests/corpus/regressions/``. An installed copy has none of these, and must never write
into its own site-packages; callers fall back to the current directory's ``.airlock/``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

PROJECT_NAME = "airlock"
# orchestrator/devtools/checkout.py -> the folder holding orchestrator/
_PACKAGES_PARENT = Path(__file__).resolve().parents[2]


def source_checkout(candidate: Path = _PACKAGES_PARENT) -> Path | None:
    """``candidate`` if it is airlock's source tree (its pyproject names airlock, and it
    has ``tests/``); None otherwise, as for a wheel installed in site-packages."""
    pyproject = candidate / "pyproject.toml"
    if not pyproject.is_file() or not (candidate / "tests").is_dir():
        return None
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return None
    return candidate if name == PROJECT_NAME else None


def work_dir() -> Path:
    """Where an installed copy keeps what it makes: ``.airlock/`` of the current directory."""
    return Path.cwd() / ".airlock"
