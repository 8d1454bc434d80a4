"""`airlock bench`: speed figures, as ratios against the raw tool measured in the same run."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import bashlex
from pydantic import BaseModel

from security import analyze

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "corpus"


class AnalyzerBench(BaseModel):
    """Figures for `security.analyze` against a bare `bashlex.parse` of the same lines."""

    commands: int
    repeat: int
    commands_per_s: float
    analyze_p50_us: float
    analyze_p99_us: float
    bashlex_parse_p50_us: float
    bashlex_parse_p99_us: float
    p50_ratio: float  # analyze p50 / bashlex.parse p50


def corpus_commands(directory: Path = CORPUS_DIR) -> list[str]:
    commands: list[str] = []
    for name in ("adversarial.jsonl", "benign.jsonl"):
        for line in (directory / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                commands.append(json.loads(line)["cmd"])
    return commands


def _bare_parse(command: str) -> None:
    with contextlib.suppress(Exception):  # its failures cost time too; that is all
        bashlex.parse(command)


def _timings(func: Callable[[str], object], commands: list[str], repeat: int) -> list[float]:
    samples: list[float] = []
    for _ in range(repeat):
        for command in commands:
            start = time.perf_counter_ns()
            func(command)
            samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def _percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def bench_analyzer(commands: list[str], repeat: int = 5) -> AnalyzerBench:
    """Interleave rounds of both so machine noise hits them alike."""
    for command in commands:  # warm caches and imports
        analyze(command)
        _bare_parse(command)
    analyze_us: list[float] = []
    parse_us: list[float] = []
    for _ in range(repeat):
        analyze_us += _timings(analyze, commands, 1)
        parse_us += _timings(_bare_parse, commands, 1)
    a50, p50 = _percentile(analyze_us, 50), _percentile(parse_us, 50)
    return AnalyzerBench(
        commands=len(commands),
        repeat=repeat,
        commands_per_s=round(len(analyze_us) / (sum(analyze_us) / 1e6), 1),
        analyze_p50_us=round(a50, 1),
        analyze_p99_us=round(_percentile(analyze_us, 99), 1),
        bashlex_parse_p50_us=round(p50, 1),
        bashlex_parse_p99_us=round(_percentile(parse_us, 99), 1),
        p50_ratio=round(a50 / p50, 2),
    )


class SandboxBench(BaseModel):
    """The exec channel against `docker exec`, and session start against a bare run."""

    runtime: str
    runs: int
    agent_exec_p50_ms: float
    agent_exec_p99_ms: float
    docker_exec_p50_ms: float
    docker_exec_p99_ms: float
    exec_speedup_p50: float  # docker exec p50 / agent exec p50
    session_start_p50_ms: float
    docker_run_p50_ms: float  # create+start+wait+remove of `true`, same image and settings


def _ms(samples: list[float], q: int) -> float:
    return round(_percentile(samples, q) * 1000, 2)


async def _bench_sandbox(runtime: str, runs: int, starts: int) -> SandboxBench:
    import asyncio

    from sandbox.docker_backend import DockerBackend
    from sandbox.hardening import container_settings
    from sandbox.spec import SessionSpec

    spec = SessionSpec(runtime=runtime)
    backend = DockerBackend()
    agent: list[float] = []
    docker_exec: list[float] = []
    async with backend.session(spec) as session:
        container = session.container
        for _ in range(5):  # warm up both paths
            await session.exec(["true"])
            await asyncio.to_thread(container.exec_run, ["true"], user=spec.user)
        for _ in range(runs):  # interleaved, so noise hits both alike
            start = time.perf_counter()
            await session.exec(["true"])
            agent.append(time.perf_counter() - start)
            start = time.perf_counter()
            await asyncio.to_thread(container.exec_run, ["true"], user=spec.user)
            docker_exec.append(time.perf_counter() - start)
    session_starts: list[float] = []
    bare_runs: list[float] = []
    settings = container_settings(spec)

    def bare_run() -> None:
        backend.client.containers.run(command=["true"], remove=True, **settings)

    for _ in range(starts):
        start = time.perf_counter()
        async with backend.session(spec) as session:
            session_starts.append(time.perf_counter() - start)
        start = time.perf_counter()
        await asyncio.to_thread(bare_run)
        bare_runs.append(time.perf_counter() - start)
    return SandboxBench(
        runtime=runtime,
        runs=runs,
        agent_exec_p50_ms=_ms(agent, 50),
        agent_exec_p99_ms=_ms(agent, 99),
        docker_exec_p50_ms=_ms(docker_exec, 50),
        docker_exec_p99_ms=_ms(docker_exec, 99),
        exec_speedup_p50=round(_percentile(docker_exec, 50) / _percentile(agent, 50), 1),
        session_start_p50_ms=_ms(session_starts, 50),
        docker_run_p50_ms=_ms(bare_runs, 50),
    )


def bench_sandbox(runtime: str = "runc", runs: int = 200, starts: int = 10) -> SandboxBench:
    import asyncio

    return asyncio.run(_bench_sandbox(runtime, runs, starts))
