"""Evidence: the shell-level attacks the analyzer refuses do what it says, in a real session.

Each case sets up a hostile fixture in its own directory of one default session
(airlock/dev, bash 5.2), runs the line unanalyzed, and checks its effect: a file the
line must not write was written, or a program it did not list ran. The analyzer must
refuse every one of them under read-only. Look-alikes it allows run too and must
have no effect. (git's own variables are left out: the image's git guard changes
what git does, and the analyzer must be right without it.)
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

import pytest

from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.spec import SessionSpec
from security import Decision, analyze

pytestmark = pytest.mark.integration

ROOT = "/workspace/evidence"
EVIL = "printf '#!/bin/sh\\n/usr/bin/touch %s/pwned\\n' \"$PWD\" > evil; chmod +x evil"
PAYLOAD = "printf '%s\\n' 'b[$(touch pwned)]' > p"
PLANTED = f"{EVIL}; mkdir bin; cp evil bin/ls; echo bin > pathfile"
WRITTEN = 'test "$(cat f)" != ORIGINAL'
RAN = "test -e pwned"


@dataclass(frozen=True)
class Case:
    family: str
    setup: str
    line: str
    proof: str  # exits 0 when the line had its effect


ATTACKS = [
    # class 2: a descriptor alias reopens the file the descriptor refers to
    Case("fd-reopen", "echo ORIGINAL > f", "echo x 1<f >/dev/stdout", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "echo x 1<f >>/dev/stdout", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "echo x 1<>f >/dev/stdout", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "exec 1<f; echo x >/dev/stdout", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "echo x 2<f 2>/dev/stderr", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "{ echo x >/dev/stdout; } 1<f", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "g() { echo x >/dev/stdout; }; g 1<f", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "echo x 3<f 4>&3 >/dev/fd/4", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "sh -c 'echo x >/dev/stdout' 1<f", WRITTEN),
    # class 3: a value evaluated as arithmetic or as a name runs its $(...)
    Case("arith-eval", PAYLOAD, "x=$(cat p); echo ${a[x]}", RAN),
    Case("arith-eval", PAYLOAD, "read -r x < p; test -v 'a[x]'", RAN),
    Case("arith-eval", PAYLOAD, "x=$(cat p); s=abc; echo ${s:x}", RAN),
    Case("arith-eval", PAYLOAD, "x=$(cat p); echo ${!x}", RAN),
    Case("arith-eval", "echo '$(touch pwned)' > q", "x=$(cat q); echo ${x@P}", RAN),
    Case("arith-eval", PAYLOAD, "x=$(cat p); read 'a[x]' <<< v", RAN),
    Case("arith-eval", PAYLOAD, "x=$(cat p); cat <<EOF\n$[x]\nEOF", RAN),
    Case("arith-eval", PAYLOAD, "x=$(cat p); for i in ${a[x]}; do :; done", RAN),
    Case("arith-eval", PAYLOAD, "bash -c 'x=$(cat p); ((x))'", RAN),
    Case("arith-eval", PAYLOAD, "x=$(cat p); wait -p 'a[x]' & wait -n -p 'a[x]'", RAN),
    Case("arith-eval", PAYLOAD, "read OPTIND < p", RAN),  # OPTIND is an integer variable
    # the last argument of the previous command ($_) is a file name the repository chose
    Case("arith-eval", "touch 'z[$(touch pwned)]'", "echo * >/dev/null; [ -v 'a[_]' ]", RAN),
    # principle 1: PATH set by constructs other than NAME=value
    Case("assign-construct", PLANTED, "for PATH in bin; do ls; done", RAN),
    Case("assign-construct", PLANTED, "read PATH < pathfile; ls", RAN),
    Case("assign-construct", PLANTED, "IFS= read -r PATH < pathfile; ls", RAN),
    Case("assign-construct", PLANTED, "declare -n r=PATH; r=bin; ls", RAN),
    Case("assign-construct", PLANTED, "select PATH in bin; do ls; break; done <<< 1", RAN),
    Case("assign-construct", f"{EVIL}; mkdir b; cp evil b/ls", "getopts b PATH -b; ls", RAN),
    Case("assign-construct", f"{EVIL}; cp evil ls", "wait -p PATH; ls", RAN),
    Case("assign-construct", f"{EVIL}; cp evil rc", "set -a; BASH_ENV=./rc; bash -c true", RAN),
    # class 6: a variable makes a read-only tool load config or run a program
    Case(
        "env-loads-code",
        f'{EVIL}; echo "--pre=$PWD/evil" > rgcfg; echo hello > h.txt',
        "RIPGREP_CONFIG_PATH=rgcfg rg hello h.txt",
        RAN,
    ),
    Case("env-loads-code", f"{EVIL}; echo hello > h.txt", "GREP=./evil zgrep hello h.txt", RAN),
    Case(
        "env-loads-code",
        "echo 'BEGIN { system(\"touch pwned\") }' > inc.awk",
        "AWKPATH=. gawk '@include \"inc\"; BEGIN {}'",
        RAN,
    ),
    Case(
        "env-loads-code",
        "mkdir -p l/xx/LC_MESSAGES && cp ../t.mo l/xx/LC_MESSAGES/t.mo",
        "TEXTDOMAIN=t LANGUAGE=../../../$PWD/l/xx bash -c 'echo $\"hello\"'",
        RAN,
    ),
]
HARMLESS = [
    Case("fd-reopen", "echo ORIGINAL > f", "echo x >/dev/stdout; cat f >/dev/stderr", WRITTEN),
    Case("fd-reopen", "echo ORIGINAL > f", "grep ORIG f 2>/dev/null >/dev/stderr", WRITTEN),
    Case("arith-eval", PAYLOAD, "x=$(cat p); echo ${#x} ${x:-d} ${a[0]} ${x:1:2}", RAN),
    Case("arith-eval", PAYLOAD, 'x=$(cat p); test -n "$x" && echo "${x#b}"', RAN),
    Case("assign-construct", PLANTED, 'for f in bin/*; do wc -l "$f"; done', RAN),
    Case(
        "env-loads-code", f"{EVIL}; echo hello > h.txt", "LC_ALL=C TZ=UTC grep -c hello h.txt", RAN
    ),
    Case(
        "secret-pattern", "mkdir docs; echo 'see ~/.ssh' > docs/a", "grep -rn '~/.ssh' docs/", RAN
    ),
]


def _message_catalog() -> bytes:
    """A GNU .mo file translating "hello" into a command substitution."""
    messages = {b"": b"Content-Type: text/plain; charset=UTF-8\n", b"hello": b"$(touch pwned)"}
    keys = sorted(messages)
    ids = b"".join(k + b"\0" for k in keys)
    strs = b"".join(messages[k] + b"\0" for k in keys)
    count, key_table = len(keys), 28
    value_table = key_table + 8 * count
    ids_at = value_table + 8 * count
    strs_at = ids_at + len(ids)
    keys_index, values_index = b"", b""
    offset = ids_at
    for key in keys:
        keys_index += struct.pack("<II", len(key), offset)
        offset += len(key) + 1
    offset = strs_at
    for key in keys:
        values_index += struct.pack("<II", len(messages[key]), offset)
        offset += len(messages[key]) + 1
    header = struct.pack("<IIIIIII", 0x950412DE, 0, count, key_table, value_table, 0, 0)
    return header + keys_index + values_index + ids + strs


async def _effects(cases: list[Case]) -> list[bool]:
    async with DockerBackend().session(SessionSpec()) as session:
        await session.put_file(f"{ROOT}/t.mo", _message_catalog())
        return [await _effect(session, f"{ROOT}/{i}", case) for i, case in enumerate(cases)]


async def _effect(session: DockerSession, directory: str, case: Case) -> bool:
    made = await session.exec(f"mkdir -p {directory} && cd {directory} && {case.setup}")
    assert made.exit_code == 0, (case, made.stderr)
    await session.exec(case.line, cwd=directory, timeout=30)
    proof = await session.exec(case.proof, cwd=directory)
    return proof.exit_code == 0


def test_every_attack_has_its_effect_and_is_refused() -> None:
    effects = asyncio.run(_effects(ATTACKS))
    missing = [case.line for case, effect in zip(ATTACKS, effects, strict=True) if not effect]
    assert not missing, f"no effect in a real session: {missing}"
    allowed = [case.line for case in ATTACKS if analyze(case.line).decision is Decision.ALLOW]
    assert not allowed, f"the analyzer allows: {allowed}"


def test_look_alikes_are_allowed_and_harmless() -> None:
    effects = asyncio.run(_effects(HARMLESS))
    harmful = [case.line for case, effect in zip(HARMLESS, effects, strict=True) if effect]
    assert not harmful, f"had an effect: {harmful}"
    refused = [case.line for case in HARMLESS if analyze(case.line).decision is not Decision.ALLOW]
    assert not refused, f"the analyzer refuses: {refused}"
