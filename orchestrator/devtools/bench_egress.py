"""`airlock bench egress`: a session's egress proxy against the same traffic direct.

In one run, against one upstream on the host's loopback (`bench_upstream`), the same
client programs (`bench_clients`) run twice: in a session whose policy allows
`BENCH_HOST` (through its proxy, over the exec channel) and on the host, straight to the
upstream. The two paths take turns (download rounds, blocks of requests), so machine
noise hits both alike. Figures:

- a download of ``mb`` MB (10^6 bytes) to /dev/null, `DOWNLOAD_ROUNDS` times a path:
  the median rate of each path and their ratio;
- ``requests`` small requests, one connection each, each timed inside the client: the
  p50 and p99 of each path and the added latency (proxied minus direct);
- a burst of ``burst`` requests of `BURST_BODY` bytes at once: wall time and how many
  got their whole body, on each path;
- the issue's targets: proxied throughput at least `THROUGHPUT_TARGET` of direct, and
  at most `OVERHEAD_TARGET_MS` added at p50;
- the same curl download between a server and curl both in the session: the bound of
  the session's own network stack, whatever the proxy does (gVisor's under runsc).

`measure` takes the two paths as `BenchClient`s, so the same measurement runs with two
host clients (a test without Docker) or a session and the host (`bench_egress`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel, Field

from orchestrator.devtools import bench_clients as clients
from orchestrator.devtools.bench_upstream import BenchUpstream, UpstreamUnavailable
from sandbox.egress import RESOLVE_ENV

BENCH_HOST = "bench.test"  # the name the session's proxy maps to 127.0.0.1
MB = 1_000_000
SMALL_BODY = 128  # bytes of each timed request's body
BURST_BODY = 1024 * 1024
DOWNLOAD_ROUNDS = 3
REQUEST_BLOCK = 50  # requests a client runs at a time before the other path's turn
WARMUP = 3  # untimed requests at the start of each block
THROUGHPUT_TARGET = 0.5  # proxied / direct, at least
OVERHEAD_TARGET_MS = 2.0  # added p50 latency, at most
EXEC_TIMEOUT = 600.0
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"}

Run = Callable[[list[str]], Awaitable[str]]
"""Runs a client's argv to its end and returns its stdout; `ClientError` if it fails."""


class BenchError(Exception):
    """The bench could not measure: a client failed, or the upstream did not start."""


class BenchConfig(BaseModel):
    """What one run measures."""

    mb: float = Field(100.0, gt=0)
    requests: int = Field(200, ge=1)
    burst: int = Field(50, ge=1)

    @property
    def download_bytes(self) -> int:
        return max(1, round(self.mb * MB))


class PathSamples(BaseModel):
    """The raw measurements of one path (proxied or direct)."""

    download_seconds: list[float]  # one per round, by the client's clock
    request_ms: list[float]  # one per timed request, by the client's clock
    burst_ok: int
    burst_wall_ms: float
    burst_errors: list[str] = Field(default_factory=list)


class EgressBench(BaseModel):
    """Figures for the session's egress proxy against the same traffic direct."""

    runtime: str
    transport: str  # how the session reached its proxy: "socket" or "channel"
    session_cpus: float  # the session's CPU limit: its clients and its agent share it
    download_client: clients.DownloadClient
    download_mb: float
    download_rounds: int
    proxied_mb_s: float  # median of the rounds
    direct_mb_s: float
    throughput_ratio: float  # proxied / direct
    # the same curl download from a server inside the session, over its own loopback:
    # what the sandbox's network stack moves at all (gVisor's, under runsc); None
    # without curl in the session
    session_loopback_mb_s: float | None = None
    requests: int
    request_body_bytes: int
    proxied_request_p50_ms: float
    proxied_request_p99_ms: float
    direct_request_p50_ms: float
    direct_request_p99_ms: float
    request_overhead_p50_ms: float  # proxied p50 - direct p50
    request_overhead_p99_ms: float
    burst: int
    burst_body_bytes: int
    burst_ok: int  # requests of the proxied burst that got their whole body
    burst_wall_ms: float
    burst_direct_ok: int
    burst_direct_wall_ms: float
    burst_errors: list[str]  # the first few failures of the proxied burst
    proxy_records: int  # requests the session's proxy recorded (allowed ones)
    throughput_target: float
    overhead_target_ms: float
    throughput_target_met: bool
    overhead_target_met: bool


@dataclass(frozen=True)
class BenchClient:
    """One path: how to run a program there, and the names it starts programs by."""

    run: Run
    host: str  # the upstream's name from there
    python: str
    curl: str | None  # None: no curl there


def _percentile(samples: list[float], q: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def egress_figures(
    config: BenchConfig,
    proxied: PathSamples,
    direct: PathSamples,
    *,
    runtime: str,
    transport: str,
    session_cpus: float,
    download_client: clients.DownloadClient,
    proxy_records: int,
) -> EgressBench:
    """The figures of one run, from both paths' samples."""
    size = config.download_bytes

    def rate(seconds: list[float]) -> float:
        return size / MB / statistics.median(seconds)

    proxied_rate, direct_rate = rate(proxied.download_seconds), rate(direct.download_seconds)
    p50 = _percentile(proxied.request_ms, 50), _percentile(direct.request_ms, 50)
    p99 = _percentile(proxied.request_ms, 99), _percentile(direct.request_ms, 99)
    ratio = proxied_rate / direct_rate
    overhead = p50[0] - p50[1]
    return EgressBench(
        runtime=runtime,
        transport=transport,
        session_cpus=session_cpus,
        download_client=download_client,
        download_mb=round(size / MB, 3),
        download_rounds=len(proxied.download_seconds),
        proxied_mb_s=round(proxied_rate, 1),
        direct_mb_s=round(direct_rate, 1),
        throughput_ratio=round(ratio, 3),
        requests=len(proxied.request_ms),
        request_body_bytes=SMALL_BODY,
        proxied_request_p50_ms=round(p50[0], 3),
        proxied_request_p99_ms=round(p99[0], 3),
        direct_request_p50_ms=round(p50[1], 3),
        direct_request_p99_ms=round(p99[1], 3),
        request_overhead_p50_ms=round(overhead, 3),
        request_overhead_p99_ms=round(p99[0] - p99[1], 3),
        burst=config.burst,
        burst_body_bytes=BURST_BODY,
        burst_ok=proxied.burst_ok,
        burst_wall_ms=round(proxied.burst_wall_ms, 1),
        burst_direct_ok=direct.burst_ok,
        burst_direct_wall_ms=round(direct.burst_wall_ms, 1),
        burst_errors=proxied.burst_errors,
        proxy_records=proxy_records,
        throughput_target=THROUGHPUT_TARGET,
        overhead_target_ms=OVERHEAD_TARGET_MS,
        throughput_target_met=ratio >= THROUGHPUT_TARGET,
        overhead_target_met=overhead <= OVERHEAD_TARGET_MS,
    )


async def measure(
    proxied: BenchClient,
    direct: BenchClient,
    upstream: BenchUpstream,
    config: BenchConfig,
    download_client: clients.DownloadClient,
) -> tuple[PathSamples, PathSamples]:
    """Run every measurement on both paths, taking turns."""
    paths = (proxied, direct)
    size = config.download_bytes
    seconds: tuple[list[float], list[float]] = ([], [])
    for _ in range(DOWNLOAD_ROUNDS):
        for path, samples in zip(paths, seconds, strict=True):
            program = path.curl if download_client == "curl" else path.python
            if program is None:
                raise clients.ClientError("curl is missing on one of the paths")
            url = upstream.url(size, path.host)
            argv = clients.download_argv(download_client, program, url, size)
            samples.append(clients.download_seconds(await path.run(argv), size))
    times: tuple[list[float], list[float]] = ([], [])
    for first in range(0, config.requests, REQUEST_BLOCK):
        count = min(REQUEST_BLOCK, config.requests - first)
        for path, samples in zip(paths, times, strict=True):
            url = upstream.url(SMALL_BODY, path.host)
            argv = clients.requests_argv(path.python, url, SMALL_BODY, count, WARMUP)
            samples += clients.request_times(await path.run(argv))
    bursts = []
    for path in paths:
        argv = clients.burst_argv(
            path.python, upstream.url(BURST_BODY, path.host), BURST_BODY, config.burst
        )
        bursts.append(clients.burst_result(await path.run(argv)))
    proxied_samples, direct_samples = (
        PathSamples(
            download_seconds=s,
            request_ms=t,
            burst_ok=b.ok,
            burst_wall_ms=b.wall_ms,
            burst_errors=b.errors,
        )
        for s, t, b in zip(seconds, times, bursts, strict=True)
    )
    return proxied_samples, direct_samples


def host_environment() -> dict[str, str]:
    """The orchestrator's environment without a proxy variable: the direct path."""
    return {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}


async def run_on_host(argv: list[str]) -> str:
    """Run a client on the host (argv as given, no shell) and return its stdout."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=host_environment(),
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), EXEC_TIMEOUT)
    if process.returncode != 0:
        raise clients.ClientError(
            f"{argv[0]} on the host exited {process.returncode}: {stderr.decode()[-300:]}"
        )
    return stdout.decode()


def host_client() -> BenchClient:
    """The direct path: programs on the host, the upstream by its address."""
    return BenchClient(
        run=run_on_host, host="127.0.0.1", python=sys.executable, curl=shutil.which("curl")
    )


@contextlib.contextmanager
def _resolving(name: str) -> Iterator[None]:
    """Map ``name`` to 127.0.0.1 (and nothing else) for the proxies of sessions started
    inside: their resolver reads the variable once, when the session starts."""
    before = os.environ.get(RESOLVE_ENV)
    os.environ[RESOLVE_ENV] = f"{name}=127.0.0.1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RESOLVE_ENV, None)
        else:
            os.environ[RESOLVE_ENV] = before


async def _bench(runtime: str, config: BenchConfig, transport: str) -> EgressBench:
    from sandbox.docker_backend import DockerBackend
    from sandbox.egress import EgressRecord
    from sandbox.spec import SessionSpec
    from security.network_policy import NetworkPolicy

    spec = SessionSpec(
        runtime=runtime,
        egress=NetworkPolicy(allow=[BENCH_HOST]),
        egress_transport=transport,
    )
    records: list[EgressRecord] = []
    direct = host_client()
    size = config.download_bytes
    with BenchUpstream() as upstream:
        with _resolving(BENCH_HOST):  # read once, as the session's proxy starts
            session = await DockerBackend().start(spec)
        try:
            session.watch_egress(records.append)
            channel = session.channel
            used = "socket" if channel is not None and channel.bridged_port else "channel"

            async def run_in_session(argv: list[str]) -> str:
                result = await session.exec(argv, timeout=EXEC_TIMEOUT)
                if result.exit_code != 0:
                    raise clients.ClientError(
                        f"{argv[0]} in the session exited {result.exit_code}: "
                        f"{result.stderr.decode(errors='replace')[-300:]}"
                    )
                return result.text

            has_curl = (await session.exec(["curl", "--version"])).exit_code == 0
            proxied = BenchClient(
                run=run_in_session, host=BENCH_HOST, python="python3",
                curl="curl" if has_curl else None,
            )  # fmt: skip
            download_client: clients.DownloadClient = (
                "curl" if direct.curl and proxied.curl else "python"
            )
            samples = await measure(proxied, direct, upstream, config, download_client)
            loopback = None
            if download_client == "curl" and proxied.curl is not None:
                argv = clients.loopback_argv("python3", proxied.curl, size, DOWNLOAD_ROUNDS)
                outputs = (await run_in_session(argv)).split("\n")
                seconds = [clients.download_seconds(o, size) for o in outputs if o.strip()]
                loopback = round(size / MB / statistics.median(seconds), 1)
        finally:
            await session.close()
    return egress_figures(
        config,
        *samples,
        runtime=runtime,
        transport=used,
        session_cpus=spec.limits.cpus,
        download_client=download_client,
        proxy_records=sum(record.decision == "allowed" for record in records),
    ).model_copy(update={"session_loopback_mb_s": loopback})


def bench_egress(
    runtime: str = "runc", config: BenchConfig | None = None, transport: str = "auto"
) -> EgressBench:
    """Measure both paths in one run (a session under ``runtime`` reaching its proxy by
    ``transport``, and the host)."""
    try:
        return asyncio.run(_bench(runtime, config or BenchConfig(), transport))
    except (clients.ClientError, UpstreamUnavailable) as exc:
        raise BenchError(str(exc)) from exc
