"""`airlock bench analyzer --json`: the figures the issue's contract names, one object."""

from __future__ import annotations

import json

from orchestrator.devtools import bench
from tests.unit.orchestrator.cli.test_check import airlock

CONTRACT = {"commands_per_s", "analyze_p50_us", "analyze_p99_us", "bashlex_parse_p50_us"}


def test_figures_are_consistent_on_a_small_sample() -> None:
    commands = bench.corpus_commands()[:40]
    figures = bench.bench_analyzer(commands, repeat=2)
    assert figures.commands == 40 and figures.repeat == 2
    assert 0 < figures.analyze_p50_us <= figures.analyze_p99_us
    assert 0 < figures.bashlex_parse_p50_us <= figures.bashlex_parse_p99_us
    ratio = figures.analyze_p50_us / figures.bashlex_parse_p50_us
    assert abs(figures.p50_ratio - ratio) < 0.015  # both from rounded figures
    ratio = figures.analyze_p50_us / figures.bashlex_tight_loop_p50_us
    assert abs(figures.p50_ratio_to_tight_loop - ratio) < 0.015


def test_cli_prints_one_json_object_with_the_contract_fields() -> None:
    result = airlock("bench", "analyzer", "--json", "--repeat", "1")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    figures = json.loads(line)
    assert set(figures) >= CONTRACT
    assert figures["commands"] == len(bench.corpus_commands())
