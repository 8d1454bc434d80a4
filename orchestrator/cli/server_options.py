"""The options `exec` and `run` share to run on an `airlock serve` instead of the local
engine: ``--server`` and ``--token`` (each also from the environment)."""

from __future__ import annotations

from typing import Annotated

import typer

Server = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        envvar="AIRLOCK_SERVER",
        help="Run it on this `airlock serve` instead of the local engine.",
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        metavar="TOKEN",
        envvar="AIRLOCK_TOKEN",
        help="The service's bearer token (better in AIRLOCK_TOKEN than here).",
    ),
]
