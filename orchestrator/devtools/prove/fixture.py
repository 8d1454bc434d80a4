"""The typed pieces of a hostile fixture, and the markers that name its payloads.

A `Fixture` is a seed workspace the oracle unpacks before a run; each `Payload` it
carries leaves *named* evidence when it runs:

- an exec of a marker program ``/tmp/airlock-oracle/bin/pwned-<name>`` (a symlink to a
  script that also writes ``/tmp/pwned-<name>``), or
- a write of a marker file whose base name starts with ``pwned-<name>`` (trace2 targets,
  ``--output=pwned-...`` file names, ``$(: >/tmp/pwned-...)`` in data).

`marker_in` reads a payload's name back from a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

ORACLE_DIR = "/tmp/airlock-oracle"  # noqa: S108 (in the container; read-only once built)
MARKER_BIN = f"{ORACLE_DIR}/bin"
FIXTURE_DIR = f"{ORACLE_DIR}/fixtures"
LAYER_DIR = f"{ORACLE_DIR}/layers"
WORKSPACE = "/workspace"
MARK = "pwned-"
MARKER_SCRIPT = '#!/bin/sh\n: > "/tmp/${0##*/}"\n'  # the marker leaves a file as well
_MARKED = re.compile(r"pwned-([a-z0-9][a-z0-9._-]*)")  # at the start of a base name
DATE = "@1700000000"
PLAIN = "plain"


def marker_program(name: str) -> str:
    """The program a payload runs: its exec names the payload."""
    return f"{MARKER_BIN}/{MARK}{name}"


def marker_file(name: str) -> str:
    """A file a payload writes: its write names the payload."""
    return f"/tmp/{MARK}{name}"  # noqa: S108


def marker_in(path: str) -> str | None:
    """The payload name a written or executed path carries, or None."""
    match = _MARKED.match(path.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


class Family(StrEnum):
    """Which class of the hostile-repository threat a payload belongs to."""

    REPO_CONFIG = "repository config runs programs"
    HOOKS = "repository hooks run"
    BARE_REPO = "embedded bare repository"
    OPTION_NAME = "file names that are options"
    DATA = "data evaluated as code"
    TOOL_CONFIG = "config and programs loaded through the environment or working tree"
    SHADOW = "repository programs named like tools"


class Evidence(StrEnum):
    EXEC = "exec"  # the marker program runs
    WRITE = "write"  # a marker file is written


@dataclass(frozen=True, slots=True)
class Payload:
    """One attack a fixture carries, and the marker that shows it ran."""

    name: str  # the marker: pwned-<name>
    family: Family
    carrier: str  # where it sits, e.g. ".git/config core.fsmonitor"
    evidence: Evidence

    def describe(self) -> str:
        return f"{self.family}: {self.carrier}"


@dataclass(frozen=True, slots=True)
class FixtureFile:
    """A file of a fixture, relative to the workspace."""

    path: str
    content: str | bytes
    mode: int = 0o644
    append: bool = False  # planted files only: appended to the file already there

    def data(self) -> bytes:
        return self.content.encode() if isinstance(self.content, str) else self.content


@dataclass(frozen=True, slots=True)
class Fixture:
    """A seed workspace: a base, files committed into it, shell, then planted files.

    Built in the container: the base fixture's tar (or the plain seed repository),
    then ``committed`` files added and committed, ``setup`` run, ``planted`` files
    written (not committed: ``.git/config``, hooks), and ``finish`` run. The git
    commands of the build run before anything hostile is planted in ``.git``.
    """

    name: str
    summary: str
    base: str | None = PLAIN
    committed: tuple[FixtureFile, ...] = ()
    planted: tuple[FixtureFile, ...] = ()
    setup: str = ""
    finish: str = ""
    message: str = "hostile"
    message_from: str = ""  # a committed file whose text is the commit message
    payloads: tuple[Payload, ...] = ()
    fresh_index: bool = False  # refresh git's index after each reset (the plain seed only)
    tool: str | None = None  # option-name fixtures: the tool whose options the names are

    @property
    def tar(self) -> str:
        return f"{FIXTURE_DIR}/{self.name}.tar"


@dataclass
class Payloads:
    """Collects the payloads of one fixture as its files are written."""

    items: list[Payload] = field(default_factory=list)

    def program(self, name: str, family: Family, carrier: str) -> str:
        self.items.append(Payload(name, family, carrier, Evidence.EXEC))
        return marker_program(name)

    def output(self, name: str, family: Family, carrier: str) -> str:
        self.items.append(Payload(name, family, carrier, Evidence.WRITE))
        return marker_file(name)
