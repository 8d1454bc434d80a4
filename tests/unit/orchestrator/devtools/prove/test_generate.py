"""The differential fuzzer's generator: reproducible, varied, and mostly allowed."""

from __future__ import annotations

import random
import re

from hypothesis import given, settings

from orchestrator.devtools.prove import bash_constructs as bc
from orchestrator.devtools.prove.generate import Generator
from orchestrator.devtools.prove.hostile import FIXTURES, PLAIN
from orchestrator.devtools.prove.hostile_lines import HostileLines
from orchestrator.devtools.prove.strategies import HypothesisSource, draw_batch, reopens
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


# --- the hostile constructs, and the fixtures sessions start from -----------------------


def _hostile(production: str, seed: int = 1, count: int = 300) -> list[tuple[str, str]]:
    lines = HostileLines(random.Random(seed), lambda: "ls -la")
    return [lines.productions[production]() for _ in range(count)]


def test_commands_come_with_fixtures_from_the_whole_catalogue() -> None:
    generator = Generator(9, hypothesis_share=0)
    pairs = [(generator.command(), generator.fixture) for _ in range(SAMPLE)]
    again = Generator(9, hypothesis_share=0)
    assert pairs == [(again.command(), again.fixture) for _ in range(SAMPLE)]
    fixtures = {fixture for _, fixture in pairs}
    assert {PLAIN, "hostile-files", "git-config", "git-hooks", "bare-repo"} <= fixtures
    assert any(FIXTURES[f].tool for f in fixtures)
    assert all(f in FIXTURES for f in fixtures)


def test_reopens_open_a_precious_file_then_write_through_its_descriptor() -> None:
    reads = re.compile(r"[0-9}]?<\s*(" + "|".join(map(re.escape, bc.PRECIOUS)) + ")")
    writes = re.compile(r"(&?>>?|>\|)\s*(/dev/std|/dev/fd/|/proc/)")
    for line, _ in _hostile("reopen"):
        assert reads.search(line) and writes.search(line), line
    text = "\n".join(line for line, _ in _hostile("reopen"))
    for form in (">/dev/stdout", ">>/dev/stdout", "/dev/fd/", "/proc/self/fd/", "exec ", ">>"):
        assert form in text, form


def test_data_reaches_every_arithmetic_context_from_repository_files() -> None:
    drawn = _hostile("data", count=1500)
    text = "\n".join(line for line, _ in drawn)
    forms = ("${a[$", "test -v", "[ -v", "${s:", "${!", "@P}", "read 'a[", "(( ", "let ",
             "declare -i", "printf -v 'a[", "[ -v 'a[_]' ]", "$(( _ ))", "${a[_]}")  # fmt: skip
    for form in forms:
        assert form in text, form
    assert all(fixture != PLAIN for _, fixture in drawn)
    assert all(any(f in line for f in ("payload.txt", "vars.txt", "hostile.json", ".commit-message",
               "option.txt", "git log", "ls |", "(*)")) for line, _ in drawn)  # fmt: skip


def test_every_assigning_construct_meets_every_protected_variable() -> None:
    drawn = [line for line, _ in _hostile("assignment", count=3000)]
    for name in bc.PROTECTED:
        assert any(name in line for line in drawn), name
    for keyword in ("read -r", "mapfile", "readarray", "getopts", "printf -v", "declare",
                    "typeset", "local", "export", "readonly", "for ", "select ", ":=", "coproc",
                    "unset", "export -n", "declare -n", "set --", "(( "):  # fmt: skip
        assert any(keyword in line for line in drawn), keyword


def test_wrapper_options_take_values_the_ways_getopt_does() -> None:
    drawn = [line for line, _ in _hostile("wrapper", count=1500)]
    text = "\n".join(drawn)
    for form in ("xargs -i ", "xargs -e", "xargs -l", "env -S", "--split-string", "timeout -s",
                 "nice -n", "stdbuf -o", "flock -c", "env -C"):  # fmt: skip
        assert form in text, form


def test_globs_before_options_run_in_their_tools_option_name_fixture() -> None:
    drawn = _hostile("glob", count=600)
    for tool, lines in bc.GLOB_LINES.items():
        assert any(line in [t.replace("@g@", g) for t in lines for g in bc.GLOBS]
                   for line, _ in drawn), tool  # fmt: skip
    own = sum(1 for line, fixture in drawn if FIXTURES[fixture].tool and
              FIXTURES[fixture].tool.split()[-1] in line)  # fmt: skip
    assert own > len(drawn) * 0.7
    assert any("-- *" in line for line, _ in drawn)  # the control


def test_tool_options_cover_the_knowledge_gaps() -> None:
    text = "\n".join(line for line, _ in _hostile("tool option", count=2000))
    assert re.search(r"gawk (.* )?-l[a-z]", text)  # a library, attached
    assert re.search(r"sed (.* )?-[nszE]+f ?script\.sed", text)  # -f inside a cluster
    for form in ("--diff-program", "sdiff -o", "ptx", "gawk -l", "gawk -d",
                 "gawk -o", "inplace", "--fil", "mawk -W", "@g()", "\\\n>", ":a;e",
                 "--hostname-bin", "--pre=", "sed -f", "-fscript.sed"):  # fmt: skip
        assert form in text, form


def test_environment_lines_load_config_and_programs_for_their_tools() -> None:
    text = "\n".join(line for line, _ in _hostile("environment", count=800))
    for form in ("RIPGREP_CONFIG_PATH=", "GIT_TEST_FSMONITOR=", "GREP=", "GIT_CONFIG_GLOBAL=",
                 "HOME=/workspace", "BASH_ENV=", "AWKPATH="):  # fmt: skip
        assert form in text, form


def test_hypothesis_lines_include_data_arithmetic_and_assignments() -> None:
    text = "\n".join(draw_batch(11, 60))
    assert "a[" in text and "<<<" in text
    assert any(name in text for name in ("PATH", "BASH_ENV", "GIT_DIR", "TEXTDOMAIN"))


@settings(max_examples=40, deadline=None, database=None)
@given(reopens)
def test_hypothesis_reopens_read_a_file_then_write_through_its_descriptor(redirect: str) -> None:
    assert re.search(r"<\s*\S", redirect) and re.search(r">\S*\s*/(dev|proc)/", redirect)
