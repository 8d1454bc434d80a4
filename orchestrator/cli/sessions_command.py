"""`airlock sessions` and `airlock reap`: the live sandboxes, and removing the stale ones."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from orchestrator.cli.consoles import out
from orchestrator.cli.errors import exit_on_failure
from orchestrator.events import safe_text


def sessions(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List live sandbox sessions (containers labelled by airlock).

    \b
    Examples:
      airlock sessions
      airlock sessions --json | jq -r .id
    """
    from rich.table import Table

    from orchestrator.cli.sessions import list_sessions

    with exit_on_failure():
        rows = list_sessions()
        if json_output:
            for row in rows:
                sys.stdout.write(row.model_dump_json() + "\n")
            return
        table = Table()
        for column in ("container", "session", "image", "state", "owner", "age s", "expires in s"):
            table.add_column(column, overflow="fold")  # folded, never cut with an ellipsis
        for r in rows:
            cells = (r.container, r.session, r.image, r.state, r.owner_pid, r.age_s, r.expires_in_s)
            table.add_row(*(safe_text.text(str(cell)) for cell in cells))
        out.print(table)


def reap(
    dry_run: Annotated[bool, typer.Option(help="Only say what would go.")] = False,
) -> None:
    """Remove sessions whose owner process is gone or whose TTL passed.

    \b
    Examples:
      airlock reap --dry-run
      airlock reap
    """
    from sandbox.engine import engine
    from sandbox.reaper import reap as reap_leftovers

    with exit_on_failure():
        with engine() as client:
            found = reap_leftovers(client, dry_run=dry_run)
        for item in found:
            if item.reason.startswith("kept"):
                verb = "kept"
            elif dry_run:
                verb = "would remove"
            else:
                verb = "removed" if item.removed else "could not remove"
            out.print(
                safe_text.text(
                    f"{verb} {item.container_id} (session {item.session}): {item.reason}"
                )
            )
        if not found:
            out.print("nothing to reap")
