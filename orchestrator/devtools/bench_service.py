"""`airlock bench service`: `airlock serve` on loopback against the same work done
in-process, measured in one run (`service_process` starts and stops the service).

- exec round trip: a trivial command through HTTP+SSE with `AirlockClient` (httpx, one
  kept-alive connection: the project's client), through the same requests with a lean
  client (`http.client`, one kept-alive connection, the body read whole and its last
  event parsed: what a client of its own may do), and on an in-process session of the
  same backend and spec, run as the service runs it (the same confinement and output
  cap), in rotating blocks so machine noise hits all three alike. Both HTTP figures are
  the real service path (token, policy verdict, sandbox, SSE); they differ only in the
  client's own CPU time. CPU time per exec is counted too (the service's from /proc,
  the client's and the in-process exec's from this process): on a loaded machine the
  wall-clock figures mostly measure the scheduler, the CPU figures much less so;
  The policy check the service does before each exec (analyzer and headless answer) is
  timed on its own (``gate_p50_ms``): part of the HTTP path, not of HTTP;
- session create from the warm pool: before each timed create the bench waits until the
  pool is full again (``create_waited_for_refill``), and the service's handoff counter
  says how many the pool served (``create_from_pool``);
- concurrent SSE streams: one exec's output (``stream_mb`` of a known pattern) replayed
  by N readers at once from ``/execs/{id}/events``; a stream is ok when its bytes are
  exactly the pattern and its exit is 0;
- admission: 5x the service's capacity of session creates at once; every answer is 201
  or 429, and the containers the service counts (sampled from /metrics) stay within it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel

from orchestrator.devtools.service_process import RunningService, running_service

if TYPE_CHECKING:
    from orchestrator.client import AirlockClient
    from sandbox.docker_backend import DockerSession

COMMAND = "true"
PATTERN = b"airlock\n"
BLOCK = 25  # execs per path before switching to the other
REFILL_S = 120.0  # a pool that is not full again by then is broken


class ServiceBenchConfig(BaseModel):
    samples: int = 200  # exec round trips per path
    creates: int = 20  # timed session creates
    streams: int = 200  # concurrent SSE readers
    stream_mb: float = 2.0  # output of the exec they replay
    max_sessions: int = 8  # the service's capacity; the overload sends 5x this
    warm: int = 2


class ServiceBench(BaseModel):
    """Figures of one service against the same work in-process."""

    max_sessions: int
    warm: int
    command: str
    samples: int
    http_client: str  # what sent the http_ figures
    http_exec_p50_ms: float  # POST .../exec with AirlockClient, until its exit event
    http_exec_p99_ms: float
    inproc_exec_p50_ms: float  # session.stream of the same command, as the service runs it
    inproc_exec_p99_ms: float
    http_added_p50_ms: float  # http_exec_p50_ms - inproc_exec_p50_ms (target <= 1.5)
    lean_client: str  # what sent the lean_ figures
    lean_exec_p50_ms: float  # the same POST .../exec with the lean client
    lean_exec_p99_ms: float
    lean_added_p50_ms: float  # lean_exec_p50_ms - inproc_exec_p50_ms
    service_cpu_ms: float  # the service's CPU time per exec over HTTP (both clients)
    http_client_cpu_ms: float  # AirlockClient's CPU time per exec
    lean_client_cpu_ms: float  # the lean client's
    inproc_cpu_ms: float  # the in-process exec's CPU time per exec
    http_added_cpu_ms: float  # service_cpu_ms + http_client_cpu_ms - inproc_cpu_ms
    gate_p50_ms: float  # analyze + headless answer of the command (inside http_added)
    creates: int
    create_p50_ms: float  # POST /v1/sessions served by the warm pool (target <= 20)
    create_p99_ms: float
    create_waited_for_refill: bool  # each timed create waited for a full pool first
    create_from_pool: int  # timed creates the pool served (the service's counter)
    streams: int  # concurrent readers of one exec's events
    streams_200_ok: int  # of `streams`, those with exactly the output and exit 0
    stream_bytes_each: int
    stream_mb_s: float  # output bytes (decoded) of all streams / wall time, MB/s
    overload_requests: int  # session creates at once: 5x max_sessions
    overload_statuses: dict[str, int]
    overload_errors_other_than_429: int
    admitted_p99_ms: float  # of the creates answered 201
    overload_max_containers: int  # the service's own count, sampled during the overload


def _percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (any sample count)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


HTTP_CLIENT = "AirlockClient (httpx, one kept-alive connection)"
LEAN_CLIENT = "http.client (stdlib, one kept-alive connection, body read whole)"


class LeanExecClient:
    """``POST .../exec`` on one kept-alive `http.client` connection: the body read to
    its end, the last event (the exit) parsed."""

    def __init__(self, url: str, token: str) -> None:
        where = urlsplit(url)
        self.connection = http.client.HTTPConnection(where.hostname or "127.0.0.1",
                                                     where.port, timeout=60)  # fmt: skip
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def exec(self, session_id: str, command: str) -> dict[str, Any]:
        """The exit event's data."""
        body = json.dumps({"command": command})
        self.connection.request("POST", f"/v1/sessions/{session_id}/exec", body, self.headers)
        response = self.connection.getresponse()
        stream = response.read()
        if response.status != 200:
            raise RuntimeError(f"exec answered {response.status}: {stream[:500]!r}")
        last = stream.rstrip(b"\n").rpartition(b"\n\n")[2]
        fields = dict(line.split(b": ", 1) for line in last.split(b"\n"))
        if fields.get(b"event") != b"exit":
            raise RuntimeError(f"the stream did not end with its exit: {last[:500]!r}")
        data: dict[str, Any] = json.loads(fields[b"data"])
        return data

    def close(self) -> None:
        self.connection.close()


@dataclass
class ExecPath:
    """One way of running the exec: wall seconds of each, CPU seconds of them all."""

    seconds: list[float] = field(default_factory=list)
    own_cpu_s: float = 0.0  # this process's: the client's, or the in-process exec's
    service_cpu_s: float = 0.0  # the service process's meanwhile

    def cpu_ms(self, total: float) -> float:
        return round(total / len(self.seconds) * 1000, 3)


def process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _gate_p50(command: str, samples: int) -> float:
    from orchestrator.gate.headless import headless_answer
    from security import Policy, analyze

    policy = Policy.load("read-only")
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        headless_answer(analyze(command, policy), policy)
        timings.append(time.perf_counter() - start)
    return _percentile(timings, 50)


async def _exec_rtts(
    client: AirlockClient,
    lean: LeanExecClient,
    session_id: str,
    session: DockerSession,
    samples: int,
    service_pid: int,
) -> tuple[ExecPath, ExecPath, ExecPath]:
    """(HTTP, lean HTTP, in-process) execs of `COMMAND`. The HTTP clients are blocking:
    while one runs, this loop waits (the in-process session is idle then)."""
    from orchestrator.service.exec_log import MAX_OUTPUT_BYTES
    from sandbox import ExecExit, read_only_confinement
    from security import Policy

    confinement = read_only_confinement(COMMAND, Policy.load("read-only").network)

    async def inproc() -> None:
        final = None
        async for item in session.stream(COMMAND, confinement=confinement,
                                         max_output=MAX_OUTPUT_BYTES):  # fmt: skip
            final = item
        assert isinstance(final, ExecExit) and final.exit_code == 0, final

    def http() -> None:
        events = list(client.exec(session_id, COMMAND))
        assert events[-1].kind == "exit" and events[-1].data["exit_code"] == 0, events

    def lean_http() -> None:
        exit_data = lean.exec(session_id, COMMAND)
        assert exit_data["exit_code"] == 0, exit_data

    for _ in range(5):  # warm every path
        http()
        lean_http()
        await inproc()
    over_http, over_lean, in_process = ExecPath(), ExecPath(), ExecPath()

    async def block(count: int, path: ExecPath, run: Callable[[], Awaitable[None]]) -> None:
        own, served = time.process_time(), process_cpu_s(service_pid)
        for _ in range(count):
            start = time.perf_counter()
            await run()
            path.seconds.append(time.perf_counter() - start)
        path.own_cpu_s += time.process_time() - own
        path.service_cpu_s += process_cpu_s(service_pid) - served

    async def blocking(run: Callable[[], None]) -> None:
        run()

    for first in range(0, samples, BLOCK):
        count = min(BLOCK, samples - first)
        await block(count, over_http, lambda: blocking(http))
        await block(count, over_lean, lambda: blocking(lean_http))
        await block(count, in_process, inproc)
    return over_http, over_lean, in_process


def _wait_for_pool(service: RunningService, warm: int) -> None:
    deadline = time.monotonic() + REFILL_S
    while service.metrics().get("airlock_warm_sessions", 0) < warm:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the warm pool was not full again in {REFILL_S:g} s")
        time.sleep(0.01)


def _creates(
    service: RunningService, client: AirlockClient, config: ServiceBenchConfig
) -> tuple[list[float], int]:
    """Seconds per create, each after the pool is full again; and how many the pool
    served. Each session is deleted after its sample (untimed)."""
    timings: list[float] = []
    before = service.metrics().get("airlock_warm_handoffs_total", 0)
    for _ in range(config.creates):
        _wait_for_pool(service, config.warm)
        start = time.perf_counter()
        session_id = client.create_session()
        timings.append(time.perf_counter() - start)
        client.delete_session(session_id)
    served = service.metrics().get("airlock_warm_handoffs_total", 0) - before
    return timings, int(served)


async def _read_stream(http: httpx.AsyncClient, path: str, expected: str) -> tuple[bool, int]:
    """(exactly the expected output and exit 0, output bytes read)."""
    digest = hashlib.sha256()
    size = 0
    exit_code = None
    buffer = b""
    async with http.stream("GET", path) as response:
        if response.status_code != 200:
            return False, 0
        async for chunk in response.aiter_bytes():
            buffer += chunk
            *blocks, buffer = buffer.split(b"\n\n")
            for block in blocks:
                fields = dict(line.split(b": ", 1) for line in block.split(b"\n") if b": " in line)
                data = json.loads(fields[b"data"])
                if fields[b"event"] == b"output":
                    output = base64.b64decode(data["data_b64"])
                    digest.update(output)
                    size += len(output)
                elif fields[b"event"] == b"exit":
                    exit_code = data["exit_code"]
    return digest.hexdigest() == expected and exit_code == 0, size


async def _streams(
    service: RunningService, token: str, session_id: str, config: ServiceBenchConfig
) -> tuple[int, int, float]:
    """(streams ok, bytes each, MB/s of all of them together)."""
    size = int(config.stream_mb * 1024 * 1024)
    expected = (PATTERN * (size // len(PATTERN) + 1))[:size]
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=config.streams + 10)
    async with httpx.AsyncClient(base_url=service.url, headers=headers, limits=limits,
                                 timeout=httpx.Timeout(120.0)) as http:  # fmt: skip
        ran = await http.post(f"/v1/sessions/{session_id}/exec",
                              json={"command": f"yes airlock | head -c {size}",
                                    "exec_id": "bulk"})  # fmt: skip
        assert ran.status_code == 200, ran.text
        path = f"/v1/sessions/{session_id}/execs/bulk/events"
        digest = hashlib.sha256(expected).hexdigest()
        start = time.perf_counter()
        results = await asyncio.gather(
            *(_read_stream(http, path, digest) for _ in range(config.streams)),
            return_exceptions=True,
        )
        wall = time.perf_counter() - start
    done = [r for r in results if isinstance(r, tuple)]
    ok = sum(1 for good, _ in done if good)
    total = sum(read for _, read in done)
    return ok, size, round(total / wall / 1e6, 1)


async def _overload(
    service: RunningService, token: str, config: ServiceBenchConfig
) -> tuple[Counter[str], list[float], int]:
    """5x the capacity of creates at once: (statuses, seconds of the admitted ones, the
    most containers the service counted meanwhile). The admitted are deleted after."""
    requests = 5 * config.max_sessions
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=requests + 10)
    statuses: Counter[str] = Counter()
    admitted: list[float] = []
    created: list[str] = []
    most = 0
    async with httpx.AsyncClient(base_url=service.url, headers=headers, limits=limits,
                                 timeout=httpx.Timeout(300.0)) as http:  # fmt: skip

        async def one() -> None:
            start = time.perf_counter()
            try:
                answer = await http.post("/v1/sessions", json={})
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                return
            statuses[str(answer.status_code)] += 1
            if answer.status_code == 201:
                admitted.append(time.perf_counter() - start)
                created.append(answer.json()["id"])

        async def sample(stop: asyncio.Event) -> None:
            nonlocal most
            while not stop.is_set():
                text = (await http.get("/metrics")).text
                for line in text.splitlines():
                    if line.startswith("airlock_containers "):
                        most = max(most, int(float(line.split()[1])))
                await asyncio.sleep(0.02)

        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(stop))
        try:
            await asyncio.gather(*(one() for _ in range(requests)))
        finally:
            stop.set()
            await sampler
            await asyncio.gather(*(http.delete(f"/v1/sessions/{each}") for each in created),
                                 return_exceptions=True)  # fmt: skip
    return statuses, admitted, most


async def _measure(
    service: RunningService, config: ServiceBenchConfig, progress: Callable[[str], None]
) -> ServiceBench:
    from orchestrator.client import AirlockClient
    from orchestrator.service.models import SessionCreate
    from orchestrator.service.sessions_api import sandbox_for
    from sandbox.docker_backend import DockerBackend

    token = service.token("bench")
    _, spec = sandbox_for(SessionCreate())  # the service's default sandbox, exactly
    with AirlockClient(service.url, token) as client:
        session_id = client.create_session()
        lean = LeanExecClient(service.url, token)
        async with DockerBackend().session(spec) as session:
            progress(f"exec round trips: {config.samples} of `{COMMAND}` per path "
                     "(AirlockClient, http.client, in-process)")  # fmt: skip
            try:
                over_http, over_lean, in_process = await _exec_rtts(
                    client, lean, session_id, session, config.samples, service.process.pid
                )
            finally:
                lean.close()
        progress(f"{config.streams} concurrent replays of {config.stream_mb:g} MB")
        ok, size, mb_s = await _streams(service, token, session_id, config)
        client.delete_session(session_id)
        progress(f"session creates: {config.creates}, each after the pool is full again")
        created, served = _creates(service, client, config)
    _wait_for_pool(service, config.warm)
    progress(f"overload: {5 * config.max_sessions} creates at once (capacity "
             f"{config.max_sessions})")  # fmt: skip
    statuses, admitted, most = await _overload(service, token, config)
    http50, in50 = _percentile(over_http.seconds, 50), _percentile(in_process.seconds, 50)
    lean50 = _percentile(over_lean.seconds, 50)
    service_cpu_s = over_http.service_cpu_s + over_lean.service_cpu_s
    service_cpu = round(service_cpu_s / (len(over_http.seconds) + len(over_lean.seconds)) * 1000, 3)
    http_client_cpu = over_http.cpu_ms(over_http.own_cpu_s)
    inproc_cpu = in_process.cpu_ms(in_process.own_cpu_s)
    return ServiceBench(
        max_sessions=config.max_sessions,
        warm=config.warm,
        command=COMMAND,
        samples=config.samples,
        http_client=HTTP_CLIENT,
        http_exec_p50_ms=_ms(http50),
        http_exec_p99_ms=_ms(_percentile(over_http.seconds, 99)),
        inproc_exec_p50_ms=_ms(in50),
        inproc_exec_p99_ms=_ms(_percentile(in_process.seconds, 99)),
        http_added_p50_ms=_ms(http50 - in50),
        lean_client=LEAN_CLIENT,
        lean_exec_p50_ms=_ms(lean50),
        lean_exec_p99_ms=_ms(_percentile(over_lean.seconds, 99)),
        lean_added_p50_ms=_ms(lean50 - in50),
        service_cpu_ms=service_cpu,
        http_client_cpu_ms=http_client_cpu,
        lean_client_cpu_ms=over_lean.cpu_ms(over_lean.own_cpu_s),
        inproc_cpu_ms=inproc_cpu,
        http_added_cpu_ms=round(service_cpu + http_client_cpu - inproc_cpu, 3),
        gate_p50_ms=round(_gate_p50(COMMAND, 200) * 1000, 3),
        creates=config.creates,
        create_p50_ms=_ms(_percentile(created, 50)),
        create_p99_ms=_ms(_percentile(created, 99)),
        create_waited_for_refill=True,
        create_from_pool=served,
        streams=config.streams,
        streams_200_ok=ok,
        stream_bytes_each=size,
        stream_mb_s=mb_s,
        overload_requests=5 * config.max_sessions,
        overload_statuses=dict(sorted(statuses.items())),
        overload_errors_other_than_429=sum(
            n for status, n in statuses.items() if status not in ("201", "429")
        ),
        admitted_p99_ms=_ms(_percentile(admitted, 99)) if admitted else 0.0,
        overload_max_containers=most,
    )


def bench_service(
    config: ServiceBenchConfig, progress: Callable[[str], None] = lambda _: None
) -> ServiceBench:
    """Start a service, measure, stop it (and everything it holds) however this ends."""
    with running_service(config.max_sessions, config.warm) as service:
        progress(f"service on {service.url} (capacity {config.max_sessions}, warm {config.warm})")
        return asyncio.run(_measure(service, config, progress))
