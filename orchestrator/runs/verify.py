"""A run's success criterion: ``--verify CMD`` must exit 0 in the final workspace.

The command passes the same gate as the agent's own Bash calls (a policy that would
refuse it to the agent refuses it here), then runs in the session after the loop ends.
Its answer is recorded in the audit log and the summary.
"""

from __future__ import annotations

from pydantic import BaseModel

from orchestrator.events.bus import EventBus
from orchestrator.events.models import VerifyEvent
from orchestrator.gate.permission_gate import PermissionGate
from orchestrator.tools.bash import Bash
from sandbox import Session

OUTPUT_TAIL = 4000  # characters of the command's output kept in the summary


class Verification(BaseModel):
    """What ``--verify`` found."""

    command: str
    allowed: bool
    exit_code: int | None = None
    timed_out: bool = False
    reason: str = ""
    output_tail: str = ""

    @property
    def passed(self) -> bool:
        return self.allowed and self.exit_code == 0 and not self.timed_out


async def verify(
    command: str,
    session: Session,
    gate: PermissionGate,
    bus: EventBus,
    session_id: str,
    timeout: float,
) -> Verification:
    """Judge ``command`` like a Bash call, run it in ``session`` if allowed; publish it."""
    tool = Bash()
    judged = await gate.check(tool, tool.parse({"command": command}))
    if not judged.allowed:
        found = Verification(command=command, allowed=False, reason=judged.refusal())
    else:
        result = await session.exec(command, timeout=timeout, cwd=session.spec.workdir)
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        reason = result.error or ("timed out" if result.timed_out else "")
        found = Verification(command=command, allowed=True, exit_code=result.exit_code,
                             timed_out=result.timed_out, reason=reason,
                             output_tail=output[-OUTPUT_TAIL:])  # fmt: skip
    bus.publish(
        VerifyEvent(
            session_id=session_id,
            agent="verify",
            command=command,
            allowed=found.allowed,
            exit_code=found.exit_code,
            passed=found.passed,
            reason=found.reason[:500],
        )
    )
    return found
