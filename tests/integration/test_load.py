"""The load suite at a small scale: concurrent sessions, exact results, bounded memory."""

from __future__ import annotations

import pytest

from orchestrator.devtools.prove.load import run_load

pytestmark = pytest.mark.integration


def test_concurrent_sessions_give_every_command_its_exact_result() -> None:
    report = run_load(sessions=8, commands=10, output_bytes=100)
    assert report.commands == 80 and report.wrong == 0 and report.refused == 0
    assert 0 < report.p50_ms <= report.p99_ms


def test_memory_does_not_grow_with_the_volume_of_output() -> None:
    # 4 sessions at once x 3 commands x 25 MB = 300 MB of output, capped at 64 KB on
    # arrival: were it kept, 4 commands in flight would hold 100 MB
    report = run_load(sessions=4, commands=3, output_bytes=25_000_000)
    assert report.wrong == 0
    assert report.rss_growth_mb < 40, report
