"""Inputs that once broke the analyzer (found by `make fuzz`), kept as regressions."""

from __future__ import annotations

import pytest

from security import Decision, analyze

FOUND_BY_FUZZING = [
    # bashlex gives the target of `<&-` as a string, not a node
    "V\x19<&-q\x7f\x7f   oo\x7f\x7f\x7fq\x16\x19<&r -q\x7f\x7fnt\x12_\x19\x16\x0e",
    "ls <&-",
    # bashlex raises NameError (_shellquote) on a quoted heredoc inside <( ... `...`
    "sh <(<< 'rm\x7f\x7f\x7f'\x00\x00\x00\x00\x00\x00\x00\x00`\\\x1b\"pI'\x02\x00\\S`",
    # tree-sitter-bash reads out of bounds on `{` followed by a wide character
    "{\U00100000 [[",
    "echo {\U0010ffff",
    # bashlex never returns on an unclosed ${ inside single quotes
    "x'${a'",
    # bashlex loops forever, growing without bound, on this one (found by hypothesis)
    "'\\~ZA${'0 ",
]


HARMLESS = {"ls <&-", "echo {\U0010ffff"}  # read-only once understood


@pytest.mark.parametrize("command", FOUND_BY_FUZZING)
def test_fuzz_finding_is_a_verdict_not_an_error(command: str) -> None:
    verdict = analyze(command)
    assert all(f.check != "S00" for f in verdict.findings), verdict.findings
    assert verdict.decision is not Decision.ALLOW or command in HARMLESS
