"""How `make test` shares the suite out to xdist workers (`--dist loadfile`, refined).

A test file runs whole on one worker, so its module-scoped fixtures (a service, upstream
servers, an oracle) are made once, as in a serial run. The tests in ``ORPHAN_TESTS``
share one more scope, across their files: each reaps every orphan on the engine, or
counts the orphans a killed orchestrator left, so one's sweep would take the other's
orphans. In one scope they run on one worker, one after the other.

(xdist's own ``xdist_group`` mark works by renaming node ids, which pytest 9 no longer
lets a plugin do: hence a scheduler that knows the scopes by name.)
"""

from __future__ import annotations

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadFileScheduling

ORPHAN_TESTS = frozenset(
    {
        "tests/integration/test_crash_faults.py"
        "::test_a_killed_orchestrator_leaves_nothing_once_the_reaper_runs",
        "tests/integration/test_limits.py"
        "::test_a_killed_orchestrator_leaves_nothing_after_the_reaper",
        "tests/integration/test_reaper.py::test_reaps_dead_owners_and_expired_ttls_only",
        "tests/integration/test_service.py"
        "::test_after_a_kill_a_restart_marks_its_sessions_interrupted_and_reaps_them",
    }
)
ORPHAN_SCOPE = "orphans: the reaper's tests"


def scope_of(nodeid: str) -> str:
    """The scope a test runs in: its file, or ``ORPHAN_SCOPE``."""
    if nodeid.split("[", 1)[0] in ORPHAN_TESTS:
        return ORPHAN_SCOPE
    return nodeid.split("::", 1)[0]


class FileScheduling(LoadFileScheduling):
    """`--dist loadfile`, with the orphan tests in one scope of their own."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> FileScheduling | None:
    if config.getvalue("dist") != "loadfile":
        return None  # another --dist asked for by hand: xdist's own
    return FileScheduling(config, log)
