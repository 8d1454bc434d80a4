"""The egress options `check`, `exec` and `run` share: ``--allow-host``, ``--credential``.

Their values go to `security.Policy.allowing_hosts` and `Policy.brokering`, which check
them as a policy file's entries are checked.
"""

from __future__ import annotations

from typing import Annotated

import typer

AllowHosts = Annotated[
    list[str] | None,
    typer.Option(
        metavar="HOST[:PORT]",
        help="Let the session reach HOST through its egress proxy (repeatable; *.HOST: its "
        "subdomains). Added to the policy's network allow list.",
    ),
]
Credentials = Annotated[
    list[str] | None,
    typer.Option(
        metavar="NAME=HOST[,HOST]",
        help="Broker the secret in this environment's variable NAME to HOST (repeatable): "
        "the session sees a placeholder in NAME, the egress proxy puts the real value in "
        "request headers toward HOST alone. Each HOST must be allowed too.",
    ),
]
