"""`airlock exec`: analyze a command, run it in a fresh sandbox, stream its output.

`airlock exec` copies the command's output to ours. A stream that is a terminal gets
escape sequences made visible (`orchestrator.events.safe_text`), since a person reads it; a
stream that is a pipe or a file gets the bytes as they are, for the program that reads
them (`airlock exec -- CMD | cat` shows the raw bytes). airlock's own messages on
stderr are always made visible: they quote the command.

It exits with the command's code; 126 when refused, 124 on timeout, 125 when the
sandbox fails, 128+N when killed by signal N (`exit_codes`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, BinaryIO, Literal, TextIO

import typer

from orchestrator.cli.errors import EXEC_FAILURES, UsageError, exit_on_failure
from orchestrator.cli.exit_codes import ExitCode
from orchestrator.events.safe_text import VisibleStream, visible

if TYPE_CHECKING:
    from sandbox import Confinement, ExecExit, SessionSpec
    from security import Policy


def exec_(
    command: Annotated[list[str], typer.Argument(help="The command line to run (after --).")],
    image: Annotated[str, typer.Option(help="Sandbox image.")] = "airlock/dev",
    runtime: Annotated[str, typer.Option(help="runc, or runsc for gVisor.")] = "runc",
    policy: Annotated[
        str, typer.Option(help="Preset or YAML file; default dev, as run (check: read-only).")
    ] = "dev",
    timeout: Annotated[float | None, typer.Option(help="Seconds before it is killed.")] = None,
) -> None:
    """Analyze COMMAND, run it in a fresh sandbox, stream its output, exit with its code."""
    from security import Policy

    with exit_on_failure(*EXEC_FAILURES):
        if runtime not in ("runc", "runsc"):
            raise UsageError(f"--runtime must be runc or runsc, not {runtime!r}")
        loaded = Policy.load(policy)
        line = " ".join(command)
        raise typer.Exit(execute(line, image, runtime, loaded, timeout))  # type: ignore[arg-type]


def exit_code_of(final: ExecExit) -> int:
    """The shell's convention: the code, 128+N for signal N, 124 for a timeout."""
    if final.error and not final.timed_out:
        return ExitCode.SANDBOX_ERROR
    if final.timed_out:
        return ExitCode.TIMED_OUT
    if final.signal is not None:
        return ExitCode.SIGNALLED + final.signal
    return final.exit_code if final.exit_code is not None else ExitCode.SANDBOX_ERROR


async def run_streaming(
    command: str,
    spec: SessionSpec,
    timeout: float | None,
    confinement: Confinement | None = None,
) -> int:
    """Run ``command`` in a fresh session, copying its output live to ours."""
    from sandbox import DockerBackend, OutputChunk, failure_note, shows_refusal

    async with DockerBackend().session(spec) as session:
        final: ExecExit | None = None
        refusal_seen = False
        sinks = {"stdout": Sink(sys.stdout), "stderr": Sink(sys.stderr)}
        async for event in session.stream(command, timeout=timeout, confinement=confinement):
            if isinstance(event, OutputChunk):
                sinks[event.stream].write(event.data)
                if event.stream == "stderr" and not refusal_seen:
                    refusal_seen = shows_refusal(event.data.decode("utf-8", "replace"))
            else:
                final = event
        for sink in sinks.values():
            sink.end()
        assert final is not None
        if final.error:
            sys.stderr.write(f"airlock: {visible(final.error)}\n")
        elif final.timed_out:
            sys.stderr.write(f"airlock: timed out after {timeout} s\n")
        report = final.confinement
        if report is not None and not report.confined:
            sys.stderr.write(f"airlock: proven read-only, but {visible(report.summary())}\n")
        elif report is not None and final.status == "failed" and refusal_seen:
            sys.stderr.write(f"airlock: {visible(failure_note(report))}\n")
        return exit_code_of(final)


def execute(
    command: str,
    image: str,
    runtime: Literal["runc", "runsc"],
    policy: Policy,
    timeout: float | None,
) -> int:
    """Run ``command`` if the analyzer allows it (as a headless policy answers: `check.judge`);
    its exit code, or REFUSED."""
    import asyncio

    from orchestrator.cli.check import judge
    from sandbox import SessionSpec, read_only_confinement
    from security import Decision

    verdict = judge(command, policy)
    if verdict.decision is not Decision.ALLOW:
        sys.stderr.write(f"airlock: refused ({verdict.decision.value}, policy {policy.name})\n")
        for finding in verdict.findings:
            sys.stderr.write(visible(f"  {finding.check} {finding.title}: {finding.detail}") + "\n")
        return ExitCode.REFUSED
    shell = "sh" if image.startswith("airlock/minimal") else "bash"
    spec = SessionSpec(image=image, runtime=runtime, shell=shell)
    # Allowed by the read-only proof (whatever else the policy allows): the kernel holds it.
    confinement = read_only_confinement(command)
    return asyncio.run(run_streaming(command, spec, timeout, confinement))


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
