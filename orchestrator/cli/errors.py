"""The one error handler of the command line: what a command meets becomes one line, no traceback.

Every command runs its body inside ``exit_on_failure()``. ``FAILURES`` maps each kind of
exception a command can meet (no engine, a sandbox or image build error, a bad policy,
request, replay or price table, a failed audit subscriber, Ctrl-C) to its exit code and
its message on stderr. A command whose contract differs passes its own rows, which come
first: ``airlock exec`` exits 125 on a sandbox error, ``airlock run`` says its containers
are gone when interrupted, ``airlock audit verify`` exits 2 when it cannot read the file.

An exception class is named where users import it from, and looked up only once that
module is loaded (before, no instance of it can exist): the handler imports nothing, so
`airlock check` starts without Docker or the agent loop. Messages go through
`safe_text`, since they may quote a command, a path or a file's contents.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.text import Text

from orchestrator.cli.consoles import err
from orchestrator.cli.exit_codes import ExitCode
from orchestrator.events import safe_text


class UsageError(Exception):
    """Arguments that do not fit together; the message says what to give instead."""


Describe = Callable[[BaseException], Text]


@dataclass(frozen=True)
class Failure:
    """One kind of exception, the code a command exits with on it, and the line it prints."""

    exception: str  # "module.Name", the module users import it from
    code: ExitCode
    describe: Describe = safe_text.error  # "error: <the exception's message>"

    def loaded_class(self) -> type[BaseException] | None:
        """The exception class, if its module is loaded (if not, nothing raised one)."""
        module_name, _, name = self.exception.rpartition(".")
        module = sys.modules.get(module_name)
        kind = getattr(module, name, None) if module is not None else None
        return kind if isinstance(kind, type) and issubclass(kind, BaseException) else None

    def matches(self, exc: BaseException) -> bool:
        kind = self.loaded_class()
        return kind is not None and isinstance(exc, kind)


def cancelled(_: BaseException) -> Text:
    return safe_text.text(("cancelled", "yellow"))


def run_cancelled(_: BaseException) -> Text:
    return safe_text.text(("cancelled", "yellow"), ": the session's containers are removed")


FAILURES: tuple[Failure, ...] = (
    Failure("builtins.KeyboardInterrupt", ExitCode.INTERRUPTED, cancelled),
    Failure("orchestrator.cli.errors.UsageError", ExitCode.USAGE),
    Failure("security.PolicyError", ExitCode.USAGE),
    Failure("pydantic_core.ValidationError", ExitCode.USAGE),  # a request's fields
    Failure("orchestrator.runs.run.RunError", ExitCode.USAGE),
    Failure("orchestrator.testing.replay.ReplayError", ExitCode.USAGE),
    Failure("orchestrator.agent.pricing.PricingError", ExitCode.USAGE),
    Failure("sandbox.engine.EngineUnavailable", ExitCode.FAILED),
    Failure("sandbox.SandboxError", ExitCode.FAILED),
    Failure("sandbox.images.ImageBuildError", ExitCode.FAILED),
    Failure("orchestrator.events.bus.SubscriberFailed", ExitCode.FAILED),
    Failure("orchestrator.devtools.package_data.PackageDataMissing", ExitCode.FAILED),
    Failure("orchestrator.devtools.bench_egress.BenchError", ExitCode.FAILED),
)

# `airlock exec` keeps 1 free for the command's own failure: the sandbox's are 125.
EXEC_FAILURES = (
    Failure("sandbox.engine.EngineUnavailable", ExitCode.SANDBOX_ERROR),
    Failure("sandbox.SandboxError", ExitCode.SANDBOX_ERROR),
    Failure("orchestrator.cli.signals.Terminated", ExitCode.TERMINATED, run_cancelled),
)

# `airlock run` and `airlock demo` hold sessions: an interrupt removes their containers,
# and so does SIGTERM or SIGHUP (`signals.run_cancellable`), exiting 128 + N.
RUN_FAILURES = (
    Failure("builtins.KeyboardInterrupt", ExitCode.INTERRUPTED, run_cancelled),
    Failure("orchestrator.cli.signals.Terminated", ExitCode.TERMINATED, run_cancelled),
)


def unreadable(file: Path) -> Failure:
    """`airlock audit verify`: a log that cannot be read exits 2, naming the file."""

    def describe(exc: BaseException) -> Text:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return safe_text.text(("error", "bold red"), f" {file}: {reason}")

    return Failure("builtins.OSError", ExitCode.UNREADABLE, describe)


@contextmanager
def exit_on_failure(*overrides: Failure) -> Iterator[None]:
    """Run a command's body: an exception in ``overrides`` or ``FAILURES`` prints its line
    and exits with its code; any other goes on (a bug shows its traceback)."""
    try:
        yield
    except BaseException as exc:
        failure = next((f for f in (*overrides, *FAILURES) if f.matches(exc)), None)
        if failure is None:
            raise
        err.print(failure.describe(exc))
        raise typer.Exit(_code(failure, exc)) from exc


def _code(failure: Failure, exc: BaseException) -> int:
    """The failure's code; a command cancelled by a signal exits 128 + its number."""
    number = getattr(exc, "signal", None)
    if failure.code is ExitCode.TERMINATED and isinstance(number, int):
        return ExitCode.SIGNALLED + number
    return failure.code
