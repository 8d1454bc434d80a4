"""`airlock doctor`'s probe: start a real session and try what runs and tools rely on.

A runtime being registered says nothing about whether it works: Debian's runsc answers
coreutils' ``statx`` with EINVAL, so a command that runs ``stat`` fails under it while
everything else works. The probe starts a session with an image under a runtime and
checks, in order: the session starts, which exec path it got (the fast in-container agent
needs python3), the user is uid 1000, a file round-trips through /workspace, the tools
airlock's file tools and patches call are there, and coreutils ``stat`` works. With the
agent, a second session with egress says which transport it got and that its proxy
answers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from orchestrator.cli.doctor_report import Check, Health
from sandbox import DockerBackend, ResourceLimits, SandboxError, SessionSpec
from security import NetworkPolicy

PROBE_TIMEOUT = 60.0  # seconds for the whole probe of one image under one runtime
PROBE_LIMITS = ResourceLimits(ttl_seconds=int(PROBE_TIMEOUT) + 30)  # then the reaper's
# What airlock's own tools run in a session (Read, Write, Edit, Grep, Glob and the
# workspace copy): without one of them, that tool fails.
TOOLS = ("sh", "cat", "wc", "head", "tail", "mkdir", "mv", "rm", "find", "rg", "timeout")
PROBE_FILE = "/workspace/.airlock-doctor-probe"
PROBE_BYTES = b"airlock doctor probe\n"
EGRESS_PROBE_ALLOWED = "doctor-probe.invalid"  # the probe's policy allows this alone
# Asks the proxy for another host: refused by name, nothing resolved, nothing sent.
EGRESS_PROBE = """
import urllib.error, urllib.request
try:
    urllib.request.urlopen("http://not-allowed.invalid/", timeout=15)
    print("allowed?")
except urllib.error.HTTPError as exc:
    print(exc.code, "refused" if exc.headers.get("X-Airlock-Egress") else "no reason")
except OSError as exc:
    print("error", exc)
"""


@dataclass
class _Findings:
    """The checks found so far, each named ``<label>: <what>``."""

    label: str
    checks: list[Check] = field(default_factory=list)

    def add(self, what: str, health: Health, detail: str, fix: str = "") -> None:
        name = f"{self.label}: {what}" if self.label else what
        self.checks.append(Check(name=name, health=health, detail=detail, fix=fix))


async def _probe(image: str, runtime: str, found: _Findings) -> None:
    spec = SessionSpec(image=image, runtime=runtime, limits=PROBE_LIMITS)
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


async def _probe_egress(image: str, runtime: str, found: _Findings) -> None:
    """A session with egress: which transport it got, and that its proxy answers (a
    request for a host the policy does not allow: a 403 from the proxy, nothing sent)."""
    spec = SessionSpec(
        image=image,
        runtime=runtime,
        limits=PROBE_LIMITS,
        egress=NetworkPolicy(allow=[EGRESS_PROBE_ALLOWED]),
    )
    async with DockerBackend().session(spec) as session:
        channel = session.channel
        transport = "socket" if channel is not None and channel.bridged_port else "channel"
        asked = await session.exec(["python3", "-c", EGRESS_PROBE], timeout=20)
        answer = asked.stdout.decode(errors="replace").strip()
        works = answer == "403 refused"
        if not works:
            why = answer or asked.error or f"exit {asked.exit_code}"
            found.add(
                "egress", Health.FAIL, f"{transport} transport, no answer from the proxy ({why})"
            )
        elif transport == "socket":
            found.add("egress", Health.OK, "socket transport, the proxy answers")
        else:
            found.add(
                "egress",
                Health.WARN,
                "channel transport (5-10x slower than the socket), the proxy answers",
                "for runsc: scripts/ensure-engine.sh registers it with --host-uds=open",
            )


def probe(image: str, runtime: str, *, required: bool, label: str = "") -> list[Check]:
    """Checks for ``image`` under ``runtime``, named ``<label>: <what>``; a session that
    cannot start is a failure when ``required`` (a default), else a warning."""
    found = _Findings(label)
    try:
        asyncio.run(asyncio.wait_for(_probe(image, runtime, found), PROBE_TIMEOUT))
        if any(
            check.name.endswith("exec path") and check.health == Health.OK for check in found.checks
        ):
            asyncio.run(asyncio.wait_for(_probe_egress(image, runtime, found), PROBE_TIMEOUT))
    except (SandboxError, OSError, TimeoutError) as exc:
        found.add(
            "session",
            Health.FAIL if required else Health.WARN,
            f"cannot start or use a session: {exc or type(exc).__name__}",
            "make setup" if required else "see the detail; airlock doctor --json for scripts",
        )
    return found.checks
