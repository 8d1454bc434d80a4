"""Check triggers only save time: with or without them, every finding is the same.

Each command check may declare a `Trigger` (names, tokens, redirects, ...) and is
skipped on commands that fire none of it. A trigger narrower than its check would
silently drop findings, so every line here is judged both ways and compared.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.devtools.package_data import corpus_dir
from security import analyzer
from security.checks import REGISTRY, Context
from security.policy import PRESETS
from tests.unit.security.test_checks import TABLE
from tests.unit.security.test_properties import DANGEROUS, commands, shellish

CORPUS = corpus_dir()
POLICY = PRESETS["read-only"]
CONTEXTS = [Context(shell="any"), Context(shell="bash")]


def corpus_lines() -> list[str]:
    lines = []
    for path in sorted(CORPUS.rglob("*.jsonl")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            if raw.strip():
                lines.append(json.loads(raw)["cmd"])
    return lines


def table_lines() -> list[str]:
    return [line for caught, passed in TABLE.values() for line in (*caught, *passed)]


def _findings(line: str, ctx: Context, gated: bool) -> list[tuple[str, str, str]]:
    scene = analyzer.build_scene(line)
    found = analyzer._judge(scene, POLICY, ctx, gated=gated)
    return sorted((f.check, f.detail, f.decision.value) for f in found)


def assert_triggers_change_nothing(line: str) -> None:
    for ctx in CONTEXTS:
        assert _findings(line, ctx, gated=True) == _findings(line, ctx, gated=False), line


def test_some_checks_have_triggers() -> None:
    gated = [c.id for c in REGISTRY.values() if c.when is not None]
    assert len(gated) >= 10, gated


def test_corpus_and_table_lines_find_the_same_with_triggers() -> None:
    lines = [*corpus_lines(), *table_lines(), *DANGEROUS]
    assert len(lines) > 900
    for line in lines:
        assert_triggers_change_nothing(line)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(shellish, commands, st.text(max_size=80)))
def test_generated_lines_find_the_same_with_triggers(line: str) -> None:
    assert_triggers_change_nothing(line)


@pytest.mark.parametrize(
    "line",
    [
        "python3.11 -c 'import os'",
        "perl5.36 -e 'unlink 1'",
        "pypy3 -m pip install x",
        "cat x > /dev/tcp/h/1",
        "echo hi | LD_PRELOAD=x cat",
        "IFS=, cat a b",
        "export PATH=.",
        "env GIT_PAGER=x git log",
        "cat ~/.ssh/id_rsa",
        "curl --unix-socket /var/run/docker.sock x",
        "sleep 1 &",
        "cp a /usr/bin/b",
        "sed -i s/a/b/ /etc/x",
    ],
)
def test_each_kind_of_trigger(line: str) -> None:
    assert _findings(line, CONTEXTS[0], gated=True), line  # the check still fires
    assert_triggers_change_nothing(line)
