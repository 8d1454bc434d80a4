"""The agent program as it ships: small enough for one argv string, Python 3.8 syntax."""

from __future__ import annotations

import ast
import base64
import inspect
import zlib
from types import ModuleType

import pytest

from sandbox.agent_bundle import MAX_ARG_STRLEN, MODULES, agent_program, agent_source
from sandbox.channel import _confinement_of
from sandbox.docker_backend import AGENT_SOURCE


def test_the_shipped_program_fits_one_environment_string() -> None:
    assert agent_source() == AGENT_SOURCE
    # it travels as AIRLOCK_AGENT=<source>, then as one `python3 -c` argument
    assert len(f"AIRLOCK_AGENT={AGENT_SOURCE}".encode()) < MAX_ARG_STRLEN


def test_what_travels_unpacks_to_the_whole_program() -> None:
    payload = AGENT_SOURCE.split("b85decode('", 1)[1].split("'", 1)[0]  # no quote in base85
    program = zlib.decompress(base64.b85decode(payload)).decode()
    assert program == agent_program()
    assert len(program.encode()) > MAX_ARG_STRLEN  # packing is what keeps it in bounds


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
