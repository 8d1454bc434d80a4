"""`airlock exec`, `airlock sessions`, `airlock reap`: the sandbox from the command line.

`airlock exec` copies the command's output to ours. A stream that is a terminal gets
escape sequences made visible (`orchestrator.events.safe_text`), since a person reads it; a
stream that is a pipe or a file gets the bytes as they are, for the program that reads
them (`airlock exec -- CMD | cat` shows the raw bytes). airlock's own messages on
stderr are always made visible: they quote the command.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import BinaryIO, Literal, TextIO

from pydantic import BaseModel

from orchestrator.events.safe_text import VisibleStream, visible
from sandbox import (
    Confinement,
    DockerBackend,
    ExecExit,
    OutputChunk,
    SessionSpec,
    failure_note,
    labels,
    read_only_confinement,
    shows_refusal,
)
from sandbox.engine import engine
from security import Decision, Policy, analyze

REFUSED = 126
TIMED_OUT = 124
SANDBOX_ERROR = 125


def exit_code_of(final: ExecExit) -> int:
    """The shell's convention: the code, 128+N for signal N, 124 for a timeout."""
    if final.error and not final.timed_out:
        return SANDBOX_ERROR
    if final.timed_out:
        return TIMED_OUT
    if final.signal is not None:
        return 128 + final.signal
    return final.exit_code if final.exit_code is not None else SANDBOX_ERROR


async def run_streaming(
    command: str,
    spec: SessionSpec,
    timeout: float | None,
    confinement: Confinement | None = None,
) -> int:
    """Run ``command`` in a fresh session, copying its output live to ours."""
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
    verdict = analyze(command, policy)
    if verdict.decision is not Decision.ALLOW:
        sys.stderr.write(f"airlock: refused ({verdict.decision.value}, policy {policy.name})\n")
        for finding in verdict.findings:
            sys.stderr.write(visible(f"  {finding.check} {finding.title}: {finding.detail}") + "\n")
        return REFUSED
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


class SessionRow(BaseModel):
    container: str
    session: str
    image: str
    state: str
    owner_pid: str
    age_s: float
    expires_in_s: float


def list_sessions() -> list[SessionRow]:
    now = time.time()
    rows = []
    with engine() as client:
        for c in client.containers.list(all=True, filters={"label": f"{labels.MANAGED}=1"}):
            tags = c.labels or {}
            rows.append(
                SessionRow(
                    container=c.short_id,
                    session=tags.get(labels.SESSION, "?"),
                    image=str(c.attrs.get("Config", {}).get("Image", "?")),
                    state=c.status,
                    owner_pid=tags.get(labels.OWNER_PID, "?"),
                    age_s=round(now - float(tags.get(labels.CREATED, now)), 1),
                    expires_in_s=round(float(tags.get(labels.EXPIRES, now)) - now, 1),
                )
            )
    return rows
