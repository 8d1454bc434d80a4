"""The read-only knowledge base against the real programs in airlock/dev.

The analyzer's tables claim how programs read their arguments. Each test runs the
programs themselves, in one throwaway container without network, and compares:
- wrappers: a probe named like the wrapped command reports what really ran;
- env -S: the words coreutils env makes of each string;
- sed: a script the analyzer passes is accepted by ``sed --sandbox`` (which rejects
  e, w and r), unless it only reads with r/R; one it refuses as running or writing
  is rejected by --sandbox (the danger is real) or by sed itself;
- awk: a program the analyzer passes runs under ``gawk --sandbox`` without tripping it;
- git: the subcommands the analyzer allows leave .git/index and the hooks alone on a
  stale index (with the session's GIT_OPTIONAL_LOCKS=0 and diff.autoRefreshIndex=false),
  while ``git describe --dirty`` and a worktree ``git diff`` without that setting write
  the index and run post-index-change.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import docker
import pytest

from security import Decision, analyze
from security.knowledge.awk import awk_program_problem
from security.knowledge.sed import parse_sed, sed_script_refusal
from security.shell import parse_line
from security.unwrap import inner_argv
from tests.unit.security.test_knowledge import AWK_PROGRAMS, GIT_LINES, SED_SCRIPTS
from tests.unit.security.test_wrappers import ENV_SPLITS, INNER

pytestmark = pytest.mark.integration

# Runs inside the container: reads CASES (JSON) from the environment, prints JSON.
RUNNER = r"""
import json, os, subprocess, sys, tempfile
cases = json.loads(os.environ["CASES"])
out = {}
probe_dir = tempfile.mkdtemp()
probe = os.path.join(probe_dir, "probe.py")
with open(probe, "w") as f:
    f.write("import json, sys\nprint('PROBE ' + json.dumps(sys.argv[1:]))\n")
def env_probe():
    env = dict(os.environ, PATH=probe_dir + ":" + os.environ["PATH"])
    env.pop("CASES")
    return env
def name_probe(name):
    path = os.path.join(probe_dir, name)
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/python3 " + probe + " " + name + " \"$@\"\n")
        os.chmod(path, 0o755)
def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=20, **kw)
if "wrappers" in cases:
    res = []
    os.chdir(tempfile.mkdtemp())
    with open("f", "w") as f:
        f.write("x\n")
    for line, names in cases["wrappers"]:
        for name in names:
            name_probe(name)
        p = run(["bash", "-c", line], input="x\n", env=env_probe())
        ran = [json.loads(l[6:]) for l in p.stdout.splitlines() if l.startswith("PROBE ")]
        res.append(ran)
    out["wrappers"] = res
if "env_splits" in cases:
    res = []
    show = "python3 -c 'import json,sys;print(json.dumps(sys.argv[1:]))' "
    for text in cases["env_splits"]:
        p = run(["env", "-S", show + text])
        res.append(json.loads(p.stdout) if p.returncode == 0 else None)
    out["env_splits"] = res
if "sed" in cases:
    res = []
    for script in cases["sed"]:
        plain = run(["sed", "-n", "-e", script, "/dev/null"]).returncode == 0
        boxed = run(["sed", "--sandbox", "-n", "-e", script, "/dev/null"]).returncode == 0
        res.append([plain, boxed])
    out["sed"] = res
if "awk" in cases:
    res = []
    os.chdir(tempfile.mkdtemp())
    for program in cases["awk"]:
        p = run(["gawk", "--sandbox", program], input="a b 5\nc d 7\n")
        res.append("sandbox" in p.stderr)
    out["awk"] = res
if "git" in cases:
    real = "/usr/lib/airlock/git-guard/git.real"
    git = real if os.path.exists(real) else "git"
    def repo():
        d = tempfile.mkdtemp()
        for cmd in (["init", "-q"], ["config", "user.email", "a@b"], ["config", "user.name", "a"]):
            run([git, *cmd], cwd=d)
        for text in ("one\n", "two\n"):
            with open(os.path.join(d, "f"), "a") as f:
                f.write(text)
            run([git, "add", "f"], cwd=d)
            run([git, "commit", "-qm", text], cwd=d)
        run([git, "tag", "v1"], cwd=d)
        hook = os.path.join(d, ".git", "hooks", "post-index-change")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\ntouch \"$(dirname \"$0\")/../HOOK-RAN\"\n")
        os.chmod(hook, 0o755)
        os.utime(os.path.join(d, "f"), (946684800, 946684800))  # a stale index
        return d
    res = []
    for argv, settings in cases["git"]:
        d = repo()
        index = os.path.join(d, ".git", "index")
        before = os.stat(index).st_mtime_ns, open(index, "rb").read()
        env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
        env.pop("CASES")
        if settings:
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="diff.autoRefreshIndex",
                       GIT_CONFIG_VALUE_0="false")
        run([git if a == "git" else a for a in argv], cwd=d, env=env)
        after = os.stat(index).st_mtime_ns, open(index, "rb").read()
        res.append([before != after, os.path.exists(os.path.join(d, ".git", "HOOK-RAN"))])
    out["git"] = res
print(json.dumps(out))
"""


def run_cases(client: docker.DockerClient, cases: dict[str, object]) -> dict[str, list[Any]]:
    output: bytes = client.containers.run(
        "airlock/dev",
        ["python3", "-c", RUNNER],
        environment={"CASES": json.dumps(cases)},
        network_mode="none",
        remove=True,
    )
    result: dict[str, list[Any]] = json.loads(output.decode().strip().splitlines()[-1])
    return result


# Wrapper lines that run in bash as written; not `builtin echo` (bash's own echo), nor
# those that search another PATH than the probes' (`command -p`, env -i and `env -`).
_OTHER_PATH = ("builtin", "command -p", "env -i", "env - ", "env -S'-i")
WRAPPERS = [(line, expected) for line, expected in INNER if not line.startswith(_OTHER_PATH)]


def test_wrappers_run_what_the_analyzer_finds(docker_client: docker.DockerClient) -> None:
    names = sorted({e[0] for _, e in WRAPPERS if e} | {"sh"})
    ran = run_cases(docker_client, {"wrappers": [(line, names) for line, _ in WRAPPERS]})
    for (line, expected), runs in zip(WRAPPERS, ran["wrappers"], strict=True):
        assert isinstance(runs, list)
        if expected is None:
            assert runs == [], line
            continue
        assert runs, f"{line}: nothing ran, the analyzer expected {expected}"
        argv = runs[0]
        assert argv[0] == expected[0], (line, argv)
        fixed = [a for a in expected[1:] if "{}" not in a]
        assert argv[1 : 1 + len(fixed)] == fixed, (line, argv)
        command = parse_line(line).commands[0]
        assert [w.value for w in inner_argv(command)[0] or []] == expected


def test_env_split_string_matches_coreutils(docker_client: docker.DockerClient) -> None:
    texts = [text for text, _ in ENV_SPLITS]
    got = run_cases(docker_client, {"env_splits": texts})["env_splits"]
    for (text, expected), real in zip(ENV_SPLITS, got, strict=True):
        assert real == expected, text


# Scripts beyond the table: fragments combined the ways a script can hide a command.
_FRAGMENTS = ["p", ":a", "b a", "e id", "w x", "s/a/b/", "s/a/b/e", "y/a/b/", "1", "$", "/x/",
              "\\%x%", "!", "{", "}", ";", "\n", " ", "a t", "r x", "#c", "v", "s/[/]/b/",
              "l 5", "q1", "s|a|b|w x"]  # fmt: skip


def _generated_scripts(count: int) -> list[str]:
    scripts = []
    state = 7
    for _ in range(count):
        parts = []
        for _ in range(1 + state % 5):
            state = (state * 1103515245 + 12345) % 2**31
            parts.append(_FRAGMENTS[state % len(_FRAGMENTS)])
        scripts.append("".join(parts))
    return scripts


def _reads(script: str) -> bool:
    return any(c.name in ("r", "R") for c in parse_sed(script))


def test_sed_scripts_against_sed_sandbox(docker_client: docker.DockerClient) -> None:
    scripts = [s for s, _ in SED_SCRIPTS] + _generated_scripts(400)
    got = run_cases(docker_client, {"sed": scripts})["sed"]
    for script, (plain, boxed) in zip(scripts, got, strict=True):
        refusal = sed_script_refusal(script)
        if refusal is None:
            # passed as read-only: sed --sandbox (no e, w, r) accepts it, unless it reads
            assert boxed or not plain or _reads(script), script
        elif refusal[1] in ("runs", "writes") and plain:
            assert not boxed, (script, refusal)  # the e or w the analyzer saw is real


def test_awk_programs_allowed_stay_in_gawk_sandbox(docker_client: docker.DockerClient) -> None:
    programs = [p for p, _ in AWK_PROGRAMS]
    tripped = run_cases(docker_client, {"awk": programs})["awk"]
    for (program, refused), trips in zip(AWK_PROGRAMS, tripped, strict=True):
        if not refused:
            assert awk_program_problem(program) is None
            assert not trips, program


def test_allowed_git_lines_leave_the_index_alone(docker_client: docker.DockerClient) -> None:
    allowed = [line for line, ok in GIT_LINES if ok and "--help" not in line]
    assert all(analyze(line).decision is Decision.ALLOW for line in allowed)
    # (argv, the session's diff.autoRefreshIndex=false set) -> must write the index
    writers: list[tuple[list[str], bool]] = [
        (["git", "describe", "--dirty"], True),  # so the analyzer refuses it
        (["git", "diff"], False),  # so the session must set diff.autoRefreshIndex=false
        (["git", "diff", "--stat"], False),
    ]
    cases = [(shlex.split(line), True) for line in allowed] + writers
    got = run_cases(docker_client, {"git": cases})["git"]
    for (argv, _), result in zip(cases, got, strict=True):
        wrote, hook = result
        must_write = (argv, _) in writers
        assert (wrote, hook) == (must_write, must_write), argv
    assert analyze("git describe --dirty").decision is not Decision.ALLOW
