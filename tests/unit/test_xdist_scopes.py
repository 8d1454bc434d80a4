"""The scopes `make test` shares out to xdist workers name tests that exist."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.xdist_scopes import ORPHAN_SCOPE, ORPHAN_TESTS, scope_of

ROOT = Path(__file__).resolve().parents[2]


def test_every_orphan_test_is_a_test_function_of_its_file() -> None:
    for nodeid in ORPHAN_TESTS:
        path, name = nodeid.split("::")
        tree = ast.parse((ROOT / path).read_text())
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert name in functions, nodeid


def test_a_file_is_a_scope_and_the_orphan_tests_share_one() -> None:
    orphan = sorted(ORPHAN_TESTS)[0]
    assert scope_of(orphan) == scope_of(f"{orphan}[runc]") == ORPHAN_SCOPE
    assert scope_of("tests/integration/test_reaper.py::test_judge_rules") == (
        "tests/integration/test_reaper.py"
    )
    assert scope_of("tests/unit/test_layers.py::test_x[a::b]") == "tests/unit/test_layers.py"
