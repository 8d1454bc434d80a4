"""Kernel confinement of proven read-only commands: what the host asks the agent for.

A command the analyzer proves read-only runs in a Landlock domain (see
`sandbox/landlock.py`): it writes nothing but its private TMPDIR and /dev/null, execs
only the programs the analyzer listed (and the programs those run as their own
implementation, below), opens no TCP socket, and signals nothing outside itself. The
analyzer's ``allow`` then holds where the command's code cannot get around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Programs a tool runs as part of its own implementation (front-end scripts and the
# programs they call), so a confined line that lists the tool may exec them too. A name
# here that the image lacks is reported as missing in the exec's `ConfinementReport`.
HELPER_PROGRAMS: dict[str, tuple[str, ...]] = {
    "zgrep": ("gzip", "grep", "sed", "expr"),  # a /bin/sh script (interpreters are added)
    "zcat": ("gzip",),
    "egrep": ("grep",),
    "fgrep": ("grep",),
    "diff": ("pr",),  # diff -l pipes its output through pr
    "diff3": ("diff",),
    "sdiff": ("diff",),
    # git runs git for submodules, from its exec path first
    "git": ("/usr/lib/git-core/git",),
}
MAX_PROGRAMS = 512
MAX_NAME = 4096


def with_helpers(names: Iterable[str]) -> list[str]:
    """``names`` and, transitively, every helper of theirs, in first-seen order."""
    seen: dict[str, None] = {}
    pending = list(names)
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen[name] = None
        pending.extend(HELPER_PROGRAMS.get(name.rsplit("/", 1)[-1], ()))
    return list(seen)


class Confinement(BaseModel):
    """Run this exec confined as a proven read-only command."""

    model_config = ConfigDict(frozen=True)

    programs: tuple[str, ...] = Field(
        description="program names or paths it may exec, as the line names them; the "
        "shell that runs the line is always allowed",
        max_length=MAX_PROGRAMS,
    )
    required: bool = Field(
        False,
        description="refuse to run when the sandbox cannot confine (gVisor, no Landlock, "
        "no exec agent) instead of running unconfined and saying so",
    )

    @classmethod
    def for_commands(
        cls, commands: Iterable[Sequence[str]], *, required: bool = False
    ) -> Confinement:
        """The confinement of a line whose simple commands are ``commands`` (as
        `Verdict.commands` lists them, nested ones included)."""
        names = with_helpers(argv[0] for argv in commands if argv and argv[0])
        return cls(programs=tuple(n for n in names if len(n) <= MAX_NAME), required=required)

    def wire(self) -> dict[str, Any]:
        """The ``confine`` field of an exec request."""
        return {"programs": list(self.programs), "required": self.required}
