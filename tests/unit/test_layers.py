"""The architecture, checked: layers import downward only, and through public surfaces.

- `security` imports neither `sandbox` nor `orchestrator`.
- `sandbox` never imports `orchestrator`.
- The orchestrator's core (agent, tools, gate, events, runs) reaches the sandbox only
  through `sandbox`'s public `__init__`, so it depends on the `Backend`/`Session`
  protocols, never on a concrete backend's modules. The CLI and the developer tools
  compose a concrete backend and may reach further.
- Each package's `__all__` names only what exists, and the README's examples import only
  from the three public packages.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ("agent", "tools", "gate", "events", "runs")


def _imports(source: str) -> list[str]:
    """Every module an import statement in ``source`` names, at any depth."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _offending(paths: list[Path], forbidden: re.Pattern[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}: {name}"
        for path in paths
        for name in _imports(path.read_text())
        if forbidden.match(name)
    ]


def test_security_imports_neither_sandbox_nor_orchestrator() -> None:
    assert _offending(_modules("security"), re.compile(r"(sandbox|orchestrator)(\.|$)")) == []


def test_sandbox_never_imports_the_orchestrator() -> None:
    assert _offending(_modules("sandbox"), re.compile(r"orchestrator(\.|$)")) == []


def test_the_orchestrator_core_uses_only_the_public_sandbox() -> None:
    core = [path for part in CORE for path in sorted((ROOT / "orchestrator" / part).rglob("*.py"))]
    assert len(core) > 20  # the walk found the packages
    assert _offending(core, re.compile(r"sandbox\.")) == []


def test_the_checker_sees_a_violation() -> None:
    """The walk above must notice an import of a backend module, also inside a function."""
    sample = "def f():\n    from sandbox.docker_backend import DockerSession\n"
    assert _imports(sample) == ["sandbox.docker_backend"]


@pytest.mark.parametrize("package", ["security", "sandbox", "orchestrator"])
def test_every_public_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert module.__all__ and missing == []


def test_the_readme_examples_import_only_public_packages() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "the README has Python examples"
    imports = [name for block in blocks for name in _imports(block)]
    ours = [name for name in imports if name.split(".")[0] in PUBLIC]
    assert ours, "the examples use airlock"
    assert [name for name in ours if name not in PUBLIC] == []


PUBLIC = {"security", "sandbox", "orchestrator"}
