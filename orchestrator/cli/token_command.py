"""`airlock token create`: a bearer token for the service (`airlock serve`).

The token is printed once, on stdout, and nothing keeps it: the service's database in
``--data`` holds only its hash. Bad arguments, a data folder that cannot be used among
them, exit 64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.errors import UsageError, exit_on_failure
from orchestrator.cli.help_format import HelpCommand

token_app = typer.Typer(
    help="Make bearer tokens for the service.", no_args_is_help=True, add_completion=False
)


@token_app.callback()
def token() -> None:
    """Make bearer tokens for the service."""


@token_app.command(cls=HelpCommand)
def create(
    data: Annotated[
        Path, typer.Option(metavar="DIR", help="The service's data folder (made if missing).")
    ],
    tenant: Annotated[str, typer.Option(metavar="NAME", help="Whose token it is.")],
    role: Annotated[str, typer.Option(metavar="ROLE", help="admin, runner, approver or viewer.")],
    max_sessions: Annotated[
        int | None,
        typer.Option(metavar="N", min=1, help="Sessions its tenant may hold at once."),
    ] = None,
    usd_per_day: Annotated[
        float | None,
        typer.Option(metavar="USD", min=0.0001, help="What its tenant's runs may spend a day."),
    ] = None,
    cpu_seconds_per_day: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS", min=0.001, help="CPU time its tenant's sandboxes may use a day."
        ),
    ] = None,
) -> None:
    """Print a new token for TENANT in ROLE. Only its hash is stored.

    \b
    Examples:
      airlock token create --data /var/lib/airlock --tenant ci --role runner --max-sessions 4
      airlock token create --data ./state --tenant ci --role runner --usd-per-day 20
    """
    from orchestrator.service import Role, StoreError, TokenError, create_token, open_store

    with exit_on_failure():
        try:
            chosen = Role(role)
        except ValueError:
            names = ", ".join(r.value for r in Role)
            raise UsageError(f"unknown role {role!r}: use one of {names}") from None
        try:
            store = open_store(data)
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        try:
            issued = create_token(store, tenant, chosen, max_sessions, usd_per_day=usd_per_day,
                                  cpu_seconds_per_day=cpu_seconds_per_day)  # fmt: skip
        except TokenError as exc:
            raise UsageError(str(exc)) from None
        finally:
            store.close()
    typer.echo(issued)
