"""The differential fuzzer's generator: reproducible, varied, and mostly allowed."""

from __future__ import annotations

import re

from orchestrator.prove.generate import Generator
from orchestrator.prove.strategies import HypothesisSource, draw_batch
from security import Decision, analyze

SAMPLE = 400


def _sample(seed: int) -> list[str]:
    generator = Generator(seed, hypothesis_share=0)  # the hypothesis share: below
    return [generator.command() for _ in range(SAMPLE)]


def test_a_seed_gives_the_same_commands() -> None:
    assert _sample(3) == _sample(3)
    assert _sample(3) != _sample(4)


def test_commands_cover_the_grammar() -> None:
    commands = _sample(1)
    assert len(set(commands)) > SAMPLE * 0.9
    families = {
        "pipeline": r"[^|]\|[^|]",
        "list": r";|&&|\|\|",
        "substitution": r"\$\(|`",
        "quote": r"['\"\\]",
        "redirection": r"[<>]",
        "xargs": r"\bxargs\b",
        "loop": r"\b(for|while)\b",
        "wrapper": r"\b(timeout|env|nice|stdbuf|command|exec)\b",
    }
    for family, pattern in families.items():
        share = sum(bool(re.search(pattern, c)) for c in commands) / SAMPLE
        assert share > 0.01, f"{family}: {share:.1%}"


def test_enough_commands_are_allowed_to_be_worth_running() -> None:
    allowed = sum(analyze(c).decision is Decision.ALLOW for c in _sample(2))
    assert allowed > SAMPLE * 0.2, allowed


def test_hypothesis_strategies_are_seeded_and_reach_the_deep_grammar() -> None:
    lines = draw_batch(7, 60)
    assert lines == draw_batch(7, 60)
    assert len(set(lines)) > 30
    text = "\n".join(lines)
    for form in ("<<", "$(", "( ", "|"):
        assert form in text, form


def test_the_generator_mixes_in_hypothesis_lines() -> None:
    generator = Generator(5, hypothesis_share=0.5)
    generator.from_hypothesis = HypothesisSource(5, batch=20)
    lines = [generator.command() for _ in range(40)]
    assert generator.from_hypothesis.batches >= 1
    assert len(set(lines)) > 20
