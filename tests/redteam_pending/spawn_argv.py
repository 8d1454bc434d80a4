# ruff: noqa: E501  (in-container probes read best on one line)
"""Red team of the setpriv/env spawn (`sandbox/user_helper.py`): does every argv, env and
cwd reach the command exactly, and does the root-side pre-check tell a command more than
its own exec would?

Exactness: a dumper (python3, reading /proc/self/cmdline and /proc/self/environ, which
PEP 538's locale coercion does not touch) is run with arguments and environment names
that env or setpriv could read as options (``--``, ``-i``, ``-C``, ``-u``, ``-S``,
``--default-signal``), values with newlines and ``=``, empty strings, an argv[0] that
begins with ``-`` (an executable named ``-i`` and ``--`` on ``PATH``), and working
directories named ``-i``, ``--`` and with a newline. Broken when anything differs.

Oracle: ``_findable`` stats argv[0] as root before the spawn. For a path under a folder
uid 1000 cannot search (/run/airlock-egress, root 0700), an existing name is spawned
(env: "Permission denied", exit 126) and a missing one refused by the agent (exit 127,
"No such file or directory"); a fork, which searches as the user, says EACCES for both.
Counted as broken when the two answers differ (a root-side existence oracle). Fixed
2026-12-07: the agent now looks as the user (`UserHelper.spawn` under `owning()`).

A file without ``#!`` runs through ``/bin/sh`` under env (glibc's ``execvp``) and is
refused by the fork path (Python's): printed, accepted by design (it runs as the user).

Run: .venv/bin/python -m tests.redteam_pending.spawn_argv
Exit 1 while broken.
"""

from __future__ import annotations

import asyncio
import json
import sys

from sandbox import DockerBackend, SessionSpec

DUMP = r"""
import json, os, sys
argv = open('/proc/self/cmdline','rb').read().split(b'\0')[:-1]
env = [e.decode('utf-8','surrogateescape') for e in open('/proc/self/environ','rb').read().split(b'\0')[:-1]]
print(json.dumps({'argv': [a.decode('utf-8','surrogateescape') for a in argv], 'env': env, 'cwd': os.getcwd(), 'uid': os.getuid(), 'groups': os.getgroups()}))
"""
TRICKY = [
    "--",
    "-i",
    "-C",
    "/",
    "-u",
    "PATH",
    "-S",
    "echo PWNED",
    "A=B",
    "--default-signal",
    "line1\nline2",
    "",
    " ",
    "-",
    "=",
    "-0",
    "--chdir=/root",
    "-vS",
]
TRICKY_ENV = {
    "-i": "1",
    "-u": "PATH",
    "--": "x",
    "-S": "echo PWNED",
    "-C": "/",
    "NL": "a\nb=c\n-i",
    "EMPTY": "",
    "LD_PRELOAD": "/workspace/none.so",
    "POSIXLY_CORRECT": "1",
    "X Y": "sp",
    "é": "ü",
}
SETUP = r"""
import os
os.makedirs('/workspace/bin', exist_ok=True)
for name in ['-i', '--', '-C', '-S']:
    p = '/workspace/bin/' + name
    with open(p, 'w') as f:
        f.write('#!/usr/bin/python3\nexec(open("/workspace/dump.py").read())\n')
    os.chmod(p, 0o755)
open('/workspace/dump.py', 'w').write(DUMP)
for d in ['-i', '--', 'a\nb', '-C']:
    os.makedirs('/workspace/' + d, exist_ok=True)
print('ok')
""".replace("DUMP", repr(DUMP))


async def main() -> int:
    spec = SessionSpec(image="airlock/dev", runtime="runc")
    broken: list[str] = []
    async with DockerBackend().session(spec) as s:
        print("spawns_through", s.channel.spawns_through)
        r = await s.exec(["python3", "-c", SETUP], timeout=30)
        print("setup", r.exit_code, r.stdout, r.stderr)
        path = "/workspace/bin:/usr/local/bin:/usr/bin:/bin"
        cases: list[tuple[list[str], dict[str, str], str | None]] = [
            (["python3", "-c", DUMP, *TRICKY], {}, None),
            (["python3", "-c", DUMP, *TRICKY], TRICKY_ENV, "/workspace/-i"),
            (["-i", *TRICKY], {"PATH": path, **TRICKY_ENV}, "/workspace/--"),
            (["--", "-i", "--"], {"PATH": path}, "/workspace/a\nb"),
            (["-C", "/root"], {"PATH": path}, "/workspace/-C"),
            (["-S", "-i"], {"PATH": path, "-i": "-i"}, "-i"),  # a relative cwd: the agent's own
        ]
        for argv, env, cwd in cases:
            r = await s.exec(argv, env=env, cwd=cwd, timeout=30)
            try:
                got = json.loads(r.stdout)
            except ValueError:
                print(
                    "CASE",
                    argv[:1],
                    cwd,
                    "->",
                    r.exit_code,
                    r.stdout[:200],
                    r.stderr[:300],
                    r.error,
                )
                if cwd != "-i":
                    broken.append(f"no dump for {argv[:1]} {cwd!r}")
                continue
            names = {e.split("=", 1)[0]: e.split("=", 1)[1] for e in got["env"]}
            diffs = []
            if got["argv"][-len(argv) + 1 :] != argv[1:] and len(argv) > 1:
                diffs.append(f"argv {got['argv']!r}")
            for k, v in env.items():
                if names.get(k) != v:
                    diffs.append(f"env {k!r}={names.get(k)!r} wanted {v!r}")
            if cwd and cwd.startswith("/") and got["cwd"] != cwd:
                diffs.append(f"cwd {got['cwd']!r}")
            if got["uid"] != 1000 or got["groups"]:
                diffs.append(f"ids {got['uid']} {got['groups']}")
            print(
                "CASE",
                argv[:1],
                repr(cwd),
                "exit",
                r.exit_code,
                "diffs",
                diffs or "none",
                "cwd",
                got["cwd"],
            )
            broken.extend(diffs)
        # a file with the execute bit and no #!: execve says ENOEXEC (Python's execvpe, the
        # fork path, reports "Exec format error"); glibc's execvp, which GNU env calls,
        # runs it with /bin/sh instead
        await s.exec(
            [
                "python3",
                "-c",
                "import os; open('/workspace/noshebang','w').write('echo RAN-BY-SH $0\\n'); os.chmod('/workspace/noshebang', 0o755)",
            ],
            timeout=30,
        )
        r = await s.exec(["/workspace/noshebang"], timeout=30)
        print(
            "NOSHEBANG ->",
            r.exit_code,
            r.stdout,
            (r.error or r.stderr.decode(errors="replace"))[:120],
        )
        # the same file through the fork path (an argv[0] with "=" is never given to env)
        await s.exec(["cp", "/workspace/noshebang", "/workspace/fork=path"], timeout=30)
        control = await s.exec(["/workspace/fork=path"], timeout=30)
        print(
            "NOSHEBANG via fork ->", control.exit_code, control.stdout, (control.error or "")[:120]
        )
        if b"RAN-BY-SH" in r.stdout:  # accepted: documented in UserHelper.accepts
            print("DIFFERS BY DESIGN: a file without #! runs through /bin/sh, as a shell runs it")
        # the root-side existence oracle
        answers = {}
        for target in [
            "/run/airlock-egress/handoff.sock",
            "/run/airlock-egress/no-such-name",
            "/root/.bashrc",
            "/root/no-such-name",
        ]:
            r = await s.exec([target], timeout=30)
            answers[target] = (
                r.exit_code,
                (r.error or r.stderr.decode(errors="replace")).strip()[:120],
            )
            print("ORACLE", target, "->", answers[target])
        for a, b in [
            ("/run/airlock-egress/handoff.sock", "/run/airlock-egress/no-such-name"),
            ("/root/.bashrc", "/root/no-such-name"),
        ]:
            if answers[a][0] != answers[b][0]:
                broken.append(f"existence oracle: {a} vs {b}: {answers[a]} / {answers[b]}")
        # PATH entries in a folder root alone may search
        for name in ["handoff.sock", "no-such-name"]:
            r = await s.exec([name], env={"PATH": "/run/airlock-egress"}, timeout=30)
            print(
                "ORACLE PATH",
                name,
                "->",
                r.exit_code,
                (r.error or r.stderr.decode(errors="replace")).strip()[:120],
            )
    print("BROKEN:" if broken else "HELD", *broken, sep="\n  ")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
