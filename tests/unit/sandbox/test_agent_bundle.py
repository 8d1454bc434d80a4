"""The agent program as it ships: small enough for one argv string, Python 3.8 syntax."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

import pytest

from sandbox.agent_bundle import MAX_ARG_STRLEN, MODULES, agent_source
from sandbox.channel import _confinement_of
from sandbox.docker_backend import AGENT_SOURCE


def test_the_shipped_program_fits_one_environment_string() -> None:
    assert agent_source() == AGENT_SOURCE
    # it travels as AIRLOCK_AGENT=<source>, then as one `python3 -c` argument
    assert len(f"AIRLOCK_AGENT={AGENT_SOURCE}".encode()) < MAX_ARG_STRLEN


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_shipped_module_is_python_3_8_syntax(module: ModuleType) -> None:
    ast.parse(inspect.getsource(module), feature_version=(3, 8))


def test_a_confinement_asked_for_but_not_reported_counts_as_unconfined() -> None:
    assert _confinement_of(None, asked=False) is None
    missing = _confinement_of(None, asked=True)
    assert (
        missing is not None
        and not missing.confined
        and "no confinement report" in (missing.reason or "")
    )
    garbled = _confinement_of({"confined": "maybe"}, asked=True)
    assert garbled is not None and not garbled.confined
    assert _confinement_of({"confined": True, "abi": 7}, asked=True) == _confinement_of(
        {"confined": True, "abi": 7}, asked=False
    )
