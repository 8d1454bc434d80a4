"""Every exit code an `airlock` command returns. Scripts rely on these numbers: never change one.

| code    | names                 | meaning                                                      |
|---------|-----------------------|--------------------------------------------------------------|
| 0       | OK, ALLOW             | success; `check`: allow; `run`: finished and verified        |
| 1       | FAILED, ASK, TAMPERED | `check`: ask; `run`: an infrastructure or API error;         |
|         |                       | `doctor`: a default lacks; `prove`, `fuzz-diff`: a finding;  |
|         |                       | `audit verify`: tampered; any command but `exec`: no engine, |
|         |                       | a sandbox or image build error, a failed audit subscriber    |
| 2       | DENY, UNREADABLE      | `check`: deny; `audit verify`: the file cannot be read       |
| 3       | UNVERIFIED            | `run`: the model finished; no `--verify` was given           |
| 4       | VERIFY_FAILED         | `run`: the `--verify` command failed in the final workspace  |
| 5       | LIMIT_REACHED         | `run`: the turn, budget or wall-clock limit stopped it       |
| 6       | POLICY_REFUSED        | `run`: the gate refused the `--verify` command               |
| 64      | USAGE                 | bad arguments, policy, replay, price table or run setup      |
| 65      | BATCH_BAD_INPUT       | `check --jsonl`: some lines were not ``{"cmd": "..."}``      |
| 123     | OUTPUT_TRUNCATED      | `exec`: `--max-output` cut the output (stderr says which)    |
| 124     | TIMED_OUT             | `exec`: the command ran out of time                          |
| 125     | SANDBOX_ERROR         | `exec`: no engine, or the sandbox failed                     |
| 126     | REFUSED               | `exec`: the analyzer did not allow the command               |
| 128 + N | SIGNALLED + N         | `exec`: the command was killed by signal N (137: also when   |
|         |                       | out of memory, which stderr says)                            |
| 129     | HUNG_UP               | `run`: cancelled by SIGHUP (its out folder is complete)      |
| 130     | INTERRUPTED           | interrupted (Ctrl-C)                                         |
| 143     | TERMINATED            | `run`: cancelled by SIGTERM (its out folder is complete)     |

Otherwise `exec` exits with the command's own code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of `airlock`; names with the same number are aliases."""

    OK = 0
    ALLOW = 0
    FAILED = 1
    ASK = 1
    TAMPERED = 1
    DENY = 2
    UNREADABLE = 2
    UNVERIFIED = 3  # run: finished, nothing to verify it with
    VERIFY_FAILED = 4  # run
    LIMIT_REACHED = 5  # run: turns, budget or wall clock
    POLICY_REFUSED = 6  # run: the gate refused --verify
    USAGE = 64  # EX_USAGE
    BATCH_BAD_INPUT = 65  # EX_DATAERR
    OUTPUT_TRUNCATED = 123  # next below timeout(1)'s own codes, as exec's others are
    TIMED_OUT = 124  # as timeout(1)
    SANDBOX_ERROR = 125  # as timeout(1) when it fails itself
    REFUSED = 126  # as a shell for a command found but not runnable
    SIGNALLED = 128  # the base: killed by signal N exits 128 + N
    HUNG_UP = 129  # 128 + SIGHUP
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM


def help_table() -> str:
    """The table above as plain ``--help`` text: one line per row, code and meaning."""
    lines = ["\b", "Exit codes (each command's --help says which it uses):"]
    for row in (__doc__ or "").splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if not row.startswith("|") or len(cells) != 3 or cells[0] in ("code",) or "---" in row:
            continue
        code, _names, meaning = cells
        lines.append(f"  {code:<8} {meaning.replace('`', '')}")
    return "\n".join(lines)
