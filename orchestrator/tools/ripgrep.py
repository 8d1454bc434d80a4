"""Running ripgrep in the session's container, for Grep and Glob."""

from __future__ import annotations

from orchestrator.tools.base import ToolError
from orchestrator.tools.resolve import RESOLVE
from sandbox import ExecResult, Session

TIMEOUT = 60.0
MAX_RG_BYTES = 2 * 2**20
# Prints where $1 leads (every link followed, NUL-terminated), then runs "$@" from
# inside the searched directory: rg anchors globs that contain a "/" to its working
# directory, not to the path it searches.
_IN_DIR = (
    RESOLVE + 'resolve "$1" || { echo "cannot tell where $1 leads" >&2; exit 2; }; '
    'if [ -d "$1" ]; then cd -- "$1" || exit 2; fi; shift; exec "$@"'
)


async def run_rg(
    session: Session,
    path: str,
    argv: list[str],
    what: str,
    narrow: str,
    record_end: str = "\n",
) -> tuple[ExecResult, str, str]:
    """Run the rg ``argv`` from ``path``; its result, where ``path`` leads (links
    followed) and its output, whole records only (each ends with ``record_end``).

    A run that could not finish is a `ToolError` naming ``what`` was done and, for a
    timeout, what to ``narrow``.
    """
    result = await session.exec(
        ["sh", "-c", _IN_DIR, "sh", path, *argv], timeout=TIMEOUT, max_output=MAX_RG_BYTES
    )
    if result.error:
        raise ToolError(f"{what} failed: {result.error}")
    if result.timed_out:
        raise ToolError(f"{what} took longer than {TIMEOUT:.0f} s; narrow {narrow}.")
    real, _, raw = result.stdout.partition(b"\0")
    out = raw.decode("utf-8", "replace")
    if result.stdout_truncated:  # drop the record the cap cut in two
        out = out.rpartition(record_end)[0]
    return result, real.decode("utf-8", "replace"), out
