"""A hostile repository in a real airlock/dev session (issue 12, classes 1, 9 and 11).

- Every payload of `hostile_repo_cases` stays inert under the image's git guard while
  the read-only command still does its job; the same command under the real git binary
  runs the payload (the control: the fixture is live, so these tests can fail).
- The guard refuses a repository with a key it cannot neutralize or does not know.
- The copy-in strips credentials, and the agent cannot change, replace, rename or delete
  the workspace's .git/config and .git/hooks; ordinary git work still succeeds.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.spec import SessionSpec
from tests.integration.hostile_repo_cases import (
    CLONE_CASE,
    MARKER_DIR,
    REFUSED_KEYS,
    Case,
    build_hostile_repo,
    build_refused_repo,
)

pytestmark = pytest.mark.integration

IMAGE = os.environ.get("AIRLOCK_TEST_DEV_IMAGE", "airlock/dev")
WORKSPACE = "/workspace"
REAL_GIT = "/usr/lib/airlock/git-guard/git.real"
# The control runs the real binary, and its own git subprocesses too (an exec path whose
# `git` and git-<builtin> links are the real binary, not the guard).
REAL_EXEC_PATH = "/tmp/real-git-exec"
CONTROL_SETUP = f"""set -e
mkdir -p {REAL_EXEC_PATH}
for f in /usr/lib/git-core/*; do
  b=$(basename "$f")
  if [ "$b" = git ] || [ "$(readlink "$f")" = git ]; then ln -s {REAL_GIT} {REAL_EXEC_PATH}/$b
  else ln -s "$f" {REAL_EXEC_PATH}/$b; fi
done
cp -a {WORKSPACE} /tmp/pristine
"""
TOKEN = "ghs_airlockTestToken0123456789"  # noqa: S105 (a fake token the test plants)


def in_session(runtime: str, body: Callable[[DockerSession], Awaitable[None]]) -> None:
    async def main() -> None:
        async with DockerBackend().session(SessionSpec(image=IMAGE, runtime=runtime)) as s:
            await body(s)

    asyncio.run(main())


@pytest.fixture(params=["runc", "runsc"])
def runtime(request: pytest.FixtureRequest, runtimes: list[str]) -> str:
    if request.param not in runtimes:
        pytest.skip(f"the engine has no {request.param} runtime")
    return str(request.param)


async def _sh(s: DockerSession, script: str, cwd: str = WORKSPACE) -> tuple[int, str]:
    result = await s.exec(script, cwd=cwd, timeout=120)
    return result.exit_code or 0, result.stdout.decode(errors="replace") + result.stderr.decode(
        errors="replace"
    )


async def _marker(s: DockerSession, case: Case) -> bool:
    code, _ = await _sh(s, f"test -e {case.marker()}")
    return code == 0


async def _check_case(s: DockerSession, index: int, case: Case) -> list[str]:
    """The guarded run leaves no marker and does its job; the real git's run leaves one."""
    problems = []
    command = case.command.replace("{home}", WORKSPACE)
    cwd = f"{WORKSPACE}/{case.cwd}".rstrip("/")
    await _sh(s, f"rm -rf {MARKER_DIR}")
    _, output = await _sh(s, command, cwd)
    if await _marker(s, case):
        problems.append(f"{case.note}: `{command}` ran the payload under the guard")
    if case.expect not in output:
        problems.append(f"{case.note}: `{command}` did not print {case.expect!r}: {output!r}")
    control = f"/tmp/control-{index}"
    await _sh(s, f"rm -rf {MARKER_DIR} && cp -a /tmp/pristine {control}")
    real = command.replace(WORKSPACE, control)
    env = f"export GIT_EXEC_PATH={REAL_EXEC_PATH} PATH={REAL_EXEC_PATH}:$PATH"
    await _sh(s, f"{env}; {real}", cwd.replace(WORKSPACE, control))
    if not await _marker(s, case):
        problems.append(f"{case.note}: the control (real git) did not run the payload")
    return problems


def test_hostile_repository_payloads_do_not_run(tmp_path: Path, runtime: str) -> None:
    cases = build_hostile_repo(tmp_path / "hostile", home=WORKSPACE)

    async def body(s: DockerSession) -> None:
        await s.put_dir(tmp_path / "hostile", WORKSPACE)
        code, output = await _sh(s, CONTROL_SETUP)
        assert code == 0, output
        problems: list[str] = []
        for index, case in enumerate([*cases, CLONE_CASE]):
            problems += await _check_case(s, index, case)
        assert not problems, "\n".join(problems)

    in_session(runtime, body)


def test_keys_the_guard_cannot_neutralize_refuse_the_repository(tmp_path: Path) -> None:
    root = tmp_path / "refused"
    for index, (key, value) in enumerate(REFUSED_KEYS.items()):
        build_refused_repo(root / f"r{index}", key, value.replace("{home}", WORKSPACE))
    build_hostile_repo(tmp_path / "payloads")  # only for its payload scripts
    shutil.copytree(tmp_path / "payloads" / ".payloads", root / ".payloads")

    async def body(s: DockerSession) -> None:
        await s.put_dir(root, WORKSPACE)
        for index, key in enumerate(REFUSED_KEYS):
            code, output = await _sh(s, f"git -C r{index} status")
            assert code == 128, (key, output)
            assert "airlock guard" in output and key in output, output
        # the first one names a program: the real git runs it, the guard did not
        marker = f"{MARKER_DIR}/uploadpack"
        code, output = await _sh(s, f"git -C r0 ls-remote origin; test -e {marker}")
        assert code != 0, f"the guard ran remote.origin.uploadpack: {output}"
        code, output = await _sh(s, f"{REAL_GIT} -C r0 ls-remote origin; test -e {marker}")
        assert code == 0, f"the control did not run the payload: {output}"

    in_session("runc", body)


def _token_repo(path: Path) -> Path:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)

    path.mkdir()
    git("init", "-q", "-b", "main")
    (path / "a.txt").write_text("a\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    git("config", "http.https://github.com/.extraheader", f"AUTHORIZATION: basic {TOKEN}")
    git("config", "remote.origin.url", f"https://x-access-token:{TOKEN}@github.com/o/r.git")
    git("config", "credential.helper", f"store --file=/tmp/{TOKEN}")
    (path / ".git" / ".git-credentials").write_text(f"https://u:{TOKEN}@github.com\n")
    (path / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    return path


# Each line tries to change the protected git setup as the agent; every one must fail.
TAMPERING = {
    "append to config": "open('.git/config', 'a').write('[core]\\n\\tfsmonitor = x\\n')",
    "truncate config": "open('.git/config', 'w')",
    "rename config": "os.rename('.git/config', '.git/config-old')",
    "delete config": "os.unlink('.git/config')",
    "chmod config": "os.chmod('.git/config', 0o666)",
    "add a hook": "open('.git/hooks/post-index-change', 'w').write('x')",
    "change a hook": "open('.git/hooks/pre-commit', 'a').write('x')",
    "delete a hook": "os.unlink('.git/hooks/pre-commit')",
    "rename hooks": "os.rename('.git/hooks', '.git/hooks-old')",
    "rename .git": "os.rename('.git', '.git-old')",
    "replace the config by renaming over it": (
        "open('.git/new', 'w').write('[core]\\n\\tfsmonitor = x\\n'); "
        "os.rename('.git/new', '.git/config')"
    ),
}
# gVisor does not apply the sticky bit to the target of a rename (Linux does): under runsc
# the agent can rename its own file over .git/config. The git guard still neutralizes what
# that file configures (asserted below), and the patch never includes .git.
GVISOR_STICKY_RENAME_GAP = {"replace the config by renaming over it"}
ORDINARY_GIT_WORK = """set -e
export GIT_AUTHOR_NAME=agent GIT_AUTHOR_EMAIL=agent@airlock.invalid
export GIT_COMMITTER_NAME=agent GIT_COMMITTER_EMAIL=agent@airlock.invalid
echo b > b.txt && git add b.txt && git commit -q -m two
git checkout -q -b feature && echo c > c.txt && git add c.txt && git commit -q -m three
git checkout -q main && git merge -q --no-edit feature && git branch -q -d feature
echo d >> a.txt && git stash -q && git stash pop -q && git checkout -- a.txt
mkdir own && echo x > own/f && mv own own2 && rm -r own2
git log --oneline | wc -l
"""


def test_the_agent_cannot_change_the_git_setup_and_credentials_are_gone(
    tmp_path: Path, runtime: str
) -> None:
    repo = _token_repo(tmp_path / "repo")

    async def body(s: DockerSession) -> None:
        seeded = await s.put_dir(repo, WORKSPACE)
        assert seeded is not None and ".git/config" in seeded.protected
        assert all(TOKEN not in note for note in seeded.stripped), seeded.stripped
        assert any("extraheader" in note for note in seeded.stripped), seeded.stripped
        code, output = await _sh(s, f"git config --list; grep -r -l {TOKEN} .git; true")
        assert TOKEN not in output, output
        assert "github.com/o/r.git" in output, output  # the URL stays, without userinfo
        before = (await s.exec(["cat", ".git/config"])).stdout
        succeeded = []
        for what, attempt in TAMPERING.items():
            if runtime == "runsc" and what in GVISOR_STICKY_RENAME_GAP:
                continue
            code, _ = await _sh(s, f"python3 -c {shlex.quote('import os; ' + attempt)}")
            if code == 0:
                succeeded.append(what)
        assert not succeeded, f"the agent could: {succeeded}"
        assert (await s.exec(["cat", ".git/config"])).stdout == before
        owners = (
            'python3 -c "import os; [print(os.stat(p).st_uid, oct(os.stat(p).st_mode)[-4:]) '
            "for p in ('.git/config', '.git/hooks', '.git', '.')]\""
        )
        code, output = await _sh(s, owners)
        assert output.split() == ["0", "0644", "0", "0755", "0", "1777", "0", "1777"], output
        code, output = await _sh(s, ORDINARY_GIT_WORK)
        # `git branch -d` warns that it cannot drop the branch's config section: expected
        assert code == 0 and output.split()[0] == "3", output
        plant = (
            "printf '#!/bin/sh\\ntouch /tmp/planted\\nexit 1\\n' > /tmp/p && chmod +x /tmp/p"
            " && git config --local core.fsmonitor /tmp/p"
        )
        code, output = await _sh(s, plant)
        if runtime == "runsc":  # the rename-over gap above: git's own config write succeeds
            code, output = await _sh(
                s, "echo e >> a.txt; git status --short; test ! -e /tmp/planted"
            )
            assert code == 0 and "a.txt" in output, f"the guard ran the planted fsmonitor: {output}"
            await _sh(s, "git checkout -- a.txt")
        else:
            assert code != 0 and before == (await s.exec(["cat", ".git/config"])).stdout, output
        child = await s.fork()
        try:
            owner = "python3 -c \"import os; print(os.stat('.git/config').st_uid)\""
            code, output = await _sh(child, f"git log --oneline | wc -l; {owner}")
            assert output.split() == ["3", "0"], output
        finally:
            await child.close()
        out = tmp_path / "out"
        await s.get_dir(WORKSPACE, out)
        assert (out / "b.txt").read_text() == "b\n"

    in_session(runtime, body)


def test_an_fsmonitor_the_agent_plants_does_not_run(tmp_path: Path, runtime: str) -> None:
    """Where the agent can write a git config (its own clone, or a gVisor rename-over), the
    guard still neutralizes it."""
    repo = _token_repo(tmp_path / "repo")

    async def body(s: DockerSession) -> None:
        await s.put_dir(repo, WORKSPACE)
        planted = (
            "printf '#!/bin/sh\\ntouch /tmp/planted\\nexit 1\\n' > /tmp/p && chmod +x /tmp/p && "
            "git clone -q . /tmp/clone && echo x >> /tmp/clone/a.txt && "
            "printf '[core]\\n\\tfsmonitor = /tmp/p\\n' >> /tmp/clone/.git/config && "
            "git -C /tmp/clone status --short && test ! -e /tmp/planted"
        )
        code, output = await _sh(s, planted)
        assert code == 0 and "a.txt" in output, output
        code, output = await _sh(s, f"{REAL_GIT} -C /tmp/clone status; test -e /tmp/planted")
        assert code == 0, f"the control did not run the planted fsmonitor: {output}"

    in_session(runtime, body)


STALE_INDEX = """
git init -q -b main /tmp/stale && cd /tmp/stale
git config user.email t@example.invalid && git config user.name t
for i in 1 2 3 4 5; do echo $i > f$i; done
git add -A && git commit -qm one
sleep 1.1 && touch f1 f2 f3 f4 f5   # stat-dirty, content unchanged: a stale index
"""
REAL_GIT = "/usr/lib/airlock/git-guard/git.real"


def test_a_read_only_diff_leaves_a_stale_index_alone() -> None:
    """`git diff` refreshes a stale index and writes .git/index (GIT_OPTIONAL_LOCKS=0 does
    not stop it); the guard sets diff.autoRefreshIndex=false, so it writes nothing."""

    async def body(s: DockerSession) -> None:
        code, out = await _sh(s, STALE_INDEX)
        assert code == 0, out
        digest = "sha256sum /tmp/stale/.git/index"
        before = await _sh(s, digest)
        for line in ("git diff", "git diff --stat", "git diff HEAD -- f1"):
            code, out = await _sh(s, line, cwd="/tmp/stale")
            assert code == 0 and "f1" not in out, (line, out)  # no content changed
            assert await _sh(s, digest) == before, line
        # control: the real git, past the guard, rewrites the index
        code, out = await _sh(s, f"{REAL_GIT} diff", cwd="/tmp/stale")
        assert code == 0, out
        assert await _sh(s, digest) != before

    in_session("runc", body)
