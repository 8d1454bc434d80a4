"""The tools the model can call; each lives in its own module."""

from __future__ import annotations

from typing import Any

from orchestrator.tools.agent import SubAgentTool
from orchestrator.tools.base import Tool
from orchestrator.tools.bash import Bash
from orchestrator.tools.edit import Edit
from orchestrator.tools.glob import Glob
from orchestrator.tools.grep import Grep
from orchestrator.tools.read import Read
from orchestrator.tools.remember import Remember
from orchestrator.tools.write import Write

TOOL_CLASSES: tuple[type[Tool[Any]], ...] = (
    Bash,
    Read,
    Write,
    Edit,
    Grep,
    Glob,
    SubAgentTool,
    Remember,
)


def default_tools() -> list[Tool[Any]]:
    """One of each tool, in the order the model sees them."""
    return [cls() for cls in TOOL_CLASSES]
