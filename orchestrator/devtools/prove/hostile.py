"""Hostile workspaces for the oracle: repositories that attack whoever reads them.

The threat model's attacker writes the repository: its git config, attributes and
hooks, embedded repositories, file names that are options, file contents that end up
in variables, and the config files tools read. `FIXTURES` holds every such workspace
(`hostile_repos`, `option_names`), the plain seed first; `PAYLOADS` every payload by the
name its marker carries (`fixture`). The fixtures are built in the oracle's container
(`build_script`, from the files of `layers_tar`) into one tar each, which the oracle
unpacks before every run.
"""

from __future__ import annotations

import io
import shlex
import tarfile
from collections.abc import Iterable

from orchestrator.devtools.prove.fixture import (
    DATE,
    FIXTURE_DIR,
    LAYER_DIR,
    MARK,
    MARKER_BIN,
    MARKER_SCRIPT,
    ORACLE_DIR,
    PLAIN,
    WORKSPACE,
    Evidence,
    Family,
    Fixture,
    FixtureFile,
    Payload,
    marker_file,
    marker_in,
    marker_program,
)
from orchestrator.devtools.prove.hostile_repos import (
    ATTRIBUTES,
    GIT_OUTPUT_KEYS,
    GIT_PROGRAM_KEYS,
    HOOKS,
    PLAIN_SEED,
    repository_fixtures,
)
from orchestrator.devtools.prove.option_names import NAMED_TOOLS, option_name_fixtures

__all__ = [
    "ATTRIBUTES", "FIXTURES", "FIXTURE_DIR", "GIT_OUTPUT_KEYS", "GIT_PROGRAM_KEYS", "HOOKS",
    "LAYER_DIR", "MARK", "MARKER_BIN", "NAMED_TOOLS", "ORACLE_DIR", "PAYLOADS", "PLAIN",
    "WORKSPACE", "Evidence", "Family", "Fixture", "FixtureFile", "Payload", "build_script",
    "fixtures_for", "layers_tar", "marker_file", "marker_in", "marker_program",
    "marker_script", "payload_named",
]  # fmt: skip

# --- the catalogue ----------------------------------------------------------------------


def _catalogue() -> dict[str, Fixture]:
    fixtures = [*repository_fixtures(), *option_name_fixtures()]
    return {f.name: f for f in fixtures}


FIXTURES: dict[str, Fixture] = _catalogue()
"""Every fixture by name, each after its base."""


def _payload_index() -> dict[str, tuple[Payload, str]]:
    index: dict[str, tuple[Payload, str]] = {}
    for fixture in FIXTURES.values():
        for payload in fixture.payloads:
            if payload.name in index:
                raise ValueError(f"two payloads named {payload.name}")
            index[payload.name] = (payload, fixture.name)
    return index


PAYLOADS: dict[str, tuple[Payload, str]] = _payload_index()
"""Every payload by marker name, with the fixture that carries it (and its descendants)."""


def payload_named(marker: str) -> tuple[Payload, str] | None:
    """The payload a marker names; a longer marker (sed's ``pwned-X-notes.txt``) counts
    as the payload whose name it extends."""
    while marker:
        if marker in PAYLOADS:
            return PAYLOADS[marker]
        marker = marker[: max(marker.rfind("-"), marker.rfind("."), 0)]
    return None


def fixtures_for(tool: str) -> list[str]:
    """The option-name fixtures of a tool (``git diff`` for git's)."""
    return [f.name for f in FIXTURES.values() if f.tool == tool]


# --- building in the container ----------------------------------------------------------


def layers_tar(fixtures: Iterable[Fixture]) -> bytes:
    """Every fixture's files, under ``<name>/committed/`` and ``<name>/planted/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for fixture in fixtures:
            for part, files in (("committed", fixture.committed), ("planted", fixture.planted)):
                for item in files:
                    data = item.data()
                    info = tarfile.TarInfo(f"{fixture.name}/{part}/{item.path}")
                    info.size, info.mode, info.mtime = len(data), item.mode, 1_700_000_000
                    tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def marker_script() -> str:
    """Shell that makes the marker program and a link for every payload."""
    names = " ".join(shlex.quote(MARK + name) for name in sorted(PAYLOADS))
    return (
        f"mkdir -p {MARKER_BIN} {FIXTURE_DIR} && cd {MARKER_BIN} && "
        f"printf %s {shlex.quote(MARKER_SCRIPT)} > pwned && chmod 755 pwned && "
        f'for n in {names}; do ln -sf pwned "$n"; done\n'
    )


def build_script(fixture: Fixture) -> str:
    """Shell, run in the container, that builds one fixture into its tar."""
    layer = f"{LAYER_DIR}/{fixture.name}"
    lines = [
        "set -e",
        f"cd / && chmod -R u+rwX {WORKSPACE} 2>/dev/null || true",
        f"rm -rf {WORKSPACE}/* {WORKSPACE}/.[!.]* {WORKSPACE}/..?* && cd {WORKSPACE}",
    ]
    if fixture.base is None:
        lines.append(PLAIN_SEED)
    else:
        lines.append(f"tar -x -f {FIXTURES[fixture.base].tar}")
    if fixture.committed:
        tops = sorted({f.path.split("/", 1)[0] for f in fixture.committed})
        lines.append(f"cp -a {layer}/committed/. .")
        lines.append("git add -f -- " + " ".join(shlex.quote(t) for t in tops))
        lines.append(f"GIT_AUTHOR_DATE={DATE} GIT_COMMITTER_DATE={DATE} git commit -q -F -")
        lines[-1] = f"printf '%s\\n' {shlex.quote(fixture.message)} | {lines[-1]}"
        if fixture.message_from:
            lines[-1] = lines[-1].replace("-F -", f"-F {shlex.quote(fixture.message_from)}")
    if fixture.setup:
        lines.append(fixture.setup)
    for item in fixture.planted:
        source, target = shlex.quote(f"{layer}/planted/{item.path}"), shlex.quote(item.path)
        parent = shlex.quote(item.path.rsplit("/", 1)[0]) if "/" in item.path else "."
        verb = ">>" if item.append else ">"
        lines.append(f"mkdir -p -- {parent} && cat -- {source} {verb} {target}")
        lines.append(f"chmod {item.mode:o} -- {target}")
    if fixture.finish:
        lines.append(fixture.finish)
    lines.append(f"find . -exec touch -h -d {DATE} {{}} +")
    lines.append(f"tar -c -f {fixture.tar} .")
    return "\n".join(lines) + "\n"
