"""Every exit code an `airlock` command returns. Scripts rely on these numbers: never change one.

| code    | names                 | meaning                                                      |
|---------|-----------------------|--------------------------------------------------------------|
| 0       | OK, ALLOW             | success; `check`: allow; `run`: the model ended its turn     |
| 1       | FAILED, ASK, TAMPERED | `check`: ask; `run`: it ended otherwise (turns, budget, ...); |
|         |                       | `doctor`: a default lacks; `prove`, `fuzz-diff`: a finding;  |
|         |                       | `audit verify`: tampered; any command but `exec`: no engine, |
|         |                       | a sandbox or image build error, a failed audit subscriber    |
| 2       | DENY, UNREADABLE      | `check`: deny; `audit verify`: the file cannot be read       |
| 64      | USAGE                 | bad arguments, policy, replay, price table or run setup      |
| 65      | BATCH_BAD_INPUT       | `check --jsonl`: some lines were not ``{"cmd": "..."}``      |
| 123     | OUTPUT_TRUNCATED      | `exec`: `--max-output` cut the output (stderr says which)    |
| 124     | TIMED_OUT             | `exec`: the command ran out of time                          |
| 125     | SANDBOX_ERROR         | `exec`: no engine, or the sandbox failed                     |
| 126     | REFUSED               | `exec`: the analyzer did not allow the command               |
| 128 + N | SIGNALLED + N         | `exec`: the command was killed by signal N (137: also when   |
|         |                       | out of memory, which stderr says)                            |
| 130     | INTERRUPTED           | interrupted (Ctrl-C)                                         |

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
    USAGE = 64  # EX_USAGE
    BATCH_BAD_INPUT = 65  # EX_DATAERR
    OUTPUT_TRUNCATED = 123  # next below timeout(1)'s own codes, as exec's others are
    TIMED_OUT = 124  # as timeout(1)
    SANDBOX_ERROR = 125  # as timeout(1) when it fails itself
    REFUSED = 126  # as a shell for a command found but not runnable
    SIGNALLED = 128  # the base: killed by signal N exits 128 + N
    INTERRUPTED = 130  # 128 + SIGINT
