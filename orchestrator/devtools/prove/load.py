"""The load suite: many sessions at once, every command through the analyzer and a sandbox.

Each session runs its commands one after another; all sessions run together. A
command's result is wrong if its exit code or output is not the one it must give.
Latency is per command (analyze + exec); memory is the orchestrator's own peak RSS,
which must not grow with the volume of output (outputs are streamed and capped).
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time

from pydantic import BaseModel

from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.spec import SessionSpec
from security import PRESETS, Decision, analyze

OUTPUT_CAP = 64 * 1024  # bytes kept per stream and command


class LoadReport(BaseModel):
    """What one load run did and measured."""

    sessions: int
    commands: int
    output_bytes_per_command: int
    wrong: int
    refused: int  # the analyzer refused a command it should allow: a wrong result too
    p50_ms: float
    p99_ms: float
    commands_per_s: float
    peak_rss_mb: float
    rss_growth_mb: float  # peak RSS over the run minus the RSS before it


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _command(session: int, index: int, output_bytes: int) -> tuple[str, bytes]:
    """A command and the exact stdout it must give (capped like the exec channel caps it)."""
    marker = f"s{session}c{index}"
    if output_bytes <= len(marker) + 1:
        return f"echo {marker}", f"{marker}\n".encode()
    # marker, then filler: `head -c` keeps the output size exact
    command = f"{{ echo {marker}; yes x | head -c {output_bytes}; }} | head -c {output_bytes}"
    kept = min(output_bytes, OUTPUT_CAP)  # built no larger than what comes back
    expected = (f"{marker}\n".encode() + b"x\n" * (kept // 2 + 1))[:kept]
    return command, expected


async def _one_session(
    backend: DockerBackend, number: int, commands: int, output_bytes: int
) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    wrong = refused = 0
    policy = PRESETS["dev"]
    async with backend.session(SessionSpec()) as session:
        for index in range(commands):
            command, expected = _command(number, index, output_bytes)
            started = time.perf_counter()
            verdict = await asyncio.to_thread(analyze, command, policy)
            if verdict.decision is not Decision.ALLOW:
                refused += 1
                continue
            result = await _run(session, command)
            latencies.append((time.perf_counter() - started) * 1000)
            if result != (0, expected):
                wrong += 1
    return latencies, wrong, refused


async def _run(session: DockerSession, command: str) -> tuple[int | None, bytes]:
    result = await session.exec(command, timeout=60, max_output=OUTPUT_CAP)
    return result.exit_code, result.stdout


async def _load(sessions: int, commands: int, output_bytes: int) -> tuple[list[float], int, int]:
    backend = DockerBackend()
    runs = await asyncio.gather(
        *(_one_session(backend, n, commands, output_bytes) for n in range(sessions))
    )
    latencies = [ms for run in runs for ms in run[0]]
    return latencies, sum(run[1] for run in runs), sum(run[2] for run in runs)


def run_load(sessions: int = 50, commands: int = 100, output_bytes: int = 100) -> LoadReport:
    """Run ``sessions`` sessions of ``commands`` commands each, all at once."""
    before = _rss_mb()
    started = time.perf_counter()
    latencies, wrong, refused = asyncio.run(_load(sessions, commands, output_bytes))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return LoadReport(
        sessions=sessions,
        commands=sessions * commands,
        output_bytes_per_command=output_bytes,
        wrong=wrong,
        refused=refused,
        p50_ms=round(statistics.median(ordered), 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        commands_per_s=round(len(latencies) / elapsed, 1),
        peak_rss_mb=round(_rss_mb(), 1),
        rss_growth_mb=round(_rss_mb() - before, 1),
    )
