"""`airlock exec`: analyze a command, run it in a fresh sandbox, stream its output.

The command: one argument is a shell line (`airlock exec -- 'ls | wc -l'`); several are
an argv, each word passed as it is (`airlock exec -- echo 'a   b'`), quoted for the shell
with `shlex.join`. ``--env`` assignments become an ``export`` in front of it. The analyzer
judges that line, and that line, no other, runs.

Our stdin is forwarded to the command (`exec_stdin`; not when it is a terminal).

`airlock exec` copies the command's output to ours, all of it: it holds none (each
exec's output window bounds what is in flight), so there is no cap unless
``--max-output`` sets one; a cut is then said on stderr and exits OUTPUT_TRUNCATED. A
stream that is a terminal gets escape sequences made visible
(`orchestrator.events.safe_text`), since a person reads it; a stream that is a pipe or
a file gets the bytes as they are, for the program that reads them (`airlock exec --
CMD | cat` shows the raw bytes). airlock's own messages on stderr are always made
visible: they quote the command.

It exits with the command's code; 126 when refused, 124 on timeout, 125 when the
sandbox fails, 128+N when killed by signal N (an out-of-memory kill is 137 and says
so), 123 when ``--max-output`` cut the output (`exit_codes`).
"""

from __future__ import annotations

import math
import re
import shlex
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO, Literal, TextIO, cast

import typer

from orchestrator.cli.egress_options import AllowHosts, Credentials
from orchestrator.cli.errors import EXEC_FAILURES, UsageError, exit_on_failure
from orchestrator.cli.exit_codes import ExitCode
from orchestrator.cli.server_options import Server, Token
from orchestrator.events.safe_text import VisibleStream, visible

if TYPE_CHECKING:
    from sandbox import Confinement, EgressRecord, ExecExit, SessionSpec
    from security import NetworkPolicy, Policy

NO_CAP = sys.maxsize  # the sandbox's output cap when --max-output is not given
SIGKILL = 9
SIGPIPE = 13
Runtime = Literal["runc", "runsc"]
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def exec_(
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="COMMAND", help="After --: one shell line, or an argv of several words."
        ),
    ] = None,
    image: Annotated[str, typer.Option(metavar="IMAGE", help="Sandbox image.")] = "airlock/dev",
    runtime: Annotated[
        str, typer.Option(metavar="RUNTIME", help="runc, or runsc for gVisor.")
    ] = "runc",
    policy: Annotated[
        str,
        typer.Option(
            metavar="PRESET|FILE",
            help="Preset or YAML file; default dev, as run (check: read-only).",
        ),
    ] = "dev",
    timeout: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="How long (> 0) before it is killed.")
    ] = None,
    max_output: Annotated[
        int | None,
        typer.Option(
            "--max-output",
            metavar="BYTES",
            help="Cap each of stdout and stderr; a cut says so and exits 123. Default: no cap.",
        ),
    ] = None,
    repo: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Copy this folder into /workspace first.")
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="Set a variable (repeatable); judged too."),
    ] = None,
    memory: Annotated[
        int | None, typer.Option(metavar="MB", help="Memory limit, swap included.")
    ] = None,
    workspace_mb: Annotated[
        int | None, typer.Option(metavar="MB", help="Size of the writable /workspace.")
    ] = None,
    allow_host: AllowHosts = None,
    credential: Credentials = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Analyze COMMAND, run it in a fresh sandbox, stream its output, exit with its code.

    One argument is a shell line; several are an argv, kept as given. stdin is forwarded
    (when it is not a terminal). Output is streamed whole unless --max-output caps it.
    --env is judged as an export in the line.

    \b
    Exit codes:
      N      the command's own code
      123    --max-output cut the output (stderr says which stream)
      124    timed out
      125    sandbox error (no engine, the sandbox failed)
      126    refused by the analyzer
      128+N  killed by signal N (137 also when out of memory, which stderr says)
      64     usage error

    \b
    Examples:
      airlock exec -- 'ls | wc -l'
      airlock exec -- echo 'a   b' 'c;d'
      echo hello | airlock exec -- cat
      airlock exec --repo . --env CI=1 --timeout 600 -- pytest -q
      airlock exec --allow-host pypi.org --allow-host files.pythonhosted.org \\
          --repo . -- 'python3 -m venv /tmp/v && /tmp/v/bin/pip install -r requirements.txt'
      airlock exec --allow-host api.github.com --credential GH_TOKEN=api.github.com \\
          -- 'curl -sH "Authorization: Bearer $GH_TOKEN" https://api.github.com/user'
      AIRLOCK_TOKEN=... airlock exec --server http://ci-host:8700 --policy dev -- make test

    With --server the service runs it (a preset policy only; no --repo, --credential,
    --memory, --workspace-mb or --max-output, and stdin is not forwarded).
    """
    from security import Policy

    with exit_on_failure(*EXEC_FAILURES):
        if runtime not in ("runc", "runsc"):
            raise UsageError(f"--runtime must be runc or runsc, not {runtime!r}")
        check_timeout(timeout)
        if max_output is not None and max_output < 0:
            raise UsageError(f"--max-output must be a number of bytes >= 0, not {max_output}")
        line = with_environment(parse_env(env or []), command_line(command or []))
        if server is not None:
            check_remote(policy, token, repo=repo, credential=credential, memory=memory,
                         workspace_mb=workspace_mb, max_output=max_output)  # fmt: skip
            from orchestrator.cli.remote_exec import execute_remote

            raise typer.Exit(execute_remote(
                server, str(token), line, image=image, runtime=runtime, policy=policy,
                allow_hosts=allow_host or [], timeout=timeout,
            ))  # fmt: skip
        sizes = Sizes.checked(memory, workspace_mb)
        if repo is not None:
            check_repo(repo, sizes.workspace_limit())
        loaded = Policy.load(policy).allowing_hosts(allow_host or []).brokering(credential or [])
        options = Options(
            image, cast(Runtime, runtime), timeout, max_output, repo, sizes, loaded.network
        )
        raise typer.Exit(execute(line, loaded, options))


def check_remote(policy: str, token: str | None, **local_only: object) -> None:
    """What --server can do: a preset policy, a token, none of the local-only options."""
    from security.policy import PRESETS

    if not token:
        raise UsageError("--server needs a token: set AIRLOCK_TOKEN (or give --token)")
    if policy not in PRESETS:
        raise UsageError(f"--server takes a preset policy ({', '.join(PRESETS)}), not a file")
    given = [name for name, value in local_only.items() if value]
    if given:
        names = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UsageError(f"--server runs on the service's engine: {names} cannot go with it")


def command_line(words: list[str]) -> str:
    """The shell line of COMMAND: one word is a line as it is, several an argv quoted."""
    if not words or not "".join(words).strip():
        raise UsageError("give a command after --")
    return words[0] if len(words) == 1 else shlex.join(words)


def parse_env(assignments: list[str]) -> dict[str, str]:
    """{KEY: VALUE} of ``--env KEY=VALUE`` options (a later KEY wins)."""
    parsed: dict[str, str] = {}
    for item in assignments:
        key, equals, value = item.partition("=")
        if not equals or not ENV_NAME.fullmatch(key):
            raise UsageError(
                f"--env {visible(item)!r}: expected KEY=VALUE, KEY a shell variable name"
            )
        parsed[key] = value
    return parsed


def with_environment(variables: dict[str, str], line: str) -> str:
    """``line`` after an ``export`` of ``variables``: the analyzer then judges them as it
    judges any assignment (LD_PRELOAD, BASH_ENV, PATH ... are refused or asked), since it
    is this line that runs, not the line with variables slipped into its environment."""
    if not variables:
        return line
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in variables.items())
    return f"export {exports}; {line}"


def check_timeout(timeout: float | None) -> None:
    """A timeout is a positive, finite number of seconds (0 could run nothing)."""
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise UsageError(f"--timeout must be a number of seconds > 0, not {timeout}")


@dataclass(frozen=True)
class Sizes:
    """--memory and --workspace-mb, checked; None keeps the sandbox's default."""

    memory_mb: int | None = None
    workspace_mb: int | None = None

    @classmethod
    def checked(cls, memory_mb: int | None, workspace_mb: int | None) -> Sizes:
        if memory_mb is not None and memory_mb < 16:
            raise UsageError(f"--memory must be at least 16 (MB), not {memory_mb}")
        if workspace_mb is not None and workspace_mb < 1:
            raise UsageError(f"--workspace-mb must be at least 1, not {workspace_mb}")
        return cls(memory_mb, workspace_mb)

    def workspace_limit(self) -> int:
        from sandbox import ResourceLimits

        return self.workspace_mb or ResourceLimits().workspace_mb


def check_repo(repo: Path, workspace_mb: int) -> None:
    """--repo is a folder whose files fit the workspace (else the copy could only fail,
    after reading all of it into memory)."""
    if not repo.is_dir():
        raise UsageError(f"--repo {visible(str(repo))}: not a folder")
    limit = workspace_mb * 2**20
    total = 0
    for path in repo.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > limit:
                raise UsageError(
                    f"--repo {visible(str(repo))} holds more than the workspace's "
                    f"{workspace_mb} MB (--workspace-mb)"
                )


@dataclass(frozen=True)
class Options:
    """How to run: the sandbox, its limits, what to copy in, how long, how much output."""

    image: str = "airlock/dev"
    runtime: Runtime = "runc"
    timeout: float | None = None
    max_output: int | None = None
    repo: Path | None = None
    sizes: Sizes = Sizes()
    egress: NetworkPolicy | None = None  # the hosts its proxy may reach; None: no egress

    def spec(self) -> SessionSpec:
        from sandbox import ResourceLimits, SessionSpec
        from security import NetworkPolicy

        limits = ResourceLimits()
        if self.sizes.memory_mb is not None:
            limits = limits.model_copy(update={"memory_mb": self.sizes.memory_mb})
        if self.sizes.workspace_mb is not None:
            limits = limits.model_copy(update={"workspace_mb": self.sizes.workspace_mb})
        shell = "sh" if self.image.startswith("airlock/minimal") else "bash"
        egress = self.egress or NetworkPolicy()
        return SessionSpec(
            image=self.image, runtime=self.runtime, shell=shell, limits=limits, egress=egress
        )


def exit_code_of(final: ExecExit) -> int:
    """The shell's convention: the code, 128+N for signal N, 124 for a timeout; 137 for
    an out-of-memory kill (even when it took the sandbox with it); OUTPUT_TRUNCATED when
    a cap cut the output of a command that ended by itself."""
    if final.timed_out:
        return ExitCode.TIMED_OUT
    if final.oom_killed:
        return ExitCode.SIGNALLED + SIGKILL
    if final.error:
        return ExitCode.SANDBOX_ERROR
    if final.signal is not None:
        return ExitCode.SIGNALLED + final.signal
    if final.exit_code is None:
        return ExitCode.SANDBOX_ERROR
    if final.truncated:
        return ExitCode.OUTPUT_TRUNCATED
    return final.exit_code


def notes_of(final: ExecExit, options: Options, memory_mb: int) -> list[str]:
    """airlock's lines on stderr about how the command ended (made visible)."""
    notes: list[str] = []
    if final.error:
        notes.append(visible(final.error))
    elif final.timed_out:
        notes.append(f"timed out after {options.timeout} s")
    if final.oom_killed:
        notes.append(f"killed: out of memory (limit {memory_mb} MB)")
    for stream in ("stdout", "stderr"):
        if getattr(final, f"{stream}_truncated"):
            notes.append(f"{stream} truncated at {options.max_output} bytes (use --max-output)")
    if final.truncated and final.exit_code is not None and not final.error:
        notes.append(f"the command exited {final.exit_code}")
    return [f"airlock: {note}\n" for note in notes]


async def run_streaming(
    command: str,
    options: Options,
    confinement: Confinement | None = None,
    stdin: AsyncIterator[bytes] | None = None,
) -> int:
    """Run ``command`` in a fresh session, copying its output live to ours."""
    from sandbox import DockerBackend, OutputChunk, failure_note, shows_refusal

    spec = options.spec()
    async with DockerBackend().session(spec) as session:
        session.watch_egress(say_refused_egress)
        if options.repo is not None:
            await session.put_dir(options.repo, spec.workdir)
        final: ExecExit | None = None
        refusal_seen = False
        sinks = {"stdout": Sink(sys.stdout), "stderr": Sink(sys.stderr)}
        cap = NO_CAP if options.max_output is None else options.max_output
        events = session.stream(
            command, timeout=options.timeout, stdin=stdin, max_output=cap, confinement=confinement
        )
        try:
            async for event in events:
                if isinstance(event, OutputChunk):
                    sinks[event.stream].write(event.data)
                    if event.stream == "stderr" and not refusal_seen:
                        refusal_seen = shows_refusal(event.data.decode("utf-8", "replace"))
                else:
                    final = event
        except BrokenPipeError:  # `airlock exec -- CMD | head`: the reader is gone
            close = getattr(events, "aclose", None)  # ends the command, as SIGPIPE would
            if close is not None:
                await close()
            silence_stdout()
            return ExitCode.SIGNALLED + SIGPIPE
        for sink in sinks.values():
            sink.end()
        assert final is not None
        for note in notes_of(final, options, spec.limits.memory_mb):
            sys.stderr.write(note)
        report = final.confinement
        if report is not None and not report.confined:
            sys.stderr.write(f"airlock: proven read-only, but {visible(report.summary())}\n")
        elif report is not None and final.status == "failed" and refusal_seen:
            sys.stderr.write(f"airlock: {visible(failure_note(report))}\n")
        return exit_code_of(final)


def execute(command: str, policy: Policy, options: Options | None = None) -> int:
    """Run ``command`` if the analyzer allows it (as a headless policy answers: `check.judge`);
    its exit code, or REFUSED."""
    from orchestrator.cli.check import judge
    from orchestrator.cli.exec_stdin import forwarded_stdin
    from orchestrator.cli.signals import run_cancellable
    from sandbox import read_only_confinement
    from security import Decision

    options = options or Options()
    verdict = judge(command, policy)
    if verdict.decision is not Decision.ALLOW:
        sys.stderr.write(f"airlock: refused ({verdict.decision.value}, policy {policy.name})\n")
        for finding in verdict.findings:
            sys.stderr.write(visible(f"  {finding.check} {finding.title}: {finding.detail}") + "\n")
        return ExitCode.REFUSED
    # Allowed by the read-only proof (whatever else the policy allows): the kernel holds it,
    # with the session's egress (if any) as the only way out.
    confinement = read_only_confinement(command, options.spec().egress)
    return run_cancellable(run_streaming(command, options, confinement, forwarded_stdin(sys.stdin)))


def say_refused_egress(record: EgressRecord) -> None:
    """A request the session's proxy refused, said on stderr (the client got a 403)."""
    if record.decision == "refused":
        where = visible(f"{record.method} {record.host}:{record.port}".strip())
        sys.stderr.write(f"airlock: egress refused: {where} ({visible(record.reason)})\n")


def silence_stdout() -> None:
    """Point our stdout at /dev/null: its reader is gone, and the flush at exit must not
    fail again."""
    import os

    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)


class Sink:
    """One of our output streams: escapes made visible at a terminal, bytes as they
    are anywhere else."""

    def __init__(self, stream: TextIO) -> None:
        self.raw: BinaryIO = stream.buffer
        self.visible = VisibleStream() if stream.isatty() else None

    def write(self, data: bytes) -> None:
        if self.visible is not None:
            data = self.visible.feed(data).encode()
        self.raw.write(data)
        self.raw.flush()

    def end(self) -> None:
        if self.visible is not None:
            self.raw.write(self.visible.end().encode())
            self.raw.flush()
