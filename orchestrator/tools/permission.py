"""What a tool call asks leave to do: a typed request, stated as the shell line that
would do the same.

Each tool declares its request (`Tool.permission_request`): a command to run, a file to
read, write or edit, a search, or nothing to ask. The gate handles each kind of request,
never a tool by name, and refuses a call whose tool declares none.

The gate judges a request's line with `security.analyze` under the session's policy,
exactly as it judges a Bash command. So Read, Write, Edit, Grep and Glob get the same path and
secret rules as Bash by construction: Write to ``.git/config`` is the analyzer's verdict
on ``cat > /workspace/.git/config``, Read of ``.env`` its verdict on
``cat -- /workspace/.env``. A tool may add rules of its own on top (the policy's
``edits`` setting, the workspace rule for edits); those only ever make a call stricter.

The equivalents:

- Read of P: ``cat -- P``.
- Write of P: ``cat > P`` (a redirection that writes P).
- Edit of P: ``cat -- P && cat > P``: it writes P, and its answer shows lines of P.
- Grep: the rg command line it runs, with the pattern read from standard input
  (``--regexp-file=-``): the pattern is data, so a pattern that mentions ``~/.ssh``
  does not count as reading ``~/.ssh``.
- Glob: the rg listing it runs (``rg --files ... -- PATH``).

Paths are shell-quoted, so a file name is never read as shell syntax.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from security import Decision, Policy, analyze

MAX_BATCH_CHARS = 4000  # one `cat` line judging many files stays this short


@dataclass(frozen=True)
class RunCommand:
    """Run a shell command (Bash); Remember runs one to verify a step, then writes its
    memory file (``writes``)."""

    command: str
    writes: tuple[str, ...] = ()  # absolute paths it changes besides: edit rules apply

    @property
    def line(self) -> str:
        return self.command

    @property
    def edits(self) -> tuple[str, ...]:
        return self.writes

    @property
    def summary(self) -> str:
        then = f" (then writes {', '.join(self.writes)})" if self.writes else ""
        return self.command + then


@dataclass(frozen=True)
class _FileRequest:
    """A request about one file, shown to a person as its path."""

    path: str  # absolute, normalised

    @property
    def summary(self) -> str:
        return self.path


@dataclass(frozen=True)
class ReadFile(_FileRequest):
    """Read one file (Read; a tool reading the file a link leads to)."""

    @property
    def line(self) -> str:
        return read_line(self.path)

    @property
    def edits(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class WriteFile(_FileRequest):
    """Replace the whole content of one file (Write)."""

    @property
    def line(self) -> str:
        return write_line(self.path)

    @property
    def edits(self) -> tuple[str, ...]:
        return (self.path,)


@dataclass(frozen=True)
class EditFile(_FileRequest):
    """Change part of one file (Edit): it writes the file, and its answer shows lines."""

    @property
    def line(self) -> str:
        return edit_line(self.path)

    @property
    def edits(self) -> tuple[str, ...]:
        return (self.path,)


@dataclass(frozen=True)
class Search:
    """Search or list files (Grep, Glob) with the rg command line ``argv``."""

    argv: tuple[str, ...]  # the pattern on standard input (Grep), never in argv
    pattern: str  # what it looks for, shown to a person

    @property
    def line(self) -> str:
        return command_line(self.argv)

    @property
    def edits(self) -> tuple[str, ...]:
        return ()

    @property
    def summary(self) -> str:
        return self.pattern


@dataclass(frozen=True)
class NothingToAsk:
    """The call does nothing a shell line could (Agent: its sub-agent's own calls each
    pass the gate); the gate weighs the tool's risk alone."""

    about: str = ""  # the call in one line, shown to a person if the risk asks

    @property
    def summary(self) -> str:
        return self.about


ShellRequest = RunCommand | ReadFile | WriteFile | EditFile | Search
"""A request the gate judges as its shell ``line``, then by edit rules for its ``edits``."""

PermissionRequest = ShellRequest | NothingToAsk
"""Every kind of request a tool may declare."""


def read_line(path: str) -> str:
    """The shell line that reads ``path`` the way Read does."""
    return f"cat -- {shlex.quote(path)}"


def write_line(path: str) -> str:
    """The shell line that replaces ``path`` the way Write does."""
    return f"cat > {shlex.quote(path)}"


def edit_line(path: str) -> str:
    """The shell line that reads and rewrites ``path`` the way Edit does."""
    return f"{read_line(path)} && {write_line(path)}"


def command_line(argv: Sequence[str]) -> str:
    """``argv`` as one shell line, every word quoted."""
    return shlex.join(argv)


ReadJudge = Callable[[Sequence[str]], frozenset[str]]
"""Which of some paths the session's policy lets a tool read without asking anyone."""


def read_judge(policy: Policy) -> ReadJudge:
    """Judges paths as ``cat -- PATH`` under ``policy``: only a plain allow counts.

    Many paths are judged in a few calls: one ``cat`` line per batch, and a batch that
    is not allowed is split in two until each refused path stands alone.
    """

    def readable(paths: Sequence[str]) -> frozenset[str]:
        allowed: set[str] = set()
        for batch in _batches(dict.fromkeys(paths)):
            allowed.update(_allowed_in(batch, policy))
        return frozenset(allowed)

    return readable


def _allowed_in(paths: list[str], policy: Policy) -> list[str]:
    line = "cat -- " + " ".join(shlex.quote(p) for p in paths)
    if analyze(line, policy).decision is Decision.ALLOW:
        return paths
    if len(paths) == 1:
        return []
    half = len(paths) // 2
    return _allowed_in(paths[:half], policy) + _allowed_in(paths[half:], policy)


def _batches(paths: Iterable[str]) -> Iterable[list[str]]:
    batch: list[str] = []
    size = 0
    for path in paths:
        quoted = len(shlex.quote(path)) + 1
        if batch and size + quoted > MAX_BATCH_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += quoted
    if batch:
        yield batch
