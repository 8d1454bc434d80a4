"""`airlock check`: one command line, or a JSONL batch, judged by the analyzer.

Exit 0, 1 or 2 for allow, ask or deny; the batch and the rendering are in `check`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from orchestrator.cli.consoles import out
from orchestrator.cli.egress_options import AllowHosts
from orchestrator.cli.errors import UsageError, exit_on_failure


def check(
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="COMMAND", help="The command line to analyze (after --)."),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            metavar="PRESET|FILE",
            help="Preset (read-only, dev, ci-untrusted) or a YAML file. Default read-only, "
            "the strictest preset; `exec` and `run` default to dev.",
        ),
    ] = "read-only",
    json_output: Annotated[bool, typer.Option("--json", help="Print the whole Verdict.")] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help='Batch: read {"cmd": ...} lines on stdin.')
    ] = False,
    allow_host: AllowHosts = None,
) -> None:
    """Analyze a shell command: allow, ask or deny, and why. Exit 0/1/2 for allow/ask/deny.

    Nothing runs: the verdict is what the command would do in a session holding a hostile
    repository, judged under --policy.

    \b
    Exit codes:
      0   allow
      1   ask
      2   deny
      64  usage error (bad arguments or policy)
      65  --jsonl: some input lines were not {"cmd": "..."} (each is answered)

    \b
    Examples:
      airlock check -- 'git log --oneline | head'
      airlock check --policy dev --json -- make test
      echo '{"cmd": "ls", "id": 1}' | airlock check --jsonl
      airlock check --policy ci-untrusted --allow-host pypi.org -- pip install -r req.txt
    """
    from orchestrator.cli import check as check_module
    from security import Policy

    with exit_on_failure():
        loaded = Policy.load(policy).allowing_hosts(allow_host or [])
        if jsonl:
            if command:
                raise UsageError("--jsonl reads commands from stdin; give no COMMAND")
            raise typer.Exit(check_module.run_batch(sys.stdin, sys.stdout, loaded))
        if not command:
            raise UsageError("give a command after --, or use --jsonl")
        verdict = check_module.judge(" ".join(command), loaded)
        if json_output:
            sys.stdout.write(check_module.verdict_json(verdict) + "\n")
        else:
            check_module.render(verdict, out)
        raise typer.Exit(check_module.EXIT_CODES[verdict.decision])
