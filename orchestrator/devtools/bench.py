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

from orchestrator.devtools.package_data import corpus_dir
from security import analyze


class AnalyzerBench(BaseModel):
    """Figures for `security.analyze` against a bare `bashlex.parse` of the same lines."""

    commands: int
    repeat: int
    commands_per_s: float
    analyze_p50_us: float
    analyze_p99_us: float
    bashlex_parse_p50_us: float
    bashlex_parse_p99_us: float
    p50_ratio: float  # analyze p50 / bashlex.parse p50, each command timed by both in turn
    # bashlex.parse alone in a tight loop over the corpus: hot caches, its best case
    bashlex_tight_loop_p50_us: float
    p50_ratio_to_tight_loop: float


def corpus_commands(directory: Path | None = None) -> list[str]:
    """Every ``cmd`` of the analyzer corpus (the package's own unless ``directory``)."""
    directory = directory or corpus_dir()
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
    """Time both on each command in turn, so machine noise and cache state hit them
    alike; also time the bare parse alone in a tight loop, its best case."""
    for command in commands:  # warm caches and imports
        analyze(command)
        _bare_parse(command)
    analyze_us: list[float] = []
    parse_us: list[float] = []
    tight_us: list[float] = []
    for _ in range(repeat):
        for command in commands:
            analyze_us += _timings(analyze, [command], 1)
            parse_us += _timings(_bare_parse, [command], 1)
        tight_us += _timings(_bare_parse, commands, 1)
    a50, p50, t50 = (_percentile(s, 50) for s in (analyze_us, parse_us, tight_us))
    return AnalyzerBench(
        commands=len(commands),
        repeat=repeat,
        commands_per_s=round(len(analyze_us) / (sum(analyze_us) / 1e6), 1),
        analyze_p50_us=round(a50, 1),
        analyze_p99_us=round(_percentile(analyze_us, 99), 1),
        bashlex_parse_p50_us=round(p50, 1),
        bashlex_parse_p99_us=round(_percentile(parse_us, 99), 1),
        p50_ratio=round(a50 / p50, 2),
        bashlex_tight_loop_p50_us=round(t50, 1),
        p50_ratio_to_tight_loop=round(a50 / t50, 2),
    )


class SandboxBench(BaseModel):
    """Sessions against the raw engine, measured in one run (DESIGN: ratios, not times)."""

    runtime: str
    runs: int
    exec_rtt_p50_ms: float  # `true` through the session's exec channel
    exec_rtt_p99_ms: float
    exec_run_p50_ms: float  # the Docker SDK's exec_run of `true` in the same container
    exec_run_p99_ms: float
    docker_exec_cli_p50_ms: float  # `docker exec CONTAINER true`
    exec_speedup_vs_exec_run: float
    cold_start_p50_ms: float  # a new session, ready for commands
    docker_run_p50_ms: float  # `docker run` of `true`, same image and flags
    cold_start_ratio: float
    warm_acquire_p50_ms: float  # WarmPool.acquire
    warm_acquire_p99_ms: float
    concurrent20_execs_per_s: float  # 20 sessions, each running commands at once


def _ms(samples: list[float], q: int) -> float:
    return round(_percentile(samples, q) * 1000, 2)


async def _exec_rtts(runtime: str, runs: int) -> tuple[list[float], list[float], list[float]]:
    import asyncio
    import subprocess

    from sandbox.docker_backend import DockerBackend
    from sandbox.spec import SessionSpec

    spec = SessionSpec(runtime=runtime)
    agent: list[float] = []
    sdk: list[float] = []
    cli: list[float] = []
    async with DockerBackend().session(spec) as session:
        container = session.container
        cli_argv = ["docker", "exec", "-u", spec.user, str(container.id), "true"]
        for _ in range(5):  # warm up every path
            await session.exec(["true"])
            await asyncio.to_thread(container.exec_run, ["true"], user=spec.user)
        # Alternating blocks: machine noise hits all paths alike, while one path's
        # leftovers (dockerd cleaning up an exec) do not land in the other's samples.
        block = 25
        for first in range(0, runs, block):
            for _ in range(min(block, runs - first)):
                start = time.perf_counter()
                await session.exec(["true"])
                agent.append(time.perf_counter() - start)
            await asyncio.sleep(0.05)
            for _ in range(min(block, runs - first)):
                start = time.perf_counter()
                await asyncio.to_thread(container.exec_run, ["true"], user=spec.user)
                sdk.append(time.perf_counter() - start)
            for _ in range(3):  # the CLI is slow: a few per block is plenty
                start = time.perf_counter()
                await asyncio.to_thread(subprocess.run, cli_argv, check=True,
                                        capture_output=True)  # fmt: skip
                cli.append(time.perf_counter() - start)
            await asyncio.sleep(0.05)
    return agent, sdk, cli


async def _starts(runtime: str, starts: int) -> tuple[list[float], list[float], list[float]]:
    import asyncio

    from sandbox.docker_backend import DockerBackend
    from sandbox.hardening import container_settings
    from sandbox.pool import WarmPool
    from sandbox.spec import SessionSpec

    spec = SessionSpec(runtime=runtime)
    backend = DockerBackend()
    settings = container_settings(spec)

    def bare_run() -> None:
        backend.client.containers.run(command=["true"], remove=True, **settings)

    cold: list[float] = []
    bare: list[float] = []
    for _ in range(starts):
        start = time.perf_counter()
        async with backend.session(spec):
            cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        await asyncio.to_thread(bare_run)
        bare.append(time.perf_counter() - start)
    warm: list[float] = []
    async with WarmPool(backend, spec, size=2) as pool:
        for _ in range(starts):
            await pool.fill()  # measure the handoff, not a refill in progress
            start = time.perf_counter()
            handed = await pool.acquire()
            warm.append(time.perf_counter() - start)
            await handed.close()
    return cold, bare, warm


async def _concurrent(runtime: str, sessions: int = 20, each: int = 25) -> float:
    import asyncio

    from sandbox.docker_backend import DockerBackend, DockerSession
    from sandbox.spec import SessionSpec

    backend = DockerBackend()
    spec = SessionSpec(runtime=runtime)
    started = await asyncio.gather(*(backend.start(spec) for _ in range(sessions)))
    try:

        async def work(session: DockerSession) -> None:
            for i in range(each):
                result = await session.exec(["echo", str(i)])
                assert result.stdout == f"{i}\n".encode()

        start = time.perf_counter()
        await asyncio.gather(*(work(s) for s in started))
        elapsed = time.perf_counter() - start
    finally:
        await asyncio.gather(*(s.close() for s in started))
    return round(sessions * each / elapsed, 1)


def bench_sandbox(runtime: str = "runc", runs: int = 200, starts: int = 10) -> SandboxBench:
    import asyncio

    agent, sdk, cli = asyncio.run(_exec_rtts(runtime, runs))
    cold, bare, warm = asyncio.run(_starts(runtime, starts))
    throughput = asyncio.run(_concurrent(runtime))
    return SandboxBench(
        runtime=runtime,
        runs=runs,
        exec_rtt_p50_ms=_ms(agent, 50),
        exec_rtt_p99_ms=_ms(agent, 99),
        exec_run_p50_ms=_ms(sdk, 50),
        exec_run_p99_ms=_ms(sdk, 99),
        docker_exec_cli_p50_ms=_ms(cli, 50),
        exec_speedup_vs_exec_run=round(_percentile(sdk, 50) / _percentile(agent, 50), 1),
        cold_start_p50_ms=_ms(cold, 50),
        docker_run_p50_ms=_ms(bare, 50),
        cold_start_ratio=round(_percentile(cold, 50) / _percentile(bare, 50), 2),
        warm_acquire_p50_ms=_ms(warm, 50),
        warm_acquire_p99_ms=_ms(warm, 99),
        concurrent20_execs_per_s=throughput,
    )
