"""The exec agent as it ships: one ``python3 -c`` program holding its modules.

`sandbox/exec_agent.py` imports `sandbox.command_user`, `sandbox.egress_relay`,
`sandbox.user_helper` (commands started through ``setpriv``) and `sandbox.confine_exec`;
the latter imports `sandbox.landlock`, `sandbox.syscall_filter` and
`sandbox.exec_cleanup`, which imports `sandbox.command_spawn` (the agent's own fork and
exec).
The container has no copy of this package, so the program registers each module's source
under its own name before running the agent. Each module is compiled on its own, so its
``from __future__`` imports stay first.
"""

from __future__ import annotations

import base64
import inspect
import zlib
from types import ModuleType

from sandbox import (
    command_spawn,
    command_user,
    confine_exec,
    egress_bridge,
    egress_relay,
    exec_agent,
    exec_cleanup,
    landlock,
    syscall_filter,
    user_helper,
)

# In import order: a module comes after the modules it imports.
MODULES: tuple[ModuleType, ...] = (
    landlock,
    syscall_filter,
    user_helper,
    command_spawn,
    exec_cleanup,
    confine_exec,
    command_user,
    egress_bridge,
    egress_relay,
    exec_agent,
)
# The kernel refuses a single argv or environment string longer than this (the agent
# travels in an environment variable, then as ``python3 -c`` argv).
MAX_ARG_STRLEN = 128 * 1024

_LOADER = """import sys, types
def _airlock_module(name, source):
    module = types.ModuleType(name)
    module.__file__ = "<airlock " + name + ">"
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module
_airlock_module("sandbox", "__path__ = []")
"""


def agent_program() -> str:
    """The agent program: the loader, each module, then ``main()``."""
    parts = [_LOADER]
    for module in MODULES:
        parts.append(f"_airlock_module({module.__name__!r}, {inspect.getsource(module)!r})\n")
    parts.append('sys.exit(sys.modules["sandbox.exec_agent"].main())\n')
    return "".join(parts)


def agent_source() -> str:
    """The agent program as it travels (`packed`)."""
    return packed(agent_program())


def packed(program: str) -> str:
    """``program`` compressed (to a quarter of its size, so the agent stays within one
    environment string as it grows) behind a one-line loader, which runs it in its own
    globals as ``python3 -c`` would."""
    payload = base64.b85encode(zlib.compress(program.encode(), 9)).decode()
    unpack = f"zlib.decompress(base64.b85decode({payload!r}))"
    return f"import base64, zlib\nexec(compile({unpack}, '<airlock agent>', 'exec'))\n"
