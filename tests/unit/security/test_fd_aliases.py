"""Class 2: a write to /dev/stdout, /dev/stderr or /dev/fd/N reopens what the descriptor is.

Each REOPENS line writes the file ``f`` (or ``.git/config``) in bash 5.2 on Linux;
tests/integration/test_shell_evidence.py runs a sample of them.
"""

from __future__ import annotations

import pytest

from security import Decision, analyze
from security.analyzer import build_scene
from security.checks.fds import alias_fd, harmful_referents, referents

REOPENS = [
    "echo x 1<.git/config >/dev/stdout",
    "echo x 1<.git/config >>/dev/stdout",
    "echo x 1<>f >/dev/stdout",
    "echo x 1<f >/dev/fd/1",
    "echo x 2<f 2>/dev/stderr",
    "echo x 2<f >/dev/stderr",
    "echo x 0<f >/dev/stdin",
    "echo x 3<f >/dev/fd/3",
    "echo x 3<f 4>&3 >/dev/fd/4",
    "echo x 3<f 1>&3 >/dev/stdout",
    "echo x 3<f 1>&3- >/dev/stdout",
    "echo x 1<f &>/dev/stdout",
    "echo x 1<f >&/dev/stdout",
    "exec 1<.git/config; echo x >/dev/stdout",
    "exec 1<f; ls; echo x >/dev/stdout",
    "ls; echo x >/dev/stdout; exec 1<f",  # a loop or function may run it again after
    "exec 3<f; echo x >/dev/fd/3",
    "{ echo x >/dev/stdout; } 1<f",
    "( echo x >/dev/stdout ) 1<f",
    "for i in 1; do echo x >/dev/stdout; done 1<f",
    "while read l; do echo x >/dev/stdout; done 1<f",
    "if true; then echo x >/dev/stdout; fi 1<f",
    "f() { echo x >/dev/stdout; }; f 1<.git/config",
    "sh -c 'echo x >/dev/stdout' 1<f",
    "bash -c 'exec 1<f; echo x >/dev/stdout'",
    "env echo x >/dev/stdout 1<f",
    "timeout 5 echo x 1<f >/dev/stdout",
    "echo x | tee /dev/fd/3 3<f",
    "exec 1<f; tee /dev/stdout <<< x",
    "exec 1<f; dd of=/dev/stdout <<< x",
    "exec 1<f; cp a /dev/stdout",
    "cat <<EOF >/dev/stdout 1<f\nx\nEOF",
    "echo x 1<f 2>/dev/stdout",
    "exec {fd}<f; echo x >/dev/fd/$fd",
    "echo x 3<f >/proc/self/fd/3",
    "echo x 3<f >/proc/thread-self/fd/3",
    "exec 3<f; echo x >/proc/$$/fd/3",
    "echo x 3<f >/dev//fd/3",
    "echo x 3<f >/dev/./fd/3",
    "echo x 3<f >/dev/../dev/fd/3",
    "echo x 1<f >$out",
    "echo x >/dev/fd/5",  # whatever the session's descriptor 5 is, it is not proven
]
STAYS_OUTPUT = [
    "echo x >/dev/stdout",
    "echo x >/dev/stderr",
    "echo x >>/dev/stderr",
    "echo x >/dev/fd/1",
    "echo x >/dev/fd/2",
    "ls 2>/dev/stdout",
    "ls >/dev/null 2>&1",
    "ls 2>&1 >/dev/stderr",
    "grep x f 2>/dev/null >/dev/stderr",
    "cat < f > /dev/stdout",
    "echo x | tee /dev/stderr",
    "echo x > /dev/null; echo y >/dev/stderr",
    "{ echo x >/dev/stderr; } 2>/dev/null",
    "exec 2>&1; echo x >/dev/stderr",
    "cat /dev/stdin",
    "cat < /dev/fd/0",
]


@pytest.mark.parametrize("line", REOPENS)
def test_a_reopened_descriptor_is_a_write(line: str) -> None:
    verdict = analyze(line)
    assert verdict.decision is not Decision.ALLOW, (line, verdict.explanation)
    assert "S24" in {f.check for f in verdict.findings}, (line, verdict.explanation)


@pytest.mark.parametrize("line", STAYS_OUTPUT)
def test_the_sessions_own_output_is_not_a_write(line: str) -> None:
    assert "S24" not in {f.check for f in analyze(line).findings}, line


def test_echo_to_stdout_stays_allowed() -> None:
    assert analyze("echo done >/dev/stderr").decision is Decision.ALLOW
    assert analyze("ls -la 2>/dev/stdout | head").decision is Decision.ALLOW


def test_alias_spellings() -> None:
    assert [alias_fd(p) for p in ("/dev/stdin", "/dev/stdout", "/dev/stderr")] == [0, 1, 2]
    assert alias_fd("/dev/fd/7") == 7
    for path in ("/proc/self/fd/1", "/dev//stdout", "/dev/fd/", "/dev/fd/x", "stdout"):
        assert alias_fd(path) is None, path


def test_referents_follow_duplications() -> None:
    scene = build_scene("exec 3<secret; echo x 4>&3 2>&4 >/dev/stderr")
    kinds = {(item.kind, item.what) for item in referents(2, scene)}
    assert ("file", "secret") in kinds and ("original", "2") in kinds
    # `>/dev/stderr` makes fd 1 whatever fd 2 may be: the secret too
    assert ("file", "secret") in {(i.kind, i.what) for i in harmful_referents(1, scene)}
    assert harmful_referents(1, build_scene("exec 3<secret; echo x 2>&3")) == []
    closed = build_scene("echo x 1>&- >/dev/stdout")
    assert harmful_referents(1, closed) == []


def test_the_detail_names_what_may_be_written() -> None:
    verdict = analyze("echo x 1<.git/config >/dev/stdout")
    detail = next(f.detail for f in verdict.findings if f.check == "S24")
    assert ".git/config" in detail
    assert next(f.risk for f in verdict.findings if f.check == "S24").value == "high"


READS = [
    "cat /dev/fd/3 3<>~/.ssh/id_rsa",
    "exec 4>>.env; cat /dev/fd/4",
    "cat /dev/stdin 0<>.env",
    "exec 5<>.aws/credentials; head < /dev/fd/5",
]


@pytest.mark.parametrize("line", READS)
def test_reading_a_secret_through_an_alias_asks(line: str) -> None:
    verdict = analyze(line)
    assert verdict.decision is not Decision.ALLOW
    assert "S41" in {f.check for f in verdict.findings}, (line, verdict.explanation)
