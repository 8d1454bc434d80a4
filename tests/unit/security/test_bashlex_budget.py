"""The step budget that ends bashlex's endless loops, the same way on every machine."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import bashlex
import bashlex.parser
import bashlex.subst
import bashlex.tokenizer
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.devtools.bench import corpus_commands
from security import Decision, Verdict, analyze
from security import bashlex_budget as budget_module
from security.bashlex_budget import (
    BASE_STEPS,
    BASHLEX_VERSION,
    MAX_NESTING,
    STEPS_PER_CHAR,
    ParseBudgetExceeded,
    StepBudget,
    budgeted,
    fresh_counting_parser,
)
from security.checks.text import MAX_LINE_CHARS
from security.shell import ShellSyntaxError, _bashlex_parse, _parse_parts, parse_line

ROOT = Path(__file__).resolve().parents[3]

# Lines bashlex 0.18 never finishes parsing: it goes back to the start of the word
# after `${` and comes round again, growing its output. The second was found by
# hypothesis and grew to 18 GB before it was stopped.
ENDLESS = ["x'${a'", "'\\~ZA${'0 ", "echo " + "a" * 16_000 + "'${b'"]


def steps_of(text: str, limit: int = 10**9) -> tuple[int, str]:
    """Steps ``text`` takes in our driver, and how the parse ended."""
    budget = StepBudget(limit)
    try:
        with budgeted(budget):
            _parse_parts(text)
    except Exception as exc:
        return budget.spent, type(exc).__name__
    return budget.spent, "ok"


def fill(unit: str, head: str = "", sep: str = " ", tail: str = "") -> str:
    """``head`` + ``unit`` repeated up to the longest line the analyzer parses."""
    room = MAX_LINE_CHARS - len(head) - len(tail)
    return head + sep.join([unit] * ((room + len(sep)) // (len(unit) + len(sep)))) + tail


def nested(opening: str, closing: str, levels: int, middle: str) -> str:
    return opening * levels + middle + closing * levels


# Legitimate lines of the maximum length, built to take many steps per character (at
# most 6; the limit allows 64).
LONG_LINES = {
    "ls with 2000 names": "ls " + " ".join(f"f{i:04d}.c" for i in range(2000)),
    "16 KB heredoc": "cat <<EOF\n" + "text with $HOME in it\n" * 740 + "EOF",
    "a;a;a": fill("a", sep=";"),
    "one per line": fill("a", sep="\n"),
    "subshells": fill("(a)", sep=";"),
    "ifs": fill("if a; then b; fi", sep=";"),
    "$(a) words": fill("$(a)", head="echo "),
    "`a` words": fill("`a`", head="echo "),
    "$x words": fill("$x", head="echo "),
}

# The deepest nesting accepted, padded to the maximum length: bashlex reads the text
# of a substitution again at each level, so these take the most steps per character
# (up to 32).
DEEPEST = {
    "$( nested": "echo " + nested("$(echo ", ")", 24, "x" * 16_000),
    '"$( nested': "echo " + nested('"$(echo ', ')"', 24, "x" * 16_000),
    "$( nested around a;a;a": "echo " + nested("$(", ")", 24, ";".join(["a"] * 8_000)),
    "( nested": nested("(", ")", 96, ";".join(["a"] * 8_000)),
    "if nested": nested("if a; then ", "; fi", 96, "b"),
}


# -- bashlex's internals, which the budget hooks into ---------------------------------

BASHLEX_SOURCES = {  # sha256 of the files of bashlex 0.18 the hooks depend on
    "tokenizer.py": "3eb6f050057b92e7ec0024627698a01d636ae3acaf27135ae1e68b68c0fd8268",
    "parser.py": "fdddc8c057b8668f4be040711e62d651a6c52e9b0e4fd36dfaa3876b3cb53ff8",
    "subst.py": "9b822ca200d0e5419716f1f52671da4fcc6f5a3390110f1aada3fcddaff233ce",
    "yacc.py": "a51bde6abb37d8c9fb985a31a78f35d8d24bf73a921e03cd2adb848d787e5792",
    "heredoc.py": "ff3a51cef6b496dfdfb98fd8e7ed9f7f3013ac9afa377f73e9d9b14e73772449",
    "ast.py": "24ae9d556f9d8afc6e1339366f7cf62745465ac0bfccccf96ef211f49ea16ecf",
}


@pytest.mark.parametrize("name", sorted(BASHLEX_SOURCES))
def test_bashlex_is_the_release_the_hooks_were_written_for(name: str) -> None:
    """If this fails, bashlex changed: re-read security/bashlex_budget.py against the new
    release (every loop must still read, reduce or expand), re-measure the limits, and
    only then update the pin in pyproject.toml, BASHLEX_VERSION and these hashes."""
    source = Path(bashlex.__file__).parent / name
    assert hashlib.sha256(source.read_bytes()).hexdigest() == BASHLEX_SOURCES[name], (
        f"bashlex's {name} changed: the step budget hooks into its internals"
    )


def test_the_pin_and_the_budget_name_the_same_release() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"bashlex=={BASHLEX_VERSION}" in project["dependencies"]


def test_the_hook_points_have_the_shapes_the_budget_expects() -> None:
    tokenizer = bashlex.tokenizer.tokenizer
    assert list(inspect.signature(tokenizer._getc).parameters) == ["self", "remove_quoted_newline"]
    assert list(inspect.signature(tokenizer.token).parameters) == ["self"]
    assert list(inspect.signature(budget_module._plain_paramexpand).parameters) == [
        "parserobj",
        "string",
        "sindex",
    ]
    context = budget_module._CONTEXT
    assert list(inspect.signature(context.__init__).parameters) == [
        "self",
        "s",
        "strictmode",
        "expansionlimit",
        "tokenizerargs",
    ]
    # the nested parses bashlex starts look these names up when they run
    assert bashlex.parser._parser is budget_module._BudgetedContext
    assert bashlex.subst._paramexpand is budget_module._counting_paramexpand
    assert "parser._parser(" in inspect.getsource(bashlex.subst._recursiveparse)
    assert "_paramexpand(parserobj" in inspect.getsource(bashlex.subst._expandwordinternal)
    # the LR parser calls each rule through the table it was given
    assert "prod    = self.productions" in inspect.getsource(type(bashlex.parser.yaccparser).parse)


def test_the_counting_lr_parser_is_what_bashlex_copies_but_for_its_rules() -> None:
    tables = bashlex.parser.yaccparser
    kind = type(tables)
    # copy.copy of a plain object: a new instance holding the same attribute values
    assert kind.__reduce_ex__ is object.__reduce_ex__
    assert not hasattr(kind, "__copy__") and not hasattr(kind, "__slots__")
    ours = fresh_counting_parser()
    assert type(ours) is kind and ours is not fresh_counting_parser()
    assert vars(ours).keys() == vars(tables).keys()
    differ = [key for key, value in vars(tables).items() if vars(ours)[key] is not value]
    assert differ == ["productions"]
    for theirs, mine in zip(tables.productions, ours.productions, strict=True):
        assert (mine.name, mine.len, mine.str) == (theirs.name, theirs.len, theirs.str)
        assert (mine.callable is None) == (theirs.callable is None)


def test_the_counting_context_is_set_up_as_bashlex_sets_up_its_own() -> None:
    plain = budget_module._CONTEXT("echo $(ls)")
    with budgeted(StepBudget(10**6)):
        counted = budget_module.parse_context("echo $(ls)")
    assert vars(plain).keys() | {"budget"} == vars(counted).keys()
    assert type(counted.tok).__mro__[1] is type(plain.tok)
    assert vars(plain.tok).keys() | {"budget", "floor"} == vars(counted.tok).keys()
    assert counted.redirstack is counted.tok.redirstack
    assert counted.parserstate is counted.tok._parserstate


def _plain_and_counted(line: str) -> tuple[list[str], list[str]] | None:
    """bashlex's reading of ``line`` without a budget and with one (None if it loops)."""
    try:
        with budgeted(StepBudget(10**6)):
            counted = [node.dump() for node in bashlex.parse(line)]
    except ParseBudgetExceeded:
        return None  # one of the lines bashlex never finishes: not to be run without
    except Exception as exc:
        counted = [type(exc).__name__, str(exc)]
    try:
        plain = [node.dump() for node in bashlex.parse(line)]
    except Exception as exc:
        plain = [type(exc).__name__, str(exc)]
    return plain, counted


def test_without_a_budget_bashlex_reads_as_it_always_did() -> None:
    """The rebound names pass straight through, and the counted parse (its own
    context set-up, its nested parses) reads every corpus line alike."""
    for line in corpus_commands():
        both = _plain_and_counted(line)
        assert both is None or both[0] == both[1], line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab <>|;&\n$(){}'\"`\\#=-EOF", max_size=40))
def test_random_lines_read_alike_with_and_without_a_budget(line: str) -> None:
    both = _plain_and_counted(line)
    assert both is None or both[0] == both[1], line


def test_a_budget_counts_only_the_parses_of_its_own_thread() -> None:
    budget = StepBudget(10**6)
    other: list[int] = []

    def parse_elsewhere() -> None:
        context = budget_module.parse_context("ls -la | grep x")
        context.parse()
        other.append(0 if context.budget is None else context.budget.spent)

    with budgeted(budget):
        thread = threading.Thread(target=parse_elsewhere)
        thread.start()
        thread.join()
    assert other == [0] and budget.spent == 0


# -- the loops end ---------------------------------------------------------------------


@pytest.mark.parametrize("line", ENDLESS, ids=["x'${a'", "hypothesis", "16 KB before it"])
def test_every_known_endless_loop_ends_by_the_budget(line: str) -> None:
    with pytest.raises(ShellSyntaxError, match=r"bashlex took more than \d+ steps"):
        parse_line(line)


@pytest.mark.parametrize("limit", [1_000, 10_000, 100_000])
def test_the_loop_runs_until_whatever_the_limit_is(limit: int) -> None:
    """Nothing but the budget ends it: it spends any limit it is given."""
    spent, outcome = steps_of("x'${a'", limit)
    assert outcome == "ParseBudgetExceeded"
    assert limit < spent <= limit + len("x'${a'")


# The loop on each route a line takes into bashlex: the line itself, a second parse after
# a rewrite bashlex needs (`[[ ]]`, a quoted heredoc delimiter: the first parse fails
# before the loop), the nested parse bashlex starts for a substitution, and shell code
# the line hands to bash (a quoted heredoc body, which the line's own parse never
# expands). Each: (line, the prefix the analyzer puts before the budget's message).
ENDLESS_BY_ROUTE = {
    "x'${a'": (ENDLESS[0], ""),
    "hypothesis": (ENDLESS[1], ""),
    "16 KB before it": (ENDLESS[2], ""),
    "after the [[ rewrite": ("[[ -n x ]] && x'${a'", ""),
    "after the quoted heredoc rewrite": ("cat <<'E' && x'${a'\nbody\nE", ""),
    "in a substitution": ("echo $(x'${a')", ""),
    "in shell code for bash": ("bash <<'E'\nx'${a'\nE", "in bash code: "),
}

# Analyzes the line in argv[1] with the address space capped 512 MiB above what the
# interpreter holds once warmed up; prints the decision and the findings as JSON.
ANALYZE_CAPPED = """
import json, resource, sys
from security import analyze
analyze("ls -la")
with open("/proc/self/status") as status:
    size = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize:"))
cap = size + 2**29
resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
verdict = analyze(sys.argv[1])
print(json.dumps([verdict.decision.value, [[f.check, f.detail] for f in verdict.findings]]))
"""


@pytest.mark.parametrize("route", sorted(ENDLESS_BY_ROUTE))
def test_an_endless_loop_is_a_refusal_not_a_hang(route: str) -> None:
    """The analyzer refuses with the budget's own reason (so the line did reach bashlex
    and the budget ended the loop). Run in a child whose memory is capped: were the
    budget gone, the loop would grow without end, and the child would fail for want
    of memory instead of taking the machine's."""
    line, where = ENDLESS_BY_ROUTE[route]
    done = subprocess.run(
        [sys.executable, "-c", ANALYZE_CAPPED, line],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    decision, findings = json.loads(done.stdout)
    assert decision != Decision.ALLOW.value
    budget_ended_it = re.escape(where) + r"bashlex took more than \d+ steps"
    assert any(
        check == "S04" and re.fullmatch(budget_ended_it, detail) for check, detail in findings
    ), findings


def test_memory_stays_bounded_on_the_loop_that_grew_to_18_gb() -> None:
    """The longest line with the loop, run to the end of its budget in a fresh process:
    its peak memory grows by a few megabytes (what it builds is in proportion to the
    steps it is charged)."""
    probe = (
        "import resource, sys\n"
        "from security.shell import ShellSyntaxError, parse_line\n"
        "parse_line('ls -la')\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    parse_line(sys.argv[1])\n"
        "except ShellSyntaxError as exc:\n"
        "    print(exc, file=sys.stderr)\n"
        "else:\n"
        "    sys.exit('the loop was not stopped')\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    line = "echo " + "a" * (MAX_LINE_CHARS - 20) + "'${b'"
    done = subprocess.run(
        [sys.executable, "-c", probe, line], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert "steps" in done.stderr
    grown_kib = int(done.stdout)
    assert grown_kib < 64 * 1024, f"peak memory grew by {grown_kib} KiB"


# -- the limit is deterministic, and legitimate lines stay far below it ----------------


@pytest.mark.parametrize("line", ["ls -la", "echo $(echo $(id)) `date` <(ls)", "a;" * 2000])
def test_a_line_passes_at_exactly_its_step_count_and_fails_one_below(line: str) -> None:
    needed, outcome = steps_of(line)
    assert outcome == "ok"
    assert steps_of(line, needed) == (needed, "ok")
    assert steps_of(line, needed - 1) == (needed, "ParseBudgetExceeded")


def test_the_same_line_fails_at_the_same_step_every_time_in_any_thread() -> None:
    line = ENDLESS[1]
    first = steps_of(line, 50_000)
    results: list[tuple[int, str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(steps_of(line, 50_000))) for _ in range(2)
    ]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        results.append(steps_of(line, 50_000))
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(old)
    assert first[1] == "ParseBudgetExceeded"
    assert results == [first] * 3


def test_corpus_lines_stay_far_below_their_limit() -> None:
    for line in corpus_commands():
        spent, _ = steps_of(line)
        assert spent * 8 <= StepBudget.for_text(line).limit, line


@pytest.mark.parametrize("name", sorted(LONG_LINES))
def test_long_legitimate_lines_stay_far_below_their_limit(name: str) -> None:
    line = LONG_LINES[name]
    assert len(line) <= MAX_LINE_CHARS
    spent, outcome = steps_of(line)
    assert outcome == "ok", name
    assert spent * 8 <= StepBudget.for_text(line).limit, (name, spent / len(line))


@pytest.mark.parametrize("name", sorted(DEEPEST))
def test_the_deepest_accepted_nesting_at_full_length_stays_below_its_limit(name: str) -> None:
    line = DEEPEST[name]
    assert len(line) <= MAX_LINE_CHARS
    spent, outcome = steps_of(line)
    assert outcome == "ok", name
    assert spent * 3 <= StepBudget.for_text(line).limit * 2, (name, spent / len(line))


def test_the_limit_grows_with_the_line() -> None:
    assert StepBudget.for_text("").limit == BASE_STEPS
    assert StepBudget.for_text("x" * 100).limit == BASE_STEPS + 100 * STEPS_PER_CHAR


# -- nesting ----------------------------------------------------------------------------

NESTINGS: dict[str, Callable[[int], str]] = {
    "(": lambda n: nested("(", ")", n, "ls"),
    "{": lambda n: nested("{ ", "} ", n, "ls; "),
    "if": lambda n: nested("if ls; then ", "; fi", n, "ls"),
    "while": lambda n: nested("while ls; do ", "; done", n, "ls"),
    "$(": lambda n: "echo " + nested("$(echo ", ")", n, "x"),
    "<(": lambda n: "cat " + nested("<(cat ", ")", n, "x"),
    "$( (": lambda n: "echo " + nested("$( (", "))", n, "x"),
}


def deepest_accepted(make: Callable[[int], str]) -> int:
    levels = 1
    while True:
        try:
            _bashlex_parse(make(levels + 1))
        except ParseBudgetExceeded as exc:
            assert "nest deeper" in str(exc)
            return levels
        levels += 1
        assert levels <= MAX_NESTING


@pytest.mark.parametrize("kind", sorted(NESTINGS))
def test_nesting_is_bounded_by_a_count(kind: str) -> None:
    make = NESTINGS[kind]
    levels = deepest_accepted(make)
    assert levels >= 12  # far deeper than anyone writes
    with pytest.raises(ShellSyntaxError, match="nest deeper than"):
        parse_line(make(levels + 1))


def _at_depth(frames: int, call: Callable[[], Verdict]) -> Verdict:
    return call() if frames <= 0 else _at_depth(frames - 1, call)


def _stack_depth() -> int:
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


@pytest.mark.parametrize("kind", sorted(NESTINGS))
def test_the_deepest_nesting_gets_the_same_verdict_however_deep_the_caller(kind: str) -> None:
    """The nesting bound keeps the recursion of the parse and of the walk well inside
    Python's limit: a caller with 500 frames of room gets what a shallow one gets."""
    make = NESTINGS[kind]
    line = make(deepest_accepted(make))
    shallow = analyze(line)
    assert not any("nested too deeply" in f.detail for f in shallow.findings)
    room = 500
    deep = _at_depth(sys.getrecursionlimit() - _stack_depth() - room, lambda: analyze(line))
    assert deep == shallow
