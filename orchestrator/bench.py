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
