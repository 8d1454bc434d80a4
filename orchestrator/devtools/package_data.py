"""The files the developer tools ship with: found through the package, never the checkout.

- ``corpus/``: the labelled analyzer corpus (``adversarial.jsonl``, ``benign.jsonl``) that
  ``airlock bench analyzer`` times and the differential fuzzer mutates;
- ``examples/``: the demo's project (``calc/``, a failing test) and its scripted model
  (``replays/``).

A wheel is installed unzipped, so each is a real folder: the demo copies ``calc/`` into a
session, which needs a path on disk. A folder that is missing means a broken install,
and says so rather than letting a command run on nothing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = "orchestrator.devtools"


class PackageDataMissing(RuntimeError):
    """A data folder of the installed package is not on disk (a broken or zipped install)."""


def package_folder(package: str, name: str) -> Path:
    """The folder ``name`` shipped inside ``package``, as a path on disk."""
    found = resources.files(package) / name
    path = Path(str(found))
    if not path.is_dir():
        raise PackageDataMissing(
            f"{package}/{name} is not a folder on disk ({found}): reinstall airlock"
        )
    return path


def corpus_dir() -> Path:
    """The analyzer corpus: ``adversarial.jsonl`` (never allowed), ``benign.jsonl``."""
    return package_folder(PACKAGE, "corpus")


def examples_dir() -> Path:
    """The demo's project ``calc/`` and the scripted models under ``replays/``."""
    return package_folder(PACKAGE, "examples")
