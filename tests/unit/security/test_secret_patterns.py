"""S27 and search patterns: the text grep looks for is data, the files it reads are not."""

from __future__ import annotations

import pytest

from security import Decision, analyze
from security.knowledge.patterns import GIT_GREP, GREP, RG, pattern_arguments

PATTERN_ONLY = [
    "grep -rn '~/.ssh' docs/",
    "grep -rn ~/.ssh docs/",
    "grep -e '.env' -e id_rsa src",
    "grep --regexp=.aws/credentials -r .",
    "grep -C2 -i 'id_rsa' README.md",
    "grep -5 .netrc notes.md",
    "egrep 'ssh/id_(rsa|ed25519)' docs/setup.md",
    "fgrep -rn .env config/",
    "rg -n '~/.ssh' src",
    "rg -e id_rsa -g '*.md'",
    "rg --regexp .env --type py",
    "git grep -n '~/.ssh'",
    "git grep -e .aws/credentials -- docs",
    "git -C lib grep -l id_rsa",
]
STILL_READS = [
    "grep -r pattern ~/.ssh",
    "grep -f ~/.ssh/id_rsa x",
    "grep -f~/.ssh/id_rsa x",
    "grep --file=~/.ssh/id_rsa x",
    "grep --fil=~/.ssh/id_rsa x",
    "grep --exclude-from=.env -r x .",
    "grep -e x ~/.aws/credentials",
    "grep -e '.env' -- .env",
    "grep x -- .env",
    "grep $opt ~/.ssh/id_rsa",
    'grep "$p" -- ~/.ssh/id_rsa',
    "grep --weird ~/.ssh/id_rsa",
    "rg --files ~/.ssh",
    "rg -f .env x",
    "rg --ignore-file ~/.ssh/id_rsa x",
    "rg TOKEN .env",
    "git grep TOKEN -- .env",
    "cat .env",
    "cat ~/.ssh/id_rsa",
    "sed -n p ~/.ssh/id_rsa",
    "awk '{print}' .env",
    "head ~/.aws/credentials",
    # globs the repository's or the home's file names complete (principle 3)
    "cat ~/.ssh/*",
    "cat ~/.[s]sh/*",
    "cat .env*",
    "cat .e[n]v",
    "head ~/.aws/cred*",
    "cat */.env",
    "wc -c < .e?v",
    "cat .*",
    "cat /proc/*/environ",
]
GLOBS_THAT_MISS_SECRETS = [
    "cat *",
    "du -sh *",
    "wc -l src/*.py",
    "md5sum *.tar.gz",
    "file dist/*",
    "cat /etc/*release",
    "ls -la .*",
    "head */README.md",
]


@pytest.mark.parametrize("line", PATTERN_ONLY)
def test_a_pattern_that_mentions_a_secret_reads_no_secret(line: str) -> None:
    assert "S27" not in {f.check for f in analyze(line).findings}, line


def test_the_issue_example_is_allowed() -> None:
    assert analyze("grep -rn '~/.ssh' docs/").decision is Decision.ALLOW


@pytest.mark.parametrize("line", STILL_READS)
def test_files_that_hold_secrets_still_ask(line: str) -> None:
    verdict = analyze(line)
    assert verdict.decision is not Decision.ALLOW, (line, verdict.explanation)


def test_pattern_arguments() -> None:
    assert pattern_arguments(["-rn", "p", "f"], GREP) == {1}
    assert pattern_arguments(["-e", "p", "f"], GREP) == {1}
    assert pattern_arguments(["-ep", "f"], GREP) == {0}
    assert pattern_arguments(["-f", "pats", "f"], GREP) == set()
    assert pattern_arguments(["--", "-p", "f"], GREP) == {1}
    assert pattern_arguments(["--reg=p", "f"], GREP) == {0}  # an abbreviation
    assert pattern_arguments(["--colour", "p"], GREP) == {1}
    assert pattern_arguments(["--bogus", "p"], GREP) is None
    assert pattern_arguments(["-Q", "p"], GREP) is None
    assert pattern_arguments(["--reg", "p"], RG) is None  # rg takes no abbreviations
    assert pattern_arguments(["--files", "d"], RG) == set()
    assert pattern_arguments(["-n", "-e", "a", "--", "d"], GIT_GREP) == {2}


@pytest.mark.parametrize("line", GLOBS_THAT_MISS_SECRETS)
def test_globs_that_cannot_reach_a_secret_pass(line: str) -> None:
    assert "S27" not in {f.check for f in analyze(line).findings}, line
