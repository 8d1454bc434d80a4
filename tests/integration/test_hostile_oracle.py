"""The oracle finds every class of issue 12 by itself, from the hostile fixtures.

Each known-bad line goes straight to the oracle, bypassing the analyzer's verdict (so
that these tests hold whatever the analyzer decides), in the fixture that carries its
payload, and the oracle must name the payload that ran (or the write it made). Controls:
ordinary lines in the same fixtures, and the same lines in the plain seed, show nothing.
git is called as the image's real git binary (found in the session: the ELF file named
git* that answers ``--version``), not a guard that may stand in front of it: what is
tested here is the fixtures and the oracle, not that guard.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from orchestrator.devtools.prove.oracle import POLICY, Judgement, Oracle, judge
from sandbox.docker_backend import DockerBackend
from sandbox.spec import SessionSpec
from security import analyze

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GIT = "@git@"  # the real git binary, found in the session
FIND_REAL_GIT = r"""for f in $(find /usr -maxdepth 5 -type f -name 'git*' -size +1000k); do
  if [ "$(head -c 4 "$f" | tr -d '\177')" = ELF ] && "$f" --version | grep -q '^git version'
  then echo "$f"; exit 0; fi
done; exit 1"""

# (issue class, fixture, line, payload that must be named)
PAYLOADS: list[tuple[str, str, str, str]] = [
    # 1. repository configuration runs programs
    ("config", "git-config", f"{GIT} status", "gitconfig-core-fsmonitor"),
    ("config", "git-config", f"{GIT} diff", "gitconfig-diff-external"),
    ("config", "git-config", f"{GIT} diff", "gitconfig-filter-fl-clean"),
    ("config", "git-config", f"{GIT} log -p -1 notes.txt", "gitconfig-diff-tc-textconv"),
    ("config", "git-config", f"{GIT} cat-file --filters HEAD:notes.txt",
     "gitconfig-filter-fl-smudge"),
    ("config", "git-config", f"{GIT} log -1", "gitconfig-gpg-program"),
    ("config", "git-config", f"{GIT} log -1 --format=%G? HEAD~1", "gitconfig-gpg-x509-program"),
    ("config", "git-config", f"{GIT} diff --help", "gitconfig-man-pv-cmd"),
    ("config", "git-config", f"{GIT} describe --dirty --always",
     "hookspath-hook-post-index-change"),
    ("config", "git-hooks", f"{GIT} describe --dirty --always", "hooks-hook-post-index-change"),
    ("config", "git-hooks", f"{GIT} log -p -1 notes.txt", "include-diff-tc-textconv"),
    ("config", "bare-repo", f"{GIT} -C sub status", "bare-core-fsmonitor"),
    ("config", "bare-repo", f"{GIT} -C vendor/lib.git log -1", "vendor-gpg-program"),
    ("config", "bare-repo", f"{GIT} -C vendor/lib.git cat-file --filters HEAD:legacy.proc",
     "vendor-filter-fp-process"),
    # 3. bash evaluates data as arithmetic
    ("data", "hostile-files", "read -r x < payload.txt; [ -v 'a[x]' ]", "data-subscript"),
    ("data", "hostile-files", "x=$(sed -n 3p vars.txt); echo ${a[$x]}", "data-backquote"),
    ("data", "hostile-files", 'x=$(sed -n 4p vars.txt); echo "${x@P}"', "data-prompt"),
    ("data", "hostile-files", "x=$(sed -n 2p vars.txt); (( a[x] ))", "data-subscript-write"),
    ("data", "hostile-files", 'echo "$(cat payload.txt)" >/dev/null; [ -v \'a[_]\' ]',
     "data-subscript"),
    ("data", "hostile-files", f"x=$({GIT} log -1 --format=%s); echo ${{a[$x]}}", "data-commit"),
    ("data", "hostile-files", "sort $(cat option.txt) notes.txt", "data-option"),
    ("data", "hostile-files", 'for f in b*; do [ -v "a[$f]" ]; done', "data-filename"),
    # 4. wrapper option tables
    ("wrapper", "hostile-files", "echo x | xargs -i sh cat", "shadow-cat"),
    ("wrapper", "hostile-files", "env -S 'sh cat' notes.txt", "shadow-cat"),
    # 5. read-only knowledge gaps
    ("gap", "hostile-files", "sed -n ':a;e tools/run' notes.txt", "repo-tool"),
    ("gap", "hostile-files", "diff3 --diff-program=tools/run notes.txt README.md data.json",
     "repo-tool"),
    ("gap", "hostile-files", "sdiff --diff-program=tools/run notes.txt README.md", "repo-tool"),
    ("gap", "hostile-files", "gawk --fil=lib.awk notes.txt", "code-awk"),
    ("gap", "hostile-files", "gawk '@include \"lib.awk\"' notes.txt", "code-awk"),
    ("gap", "hostile-files", "sed -nfscript.sed notes.txt", "code-sed"),
    ("gap", "hostile-files",
     "gawk 'function f() { system(\"tools/run\") } BEGIN { g = \"f\"; @g() }'", "repo-tool"),
    # 6. environment variables that load config or programs
    ("env", "hostile-files", "RIPGREP_CONFIG_PATH=.ripgreprc rg foo", "ripgreprc-pre"),
    ("env", "hostile-files", f"GIT_TEST_FSMONITOR=tools/run {GIT} status", "repo-tool"),
    ("env", "hostile-files", "GREP=tools/run zgrep foo docs/notes.gz", "repo-tool"),
    ("env", "hostile-files", f"HOME=/workspace {GIT} rev-parse HEAD", "home-trace2-eventtarget"),
    ("env", "hostile-files", "PATH=.:$PATH ls", "shadow-ls"),
    ("env", "hostile-files", "BASH_ENV=tools/run bash -c true", "repo-tool"),
    # 7. globs that become options
    ("glob", "names-sort-output-0", "sort *", "names-sort-output-0"),
    ("glob", "names-sort-output-1", "sort *", "names-sort-output-1"),
    ("glob", "names-git-diff-output-0", f"{GIT} diff *", "names-git-diff-output-0"),
    ("glob", "names-rg-pre-0", "rg foo *", "shadow-cat"),
    ("glob", "names-sed-file-0", "sed -n p *", "names-sed-file-0-code"),
    ("glob", "names-sed-in-place-0", "sed -n 1p *", "names-sed-in-place-0"),
    ("glob", "names-sdiff-output-0", "cd pair && sdiff *", "names-sdiff-output-0"),
]  # fmt: skip

# (fixture, line, the file a write must name): 2. redirections reopen files for writing,
# and tools of the knowledge gaps that write their operands.
WRITES: list[tuple[str, str, str]] = [
    ("plain", "echo x 1<.git/config >/dev/stdout", "/workspace/.git/config"),
    ("plain", "echo x 1<.git/config >>/dev/stdout", "/workspace/.git/config"),
    ("plain", "exec 3<notes.txt; echo x >>/dev/fd/3", "/workspace/notes.txt"),
    ("plain", "echo x 1<notes.txt >/proc/self/fd/1", "/workspace/notes.txt"),
    ("plain", "{ echo x >/dev/fd/4; } 4<README.md", "/workspace/README.md"),
    ("plain", "exec 1<src/app.py; echo x >/dev/stdout", "/workspace/src/app.py"),
    ("plain", "sdiff -o out notes.txt README.md", "/workspace/out"),
    ("plain", "ptx -G notes.txt out", "/workspace/out"),
    ("plain", "gawk -lrwarray 'BEGIN { a[1] = 1; writea(\"out\", a) }'", "/workspace/out"),
]

# Ordinary lines in the hostile fixtures, and known-bad lines in the plain seed: nothing.
CONTROLS: list[tuple[str, str]] = [
    ("plain", f"{GIT} status"),
    ("plain", f"{GIT} log -p -1 notes.txt"),
    ("plain", "echo x >/dev/stdout; echo y 3<notes.txt >/dev/null"),
    ("plain", "RIPGREP_CONFIG_PATH=.ripgreprc rg foo"),
    ("git-config", "cat .git/config .gitattributes"),
    ("git-config", f"{GIT} config --get core.fsmonitor"),
    ("bare-repo", "ls sub vendor/lib.git"),
    ("hostile-files", 'read -r x < payload.txt; echo "$x"'),
    ("hostile-files", "cat vars.txt option.txt; ls -la"),
    ("hostile-files", "rg foo; sed -n p notes.txt; gawk '{ print }' notes.txt"),
    ("hostile-files", "echo x | xargs -i echo {}"),
    ("names-sort-output-0", "sort -- *"),
    ("names-rg-pre-0", "rg foo -- *"),
    ("names-sed-file-0", "sed -n p ./*"),
]


@dataclass(frozen=True)
class Seen:
    judgement: Judgement
    timed_out: bool

    def payloads(self) -> set[str]:
        return {(v.program or "").removeprefix("pwned-") for v in self.judgement.violations
                if v.kind == "payload"}  # fmt: skip

    def writes(self) -> str:
        return " ".join(v.detail for v in self.judgement.violations if v.kind == "write")


@pytest.fixture(scope="module")
def seen() -> dict[tuple[str, str], Seen]:
    cases = sorted({(f, line) for _, f, line, _ in PAYLOADS} | {(f, line) for f, line, _ in WRITES}
                   | set(CONTROLS))  # fmt: skip

    async def body() -> dict[tuple[str, str], Seen]:
        out: dict[tuple[str, str], Seen] = {}
        async with DockerBackend().session(SessionSpec(traced=True)) as session:
            found = await session.exec(["sh", "-c", FIND_REAL_GIT])
            assert found.exit_code == 0, found.stderr
            git = found.stdout.decode().strip()
            oracle = Oracle(session, timeout=20.0)
            await oracle.prepare(sorted({fixture for fixture, _ in cases}))
            for fixture, template in cases:
                line = template.replace(GIT, git)
                observation = await oracle.observe(line, fixture)
                commands = analyze(line, POLICY).commands  # judged as the analyzer lists them
                out[(fixture, template)] = Seen(judge(observation, commands), observation.timed_out)
        return out

    return asyncio.run(body())


def _payload_cases(kind: str) -> list[tuple[str, str, str]]:
    return [(f, line, payload) for k, f, line, payload in PAYLOADS if k == kind]


@pytest.mark.parametrize("kind", ["config", "data", "wrapper", "gap", "env", "glob"])
def test_the_oracle_names_the_payload_each_known_bad_line_runs(
    seen: dict[tuple[str, str], Seen], kind: str
) -> None:
    for fixture, line, payload in _payload_cases(kind):
        result = seen[(fixture, line)]
        assert payload in result.payloads(), (fixture, line, result.judgement.violations)
        assert result.judgement.kinds[0] == "payload"
        assert not result.timed_out, line


def test_reopened_descriptors_and_written_operands_are_writes_to_the_file(
    seen: dict[tuple[str, str], Seen],
) -> None:
    for fixture, line, path in WRITES:
        result = seen[(fixture, line)]
        assert "write" in result.judgement.kinds, (line, result.judgement.violations)
        assert path in result.writes(), (line, result.writes())
        assert "workspace" in result.judgement.kinds, line


def test_ordinary_lines_in_hostile_fixtures_and_bad_lines_in_the_plain_seed_show_nothing(
    seen: dict[tuple[str, str], Seen],
) -> None:
    for fixture, line in CONTROLS:
        result = seen[(fixture, line)]
        assert result.judgement.violations == [], (fixture, line, result.judgement.violations)
        assert not result.timed_out, line
