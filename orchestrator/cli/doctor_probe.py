"""`airlock doctor`'s probe: start a real session and try what runs and tools rely on.

A runtime being registered says nothing about whether it works: Debian's runsc answers
coreutils' ``statx`` with EINVAL, so a command that runs ``stat`` fails under it while
everything else works. The probe starts a session with an image under a runtime and
checks, in order: the session starts, which exec path it got (the fast in-container agent
needs python3), the user is uid 1000, a file round-trips through /workspace, the tools
airlock's file tools and patches call are there, and coreutils ``stat`` works.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from orchestrator.cli.doctor_report import Check, Health
from sandbox import DockerBackend, SandboxError, SessionSpec

PROBE_TIMEOUT = 60.0  # seconds for the whole probe of one image under one runtime
# What airlock's own tools run in a session (Read, Write, Edit, Grep, Glob and the
# workspace copy): without one of them, that tool fails.
TOOLS = ("sh", "cat", "wc", "head", "tail", "mkdir", "mv", "rm", "find", "rg", "timeout")
PROBE_FILE = "/workspace/.airlock-doctor-probe"
PROBE_BYTES = b"airlock doctor probe\n"


@dataclass
class _Findings:
    """The checks found so far, each named ``<label>: <what>``."""

    label: str
    checks: list[Check] = field(default_factory=list)

    def add(self, what: str, health: Health, detail: str, fix: str = "") -> None:
        name = f"{self.label}: {what}" if self.label else what
        self.checks.append(Check(name=name, health=health, detail=detail, fix=fix))


async def _probe(image: str, runtime: str, found: _Findings) -> None:
    spec = SessionSpec(image=image, runtime=runtime, ttl_s=int(PROBE_TIMEOUT) + 30)
    async with DockerBackend().session(spec) as session:
        fast = bool(getattr(session, "uses_agent", False))
        found.add(
            "exec path",
            Health.OK if fast else Health.WARN,
            "the in-container agent (python3)"
            if fast
            else "a docker exec per command, tens of ms each (no python3 in the image)",
            "" if fast else "add python3 (3.8 or newer) to the image",
        )
        uid = await session.exec(["id", "-u"], timeout=10)
        uid_text = uid.stdout.decode(errors="replace").strip()
        found.add(
            "user",
            Health.OK if uid_text == "1000" else Health.FAIL,
            f"uid {uid_text or '?'}",
            "" if uid_text == "1000" else "the image must let uid 1000 run its tools",
        )
        await session.put_file(PROBE_FILE, PROBE_BYTES)
        back = await session.get_file(PROBE_FILE)
        found.add(
            "/workspace",
            Health.OK if back == PROBE_BYTES else Health.FAIL,
            "a file written and read back" if back == PROBE_BYTES else "read back differs",
        )
        missing = []
        for tool in TOOLS:
            # each name alone, as an argv: nothing here is parsed by a shell
            result = await session.exec(["sh", "-c", 'command -v "$1"', "sh", tool], timeout=10)
            if result.exit_code != 0:
                missing.append(tool)
        found.add(
            "tools",
            Health.WARN if missing else Health.OK,
            f"missing {', '.join(missing)}" if missing else f"{', '.join(TOOLS)} found",
            "build the image FROM airlock/dev, or add coreutils, findutils and ripgrep"
            if missing
            else "",
        )
        stat = await session.exec(["stat", "-c", "%s", PROBE_FILE], timeout=10)
        if stat.exit_code == 0:
            found.add("coreutils stat", Health.OK, "works")
        else:
            lines = stat.stderr.decode(errors="replace").strip().splitlines()
            why = lines[-1].rsplit(": ", 1)[-1] if lines else f"exit {stat.exit_code}"
            found.add(
                "coreutils stat",
                Health.WARN,
                f"fails ({why}): commands that run stat fail here; airlock's own file "
                "tools do not use it",
                "a newer runsc answers statx" if runtime == "runsc" else "",
            )


def probe(image: str, runtime: str, *, required: bool, label: str = "") -> list[Check]:
    """Checks for ``image`` under ``runtime``, named ``<label>: <what>``; a session that
    cannot start is a failure when ``required`` (a default), else a warning."""
    found = _Findings(label)
    try:
        asyncio.run(asyncio.wait_for(_probe(image, runtime, found), PROBE_TIMEOUT))
    except (SandboxError, OSError, TimeoutError) as exc:
        found.add(
            "session",
            Health.FAIL if required else Health.WARN,
            f"cannot start or use a session: {exc or type(exc).__name__}",
            "make setup" if required else "see the detail; airlock doctor --json for scripts",
        )
    return found.checks
