"""What is known about commands, kept apart from the parser and the checks.

One module per tool family: `readonly` (the read-only base), `git`, `sed`, `awk`,
`wrappers` (commands that run other commands), `interpreters` and `environment`
(variables that load code), `curl` and `wget` (fetchers, read-only with an egress
proxy), `installers` (pip and npm). Checks import knowledge, never the reverse.
"""

from security.knowledge.awk import (
    AWKS,
    awk_program,
    awk_program_is_safe,
    awk_program_refusal,
    read_awk_argv,
)
from security.knowledge.git import GIT_LOG_OPTIONS, GIT_READ_ONLY, git_subcommand
from security.knowledge.readonly import (
    DELEGATING,
    READ_ONLY,
    SUBSCRIPT_EVALUATORS,
    UNIQ_VALUE_OPTIONS,
    VERSION_QUERIES,
    XXD_VALUE_OPTIONS,
    accepts_any_arguments,
    is_known_command,
    read_only_problem,
)
from security.knowledge.sed import sed_edits_in_place, sed_script_problem, sed_scripts
from security.knowledge.spec import ReadOnlySpec, check_spec

__all__ = [
    "AWKS",
    "DELEGATING",
    "GIT_LOG_OPTIONS",
    "GIT_READ_ONLY",
    "READ_ONLY",
    "SUBSCRIPT_EVALUATORS",
    "UNIQ_VALUE_OPTIONS",
    "VERSION_QUERIES",
    "XXD_VALUE_OPTIONS",
    "ReadOnlySpec",
    "accepts_any_arguments",
    "awk_program",
    "awk_program_is_safe",
    "awk_program_refusal",
    "check_spec",
    "git_subcommand",
    "is_known_command",
    "read_awk_argv",
    "read_only_problem",
    "sed_edits_in_place",
    "sed_script_problem",
    "sed_scripts",
]
