"""The service's default capacity comes from the machine's memory."""

from __future__ import annotations

import os

from orchestrator.service.capacity import MAX_DEFAULT, machine_capacity

GIB = 1024**3


def test_three_quarters_of_the_memory_in_sandboxes_of_the_default_limit() -> None:
    assert machine_capacity(24 * GIB) == 18  # 1 GiB each
    assert machine_capacity(GIB // 2) == 1  # never none
    assert machine_capacity(1024 * GIB) == MAX_DEFAULT


def test_this_machine_gets_what_its_memory_holds() -> None:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert machine_capacity() == machine_capacity(memory) >= 1
