"""`airlock serve`: the multi-tenant HTTP service (`orchestrator.service`).

It listens on loopback unless told otherwise, keeps its state in ``--data`` (tokens from
`airlock token create`, runs' folders), and when it stops (SIGTERM or Ctrl-C) ends every
session and stops every run it holds, each with its reason. Bad arguments exit 64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.errors import UsageError, exit_on_failure


def serve(
    data: Annotated[Path, typer.Option(metavar="DIR", help="State folder (made if missing).")],
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(metavar="PORT", min=0, max=65535)] = 8700,
    max_sessions: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=1,
            help="Sandboxes (sessions and runs) held at once. Default: what 3/4 of this "
            "machine's memory holds at each sandbox's limit (at most 64).",
        ),
    ] = None,
    max_queued: Annotated[
        int, typer.Option(metavar="N", min=1, help="Runs a tenant may have waiting for room.")
    ] = 16,
    allow_replay: Annotated[
        bool,
        typer.Option(
            "--allow-replay", help="Runs may bring a replay script (the fake Messages API)."
        ),
    ] = False,
    audit_key: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Sign every run's audit log (airlock audit keygen makes one)."
        ),
    ] = None,
    warm: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=0,
            help="Sessions of the default create request kept started, for a fast create "
            "(0: none). They count against --max-sessions.",
        ),
    ] = 2,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log one line per request to stderr (its client, method, path, status).",
        ),
    ] = True,
) -> None:
    """Serve the /v1 API: sessions for CI jobs and people, each request by token.

    \\b
    Examples:
      airlock token create --data ./state --tenant ci --role runner
      airlock serve --data ./state --port 8700
    """
    from orchestrator.service import StoreError, open_store
    from orchestrator.service.app import ServiceConfig
    from orchestrator.service.capacity import machine_capacity
    from orchestrator.service.server import serve_forever

    with exit_on_failure():
        try:
            open_store(data).close()  # an unusable folder is said before listening
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        if audit_key is not None:
            _check_key(audit_key, data)
        config = ServiceConfig(
            data=data, host=host, port=port, max_sessions=max_sessions or machine_capacity(),
            max_queued=max_queued,
            allow_replay=allow_replay, audit_key=audit_key, warm=warm,
        )  # fmt: skip
        serve_forever(config, access_log=access_log)


def _check_key(key: Path, data: Path) -> None:
    """The key must be readable and kept outside the data folder: whoever can rewrite
    the logs there must not also hold what signs them."""
    from orchestrator.events.audit import AuditError, load_key

    try:
        load_key(key)
    except (AuditError, OSError) as exc:
        raise UsageError(f"--audit-key {key}: {exc}") from None
    if key.resolve().is_relative_to(data.resolve()):
        raise UsageError(f"--audit-key {key}: keep the key outside --data {data}")
