"""Shortcuts the analyzer takes for speed change nothing it reports.

Each test here compares a fast path with the long way round, or checks the fact a
shortcut relies on, over the corpus, the check tables and generated lines.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from security import analyzer, unwrap
from security.verdict import Decision, Risk, highest, strictest
from tests.unit.security.test_properties import DANGEROUS, commands, shellish
from tests.unit.security.test_triggers import corpus_lines, table_lines

LINES = [*corpus_lines(), *table_lines(), *DANGEROUS]
GENERATED = st.one_of(shellish, commands, st.text(max_size=80))
SLOW_OK = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Everything(frozenset[str]):
    def __contains__(self, item: object) -> bool:
        return True


def _scene_both_ways(line: str) -> tuple[unwrap.Scene, unwrap.Scene]:
    fast = analyzer.build_scene(line)
    saved = unwrap.RUNS_OTHERS
    unwrap.RUNS_OTHERS = _Everything()
    try:
        slow = analyzer.build_scene(line)
    finally:
        unwrap.RUNS_OTHERS = saved
    return fast, slow


def assert_unwrap_shortcut_changes_nothing(line: str) -> None:
    fast, slow = _scene_both_ways(line)
    assert fast == slow, line


def test_unwrapping_only_names_that_run_others_finds_the_same_commands() -> None:
    for line in LINES:
        assert_unwrap_shortcut_changes_nothing(line)


@SLOW_OK
@given(GENERATED)
def test_generated_lines_unwrap_the_same(line: str) -> None:
    assert_unwrap_shortcut_changes_nothing(line)


def test_the_unwrap_shortcut_is_exercised() -> None:
    fast, slow = _scene_both_ways("timeout 5 sh -c 'curl x' | cat")
    assert [c.base_name for c in fast.commands] == ["timeout", "sh", "curl", "cat"]
    assert fast == slow


def assert_every_raw_word_is_in_the_text(line: str) -> None:
    """S03 and S09 skip lines whose text cannot hold what they look for: that needs
    every word's raw spelling to come from the line or from a shell string in it."""
    scene = analyzer.build_scene(line)
    texts = (scene.line, *scene.shell_strings)
    for command in scene.commands:
        if command.implied:
            continue  # a program run without being written, such as bare xargs's echo
        for word in command.words:
            synthetic = word.raw.startswith("'")  # Word.synthetic quotes its text
            assert synthetic or any(word.raw in text for text in texts), (line, word.raw)


def test_raw_words_come_from_the_line_or_its_shell_strings() -> None:
    for line in LINES:
        assert_every_raw_word_is_in_the_text(line)


@SLOW_OK
@given(GENERATED)
def test_generated_raw_words_come_from_the_text(line: str) -> None:
    assert_every_raw_word_is_in_the_text(line)


DECISIONS = [Decision.ALLOW, Decision.ASK, Decision.DENY]
RISKS = [Risk.LOW, Risk.MEDIUM, Risk.HIGH]


@given(st.lists(st.sampled_from(DECISIONS)), st.lists(st.sampled_from(RISKS)))
def test_strictest_and_highest_follow_their_order(
    decisions: list[Decision], risks: list[Risk]
) -> None:
    assert strictest(decisions) == max(decisions, key=DECISIONS.index, default=Decision.ALLOW)
    assert highest(risks) == max(risks, key=RISKS.index, default=Risk.LOW)
    assert strictest(iter(decisions)) == strictest(decisions)


def test_the_explanation_is_built_when_read_and_serialized() -> None:
    verdict = analyzer.analyze("ls; rm -rf /")
    dumped = verdict.model_dump()
    assert dumped["explanation"] == verdict.explanation
    assert verdict.explanation.startswith("Denied: S29 destructive command (rm -rf / removes /)")
    assert analyzer.analyze("ls /tmp").explanation == (
        "Allowed: every command (ls) is proven read-only or allowed by the policy."
    )
    assert analyzer.analyze("x=1").explanation == "Allowed: the line runs no command."
