"""`airlock exec --server URL`: the same command, run by an `airlock serve` instead of
this machine's engine (`orchestrator.client`).

A session is started with the image, runtime, preset and hosts asked, the line runs in
it as the service judges it (the session's policy, nobody to confirm), its output is
copied to ours as it comes, and the session is deleted. The exit codes are `airlock
exec`'s: the command's own, 124 timed out, 125 the service or the sandbox failed, 126
refused, 128+N killed by signal N (137 out of memory), 64 usage (a token the service
does not know or that may not run, a body it refuses).
"""

from __future__ import annotations

import os
import stat
import sys
from typing import Any

from orchestrator.cli.exit_codes import ExitCode
from orchestrator.events.safe_text import visible

SIGKILL = 9


def execute_remote(
    server: str,
    token: str,
    line: str,
    *,
    image: str,
    runtime: str,
    policy: str,
    allow_hosts: list[str],
    timeout: float | None,
) -> int:
    """Run ``line`` through the service at ``server``; our exit code."""
    from orchestrator.cli.exec_command import Sink
    from orchestrator.client import AirlockClient, ServiceError

    _say_stdin_stays()
    out, err = Sink(sys.stdout), Sink(sys.stderr)
    final: dict[str, Any] | None = None
    try:
        with AirlockClient(server, token) as client:
            session = client.create_session(image, runtime, policy, allow_hosts)
            try:
                for event in client.exec(session, line, timeout):
                    if event.kind == "output":
                        (out if event.data.get("stream") == "stdout" else err).write(event.output)
                    elif event.kind == "truncated":
                        limit = event.data.get("max_output_bytes")
                        _note(f"the service kept the first {limit} bytes of output only")
                    elif event.kind == "exit":
                        final = event.data
            finally:
                out.end()
                err.end()
                client.delete_session(session)
    except ServiceError as exc:
        if exc.status:
            _note(f"the service at {server} answered {exc}")
        else:
            _note(f"no answer from the service at {server}: {exc.detail}")
        return ExitCode.USAGE if exc.status in (401, 403, 422) else ExitCode.SANDBOX_ERROR
    if final is None:
        _note("the service's stream ended before the command's exit")
        return ExitCode.SANDBOX_ERROR
    return _exit_code(final)


def _exit_code(final: dict[str, Any]) -> int:
    status = final.get("status")
    if status == "refused":
        verdict = final.get("verdict") or {}
        _note(f"refused ({verdict.get('decision')}, policy {verdict.get('policy')})")
        for finding in verdict.get("findings", []):
            sys.stderr.write(visible(
                f"  {finding.get('check')} {finding.get('title')}: {finding.get('detail')}"
            ) + "\n")  # fmt: skip
        return ExitCode.REFUSED
    if status == "timed_out":
        return ExitCode.TIMED_OUT
    if status == "oom_killed":
        _note("the command ran out of memory")
        return ExitCode.SIGNALLED + SIGKILL
    if status == "killed" and isinstance(final.get("signal"), int):
        return ExitCode.SIGNALLED + int(final["signal"])
    if status == "exited" and isinstance(final.get("exit_code"), int):
        return int(final["exit_code"])
    _note(f"the command did not run to its end: {final.get('error') or status}")
    return ExitCode.SANDBOX_ERROR


def _note(message: str) -> None:
    sys.stderr.write(f"airlock: {visible(message)}\n")


def _say_stdin_stays() -> None:
    """stdin is not sent to a service: say so when there is some to lose."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return
    if stat.S_ISFIFO(mode) or (stat.S_ISREG(mode) and os.fstat(sys.stdin.fileno()).st_size):
        _note("--server does not forward stdin: the command reads none")
