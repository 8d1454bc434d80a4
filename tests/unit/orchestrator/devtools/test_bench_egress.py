"""`airlock bench egress` without Docker: its figures from known samples, and its
measurement run for real on the host (the upstream on 127.0.0.1, the same client
programs on both paths) with a host client standing in for the session."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest

from orchestrator.devtools import bench_clients as clients
from orchestrator.devtools import bench_egress as bench
from orchestrator.devtools.bench_upstream import BenchUpstream

CONTRACT = {
    "proxied_mb_s",
    "direct_mb_s",
    "throughput_ratio",
    "request_overhead_p50_ms",
    "proxied_request_p50_ms",
    "proxied_request_p99_ms",
    "direct_request_p50_ms",
    "direct_request_p99_ms",
    "burst",
    "burst_ok",
    "burst_wall_ms",
    "burst_direct_ok",
    "burst_direct_wall_ms",
    "throughput_target_met",
    "overhead_target_met",
}


def _samples(seconds: list[float], ms: list[float], ok: int = 50) -> bench.PathSamples:
    return bench.PathSamples(
        download_seconds=seconds, request_ms=ms, burst_ok=ok, burst_wall_ms=400.0
    )


def _figures(proxied: bench.PathSamples, direct: bench.PathSamples) -> bench.EgressBench:
    return bench.egress_figures(
        bench.BenchConfig(mb=100, requests=4, burst=50),
        proxied,
        direct,
        runtime="runc",
        transport="socket",
        session_cpus=1.0,
        download_client="curl",
        proxy_records=57,
    )


def test_figures_take_medians_and_differences_and_judge_the_targets_honestly() -> None:
    # 100 MB: rounds of 2, 1 and 0.5 s through the proxy (median 1 s: 100 MB/s), and
    # 0.05 s direct (2,000 MB/s); request p50s of 3.5 and 1 ms.
    figures = _figures(
        _samples([2.0, 1.0, 0.5], [3.0, 3.0, 4.0, 4.0], ok=49),
        _samples([0.05, 0.05, 0.05], [1.0, 1.0, 1.0, 1.0]),
    )
    assert figures.proxied_mb_s == 100.0 and figures.direct_mb_s == 2000.0
    assert figures.throughput_ratio == 0.05
    assert figures.proxied_request_p50_ms == 3.5 and figures.direct_request_p50_ms == 1.0
    assert figures.request_overhead_p50_ms == 2.5
    assert figures.burst_ok == 49 and figures.burst_direct_ok == 50
    assert figures.download_rounds == 3 and figures.requests == 4
    assert not figures.throughput_target_met and not figures.overhead_target_met
    dumped = figures.model_dump()
    assert set(dumped) >= CONTRACT
    assert dumped["throughput_target"] == 0.5 and dumped["overhead_target_ms"] == 2.0


def test_targets_are_met_at_their_bounds() -> None:
    figures = _figures(
        _samples([0.2, 0.2, 0.2], [3.0, 3.0]),  # half the direct rate, 2 ms added
        _samples([0.1, 0.1, 0.1], [1.0, 1.0]),
    )
    assert figures.throughput_ratio == 0.5 and figures.request_overhead_p50_ms == 2.0
    assert figures.throughput_target_met and figures.overhead_target_met


def test_the_upstream_serves_exact_sizes_and_nothing_else() -> None:
    with BenchUpstream() as upstream:
        for size in (0, 1, 2 * 1024 * 1024 + 7):  # past the end of a block
            with urllib.request.urlopen(upstream.url(size), timeout=10) as response:  # noqa: S310
                assert len(response.read()) == size
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{upstream.port}/etc/passwd", timeout=10)
        assert refused.value.code == 404


def test_client_output_that_does_not_add_up_is_an_error() -> None:
    assert clients.download_seconds("200 1000 0.5", 1000) == 0.5
    for output in ("404 0 0.1", "200 999 0.5", "", "curl: (7) failed"):
        with pytest.raises(clients.ClientError):
            clients.download_seconds(output, 1000)
    with pytest.raises(clients.ClientError):
        clients.request_times('{"ms": "fast"}')
    with pytest.raises(clients.ClientError):
        clients.burst_result("Traceback")


@pytest.mark.parametrize("download_client", ["curl", "python"])
def test_measure_runs_the_same_clients_on_both_paths(
    download_client: clients.DownloadClient,
) -> None:
    direct = bench.host_client()
    if download_client == "curl" and direct.curl is None:
        pytest.skip("no curl on this host")
    programs: list[list[str]] = [[], []]

    def recording(index: int) -> bench.Run:
        async def run(argv: list[str]) -> str:
            programs[index].append(argv[0] if argv[0] != direct.python else argv[3])
            return await bench.run_on_host(argv)

        return run

    config = bench.BenchConfig(mb=2, requests=60, burst=8)
    first = bench.BenchClient(recording(0), "localhost", direct.python, direct.curl)
    second = bench.BenchClient(recording(1), "127.0.0.1", direct.python, direct.curl)
    with BenchUpstream() as upstream:
        one, two = asyncio.run(bench.measure(first, second, upstream, config, download_client))
    assert programs[0] == programs[1]  # the same programs, in the same order
    expected = [direct.curl if download_client == "curl" else "download"] * bench.DOWNLOAD_ROUNDS
    assert programs[0] == [*expected, "requests", "requests", "burst"]  # 60: two blocks
    for samples in (one, two):
        assert len(samples.download_seconds) == bench.DOWNLOAD_ROUNDS
        assert all(seconds > 0 for seconds in samples.download_seconds)
        assert len(samples.request_ms) == 60 and min(samples.request_ms) > 0
        assert samples.burst_ok == 8 and samples.burst_errors == []
    figures = bench.egress_figures(
        config, one, two, runtime="none", transport="channel", session_cpus=1.0,
        download_client=download_client, proxy_records=0,
    )  # fmt: skip
    assert figures.download_mb == 2.0 and figures.requests == 60 and figures.burst_ok == 8
    assert figures.proxied_mb_s > 0 and figures.direct_mb_s > 0
