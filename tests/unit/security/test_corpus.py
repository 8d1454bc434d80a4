"""The corpus: adversarial lines are never allowed; everyday read-only lines always are."""

from __future__ import annotations

import json

import pytest

from orchestrator.devtools.package_data import corpus_dir
from security import Decision, Policy, analyze

CORPUS = corpus_dir()


def load(name: str) -> list[dict[str, str]]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


ADVERSARIAL = load("adversarial.jsonl")
BENIGN = load("benign.jsonl")
POLICIES = [Policy.load(name) for name in ("read-only", "dev", "ci-untrusted")]


def test_corpus_sizes() -> None:
    assert len(ADVERSARIAL) >= 300
    assert len(BENIGN) >= 200
    assert len({e["cmd"] for e in ADVERSARIAL}) == len(ADVERSARIAL)
    assert len({e["cmd"] for e in BENIGN}) == len(BENIGN)


@pytest.mark.parametrize("entry", ADVERSARIAL, ids=lambda e: e["family"])
def test_adversarial_is_never_allowed_read_only(entry: dict[str, str]) -> None:
    verdict = analyze(entry["cmd"])
    assert verdict.decision is not Decision.ALLOW, (entry, verdict.explanation)


@pytest.mark.parametrize("entry", BENIGN, ids=lambda e: e["cmd"][:40])
def test_benign_is_allowed_read_only(entry: dict[str, str]) -> None:
    verdict = analyze(entry["cmd"])
    assert verdict.decision is Decision.ALLOW, (entry, verdict.explanation)
