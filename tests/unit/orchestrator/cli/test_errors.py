"""The command line's one error handler: each kind of exception a command can meet
becomes one line on stderr and its exit code, never a traceback; what it does not know
goes on; and it imports nothing to tell them apart."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pydantic
import pydantic_core
import pytest
import typer
from typer.testing import CliRunner

from orchestrator.agent.pricing import PricingError
from orchestrator.cli import app
from orchestrator.cli import run_command as run_cli
from orchestrator.cli import sessions as sessions_module
from orchestrator.cli.errors import (
    EXEC_FAILURES,
    FAILURES,
    RUN_FAILURES,
    Failure,
    UsageError,
    exit_on_failure,
    unreadable,
)
from orchestrator.cli.exit_codes import ExitCode
from orchestrator.events.bus import SubscriberFailed
from orchestrator.runs.run import RunError
from orchestrator.testing.replay import ReplayError
from sandbox import SandboxError
from sandbox.engine import EngineUnavailable
from sandbox.images import ImageBuildError
from security import PolicyError

SGR = re.compile(r"\x1b\[[0-9;]*m")  # the console's own colours, when stderr is a terminal


def _validation_error() -> pydantic.ValidationError:
    class Request(pydantic.BaseModel):
        turns: int

    try:
        Request.model_validate({"turns": "many"})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("validated")


def _exits(
    capsys: pytest.CaptureFixture[str], exc: BaseException, *overrides: Failure
) -> tuple[int, str]:
    """The code and the stderr of a command body that raises ``exc``."""
    capsys.readouterr()
    with pytest.raises(typer.Exit) as exited, exit_on_failure(*overrides):
        raise exc
    return exited.value.exit_code, SGR.sub("", capsys.readouterr().err)


KINDS: list[tuple[Callable[[], BaseException], ExitCode]] = [
    (lambda: EngineUnavailable("no Docker engine answers: refused; start one"), ExitCode.FAILED),
    (lambda: SandboxError("the session's container stopped"), ExitCode.FAILED),
    (lambda: ImageBuildError("no image recipe named 'x'; known: dev"), ExitCode.FAILED),
    (lambda: SubscriberFailed("audit log: No space left on device"), ExitCode.FAILED),
    (lambda: PolicyError("unknown policy 'nope'"), ExitCode.USAGE),
    (_validation_error, ExitCode.USAGE),
    (lambda: RunError("--repo /x: not a folder"), ExitCode.USAGE),
    (lambda: ReplayError("bad.yaml: responses.0.content: field required"), ExitCode.USAGE),
    (lambda: PricingError("prices.yaml: not a mapping"), ExitCode.USAGE),
    (lambda: UsageError("give a command after --, or use --jsonl"), ExitCode.USAGE),
]


@pytest.mark.parametrize(("make", "code"), KINDS, ids=lambda v: getattr(v, "name", ""))
def test_each_kind_exits_with_its_code_and_one_error_line(
    capsys: pytest.CaptureFixture[str], make: Callable[[], BaseException], code: ExitCode
) -> None:
    exc = make()
    exit_code, stderr = _exits(capsys, exc)
    assert exit_code == code
    assert stderr == f"error: {exc}\n"


def test_an_interrupt_exits_130_and_says_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exits(capsys, KeyboardInterrupt()) == (130, "cancelled\n")


def test_run_says_its_containers_are_removed_when_interrupted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _exits(capsys, KeyboardInterrupt(), *RUN_FAILURES) == (
        130,
        "cancelled: the session's containers are removed\n",
    )


@pytest.mark.parametrize(
    "exc", [EngineUnavailable("no Docker engine answers"), SandboxError("it stopped")]
)
def test_exec_exits_125_on_a_sandbox_error(
    capsys: pytest.CaptureFixture[str], exc: Exception
) -> None:
    assert _exits(capsys, exc, *EXEC_FAILURES) == (125, f"error: {exc}\n")


def test_an_override_leaves_the_other_kinds_to_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _exits(capsys, PolicyError("unknown policy"), *EXEC_FAILURES)[0] == 64


def test_an_unreadable_audit_log_exits_2_naming_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(FileNotFoundError) as raised:
        missing.read_bytes()
    assert _exits(capsys, raised.value, unreadable(missing)) == (
        2,
        f"error {missing}: No such file or directory\n",
    )


def test_a_hostile_message_is_shown_not_obeyed(capsys: pytest.CaptureFixture[str]) -> None:
    """An error may quote a file name or a command: an OSC title write and a bidi
    override in it are printed as escapes."""
    code, stderr = _exits(capsys, RunError("--repo /x\x1b]0;pwned\x07\u202e: not a folder"))
    assert code == 64
    assert "\x1b" not in stderr and "\u202e" not in stderr
    assert "\\x1b]0;pwned\\a\\u202e" in stderr


@pytest.mark.parametrize("exc", [ValueError("a bug"), typer.Exit(3), SystemExit(4)])
def test_what_the_table_does_not_name_goes_on_unchanged(exc: BaseException) -> None:
    with pytest.raises(type(exc)) as raised, exit_on_failure(*EXEC_FAILURES):
        raise exc
    assert raised.value is exc


ALL_ROWS = (*FAILURES, *EXEC_FAILURES, *RUN_FAILURES, unreadable(Path("log")))


@pytest.mark.parametrize("failure", ALL_ROWS, ids=lambda f: f.exception)
def test_every_row_names_an_exception_where_users_import_it(failure: Failure) -> None:
    """A moved or renamed exception would silently stop matching: its row must resolve."""
    module_name, _, name = failure.exception.rpartition(".")
    kind = getattr(importlib.import_module(module_name), name)
    assert isinstance(kind, type) and issubclass(kind, BaseException)
    assert failure.loaded_class() is kind


def test_pydantic_validation_error_is_the_one_the_table_names() -> None:
    assert pydantic.ValidationError is pydantic_core.ValidationError


def test_a_row_whose_module_is_not_loaded_matches_nothing_and_loads_nothing() -> None:
    row = Failure("airlock_not_a_module.Boom", ExitCode.FAILED)
    assert not row.matches(RuntimeError("x"))
    assert "airlock_not_a_module" not in sys.modules


# -- the commands use it --------------------------------------------------------------

runner = CliRunner()
NO_ENGINE = "unix:///nonexistent/airlock-test-no-engine.sock"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "error: give a command after --, or use --jsonl"),
        (["check", "--jsonl", "--", "ls"], "error: --jsonl reads commands from stdin"),
        (["exec", "--runtime", "kata", "--", "ls"], "error: --runtime must be runc or runsc"),
        (["exec", "--policy", "nope", "--", "ls"], "presets: read-only, dev, ci-untrusted"),
    ],
)
def test_usage_errors_exit_64(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 64
    assert message in SGR.sub("", result.stderr)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["exec", "--", "true"], 125),  # exec: the sandbox's failure is not the command's
        (["sessions"], 1),
        (["reap", "--dry-run"], 1),
        (["images", "list"], 1),
    ],
)
def test_no_engine_is_one_line_and_the_commands_code(args: list[str], code: int) -> None:
    result = runner.invoke(app, args, env={"DOCKER_HOST": NO_ENGINE})
    assert result.exit_code == code, result.output
    assert "error: no Docker engine answers" in SGR.sub("", result.stderr)
    assert f"at {NO_ENGINE} (DOCKER_HOST)" in SGR.sub("", result.stderr)  # where it looked
    assert isinstance(result.exception, SystemExit)  # an exit, not an exception let through


def test_run_without_an_engine_exits_1(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README").write_text("hi\n")
    replay = tmp_path / "replay.yaml"
    replay.write_text("responses:\n  - content: [{text: done}]\n")
    result = runner.invoke(
        app,
        ["run", "t", "--repo", str(repo), "--replay", str(replay), "--out", str(tmp_path / "o")],
        env={"DOCKER_HOST": NO_ENGINE},
    )
    assert result.exit_code == 1, result.output
    assert "error: no Docker engine answers" in SGR.sub("", result.stderr)


def _interrupt(*_: object, **__: object) -> None:
    raise KeyboardInterrupt


def test_an_interrupted_command_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_module, "list_sessions", _interrupt)
    result = runner.invoke(app, ["sessions"])
    assert (result.exit_code, SGR.sub("", result.stderr)) == (130, "cancelled\n")


def test_an_interrupted_run_exits_130_and_says_its_containers_are_gone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(run_cli, "execute", _interrupt)
    result = runner.invoke(app, ["run", "t", "--repo", str(tmp_path)])
    assert result.exit_code == 130
    assert SGR.sub("", result.stderr) == "cancelled: the session's containers are removed\n"
