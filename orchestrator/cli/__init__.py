"""The `airlock` command line; the entry point is `orchestrator.cli:app`.

`app` registers one module per command group: `doctor_command`, `images_command`,
`run_command`, `demo_command`, `check_command` (the batch and rendering: `check`),
`exec_command`, `sessions_command` (sessions and reap; the listing: `sessions`),
`bench_command`, `prove_command` (prove and fuzz-diff) and `audit_command`. Every exit
code is an `exit_codes.ExitCode`; every error goes through `errors.exit_on_failure`.
"""

from orchestrator.cli.app import app

__all__ = ["app"]
