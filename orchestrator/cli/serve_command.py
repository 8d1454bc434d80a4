"""`airlock serve`: the multi-tenant HTTP service (`orchestrator.service`).

It listens on loopback unless told otherwise, keeps its state in ``--data`` (tokens from
`airlock token create`), and ends every session it holds when it stops (SIGTERM or
Ctrl-C). Bad arguments exit 64.
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
        int, typer.Option(metavar="N", min=1, help="Sessions held at once, all tenants.")
    ] = 16,
    warm: Annotated[
        int,
        typer.Option(
            metavar="N",
            min=0,
            help="Sessions of the default create request kept started, for a fast create "
            "(0: none). They count against --max-sessions.",
        ),
    ] = 2,
) -> None:
    """Serve the /v1 API: sessions for CI jobs and people, each request by token.

    \\b
    Examples:
      airlock token create --data ./state --tenant ci --role runner
      airlock serve --data ./state --port 8700
    """
    import uvicorn

    from orchestrator.service import StoreError, open_store
    from orchestrator.service.app import ServiceConfig, create_app

    with exit_on_failure():
        try:
            open_store(data).close()  # an unusable folder is said before listening
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        config = ServiceConfig(
            data=data, host=host, port=port, max_sessions=max_sessions, warm=warm
        )
        uvicorn.run(create_app(config), host=host, port=port, log_level="info")
