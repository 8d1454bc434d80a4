"""atheris fuzzing of `security.analyze`: a crash, an S00 finding or a hang fails.

Run by `make fuzz` (FUZZ_SECONDS, default 600). A hang is one analysis of an input
under 4 KB taking more than 100 ms: timed twice here to rule out a scheduler hiccup,
then confirmed without the fuzzer's coverage instrumentation, which slows it severalfold.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import atheris

from orchestrator.devtools.package_data import corpus_dir

with atheris.instrument_imports():
    from security import Policy, analyze

POLICIES = [Policy.load(name) for name in ("read-only", "dev", "ci-untrusted")]
HANG_SECONDS = 0.100
MAX_INPUT = 4096


class AnalyzerFault(Exception):
    """The analyzer failed on an input: crashed, failed closed internally, or hung."""


def timed(command: str, policy: Policy) -> float:
    start = time.perf_counter()
    verdict = analyze(command, policy)
    elapsed = time.perf_counter() - start
    if any(f.check == "S00" for f in verdict.findings):
        raise AnalyzerFault(f"internal error on {command!r}: {verdict.findings[0].detail}")
    return elapsed


# Coverage instrumentation makes everything here several times slower, so a suspected
# hang is timed again, best of three, by an uninstrumented interpreter.
_TIME_PLAINLY = """
import json, sys, time
from security import Policy, analyze
item = json.load(sys.stdin)
policy = Policy.load(item["policy"])
best = float("inf")
for _ in range(3):
    start = time.perf_counter()
    analyze(item["cmd"], policy)
    best = min(best, time.perf_counter() - start)
print(best)
"""


def uninstrumented_seconds(command: str, policy: Policy) -> float:
    item = json.dumps({"cmd": command, "policy": policy.name})
    result = subprocess.run([sys.executable, "-c", _TIME_PLAINLY], input=item, text=True,
                            capture_output=True, check=True, timeout=60)  # fmt: skip
    return float(result.stdout)


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    policy = POLICIES[provider.ConsumeIntInRange(0, len(POLICIES) - 1)]
    command = provider.ConsumeUnicodeNoSurrogates(MAX_INPUT)
    if timed(command, policy) > HANG_SECONDS and timed(command, policy) > HANG_SECONDS:
        seconds = uninstrumented_seconds(command, policy)
        if seconds > HANG_SECONDS:
            raise AnalyzerFault(
                f"hang: {len(command)} chars took {seconds * 1000:.0f} ms: {command[:200]!r}"
            )


def seed_corpus(directory: Path) -> None:
    """Write the analyzer corpus's commands as seeds (atheris reads a folder of files)."""
    directory.mkdir(parents=True, exist_ok=True)
    corpus = corpus_dir()
    for name in ("adversarial.jsonl", "benign.jsonl"):
        for number, line in enumerate((corpus / name).read_text().splitlines()):
            if line.strip():
                seed = b"\x00" + json.loads(line)["cmd"].encode()
                (directory / f"{name}-{number}").write_bytes(seed)


if __name__ == "__main__":
    seeds = Path(".make/fuzz-seeds")
    seed_corpus(seeds)
    atheris.Setup([*sys.argv, str(seeds)], test_one_input)
    atheris.Fuzz()
