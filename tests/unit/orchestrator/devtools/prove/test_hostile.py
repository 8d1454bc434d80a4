"""The hostile fixtures: made from tables, every payload named, built as the oracle needs."""

from __future__ import annotations

import io
import re
import tarfile

import pytest

from orchestrator.devtools.prove.hostile import (
    FIXTURES,
    GIT_OUTPUT_KEYS,
    GIT_PROGRAM_KEYS,
    HOOKS,
    MARK,
    NAMED_TOOLS,
    PAYLOADS,
    PLAIN,
    Evidence,
    Family,
    build_script,
    fixtures_for,
    layers_tar,
    marker_file,
    marker_in,
    marker_program,
    marker_script,
    payload_named,
)
from orchestrator.devtools.prove.tool_options import TOOLS, Option, Value


def _files(name: str) -> dict[str, str]:
    fixture = FIXTURES[name]
    return {f.path: f.data().decode() for f in (*fixture.committed, *fixture.planted)}


def test_every_base_comes_before_the_fixtures_built_on_it() -> None:
    seen: set[str] = set()
    for name, fixture in FIXTURES.items():
        assert fixture.base is None or fixture.base in seen, name
        seen.add(name)
    assert FIXTURES[PLAIN].base is None and FIXTURES[PLAIN].fresh_index
    assert not any(f.fresh_index for f in FIXTURES.values() if f.name != PLAIN)


def test_markers_round_trip_and_only_a_name_that_starts_with_the_mark_is_one() -> None:
    for name in PAYLOADS:
        assert marker_in(marker_program(name)) == name
        assert marker_in(marker_file(name)) == name
    assert marker_in("/workspace/b[$(: >pwned-data-filename)]") is None  # a fixture's own file
    assert marker_in("/workspace/notes.txt") is None


def test_a_longer_marker_counts_as_the_payload_it_extends() -> None:
    """sed -i with a backup SUFFIX holding * names each backup after its file."""
    (payload, fixture) = PAYLOADS["names-sed-in-place-0"]
    assert payload_named("names-sed-in-place-0-README.md") == (payload, fixture)
    assert payload_named("names-sed-in-place-0-b") == (payload, fixture)
    assert payload_named("nothing-like-it") is None


def test_every_family_has_payloads_and_both_kinds_of_evidence_are_used() -> None:
    families = {payload.family for payload, _ in PAYLOADS.values()}
    assert families == set(Family)
    for family in (Family.REPO_CONFIG, Family.DATA, Family.TOOL_CONFIG, Family.OPTION_NAME):
        kinds = {p.evidence for p, _ in PAYLOADS.values() if p.family is family}
        assert kinds == {Evidence.EXEC, Evidence.WRITE}, family


@pytest.mark.parametrize(
    ("fixture", "path", "prefix"),
    [("git-config", ".git/config", "gitconfig"), ("git-hooks", "extra.gitconfig", "include"),
     ("bare-repo", "sub/config", "bare"), ("bare-repo", "vendor/lib.git/config", "vendor"),
     ("hostile-files", ".gitconfig", "home"), ("hostile-files", ".config/git/config", "xdg")],
)  # fmt: skip
def test_every_config_carrier_holds_every_program_and_output_key(
    fixture: str, path: str, prefix: str
) -> None:
    text = _files(fixture)[path]
    for section, key in GIT_PROGRAM_KEYS:
        if (section, key) == ('filter "fp"', "process") and prefix != "vendor":
            continue  # a process filter that fails is fatal: one carrier only
        assert f"[{section}]" in text and f"\t{key} = " in text, (section, key)
    for section, key in GIT_OUTPUT_KEYS:
        assert f"\t{key} = /tmp/{MARK}{prefix}-" in text, (section, key)
    for setting in ("showSignature = true", "format = man", "viewer = pv"):
        assert setting in text


def test_repositories_carry_attributes_hooks_hooks_path_and_includes() -> None:
    config = _files("git-config")
    assert "hooksPath = .githooks" in config[".git/config"]
    assert "diff=tc filter=fl" in config[".gitattributes"]
    assert {f".githooks/{hook}" for hook in HOOKS} <= set(config)
    hooks = _files("git-hooks")
    assert {f".git/hooks/{hook}" for hook in HOOKS} <= set(hooks)
    assert "diff=tc" in hooks[".git/info/attributes"]
    assert "path = ../extra.gitconfig" in hooks[".git/config"]
    bare = _files("bare-repo")
    assert "worktree = .." in bare["sub/config"] and "hooks/post-index-change" in str(set(bare))
    executable = [f for f in FIXTURES["git-hooks"].planted if "/hooks/" in f.path]
    assert executable and all(f.mode == 0o755 for f in executable)


def test_data_files_hold_payloads_for_bash_to_evaluate() -> None:
    files = _files("hostile-files")
    assert re.fullmatch(r"b\[\$\(/tmp/airlock-oracle/bin/pwned-data-subscript\)\]\n",
                        files["payload.txt"])  # fmt: skip
    lines = files["vars.txt"].splitlines()
    assert any("`" in line for line in lines) and any(": >/tmp/pwned-" in line for line in lines)
    assert files["option.txt"].startswith("-opwned-")
    assert "b[$(: >pwned-data-filename)]" in files
    assert "--pre=" in files[".ripgreprc"] and "system(" in files["lib.awk"]
    assert files["script.sed"].startswith("1e ")
    shadows = [f for f in FIXTURES["hostile-files"].committed if f.path in ("cat", "ls", "sort")]
    assert len(shadows) == 3 and all(f.mode == 0o755 for f in shadows)


def _dangerous(tool: str) -> list[Option]:
    return [o for o in TOOLS[tool] if o.effect and o.value not in (Value.FILE, Value.DIR)]


@pytest.mark.parametrize("tool", NAMED_TOOLS)
def test_option_names_come_from_each_tools_option_table(tool: str) -> None:
    names = {
        f.path for n in fixtures_for(tool) for f in FIXTURES[n].committed + FIXTURES[n].planted
    }
    for option in _dangerous(tool):
        if option.value is Value.LIB:
            continue
        if option.long:
            assert any(n.startswith(f"--{option.long}") for n in names), (tool, option.long)
        elif option.short:
            assert any(n.startswith(f"-{option.short}") for n in names), (tool, option.short)


def test_option_names_write_the_fixtures_own_marker() -> None:
    for tool, option in (("sort", "-o"), ("sort", "--output="), ("sdiff", "-o")):
        own = [n for n in fixtures_for(tool) if any(
            f.path == f"{option}{MARK}{n}" for f in FIXTURES[n].committed)]  # fmt: skip
        assert own, (tool, option)
        assert all(n in PAYLOADS for n in own)
    sed = _files("names-sed-file-0")
    assert {"-f", "-f.sed"} <= set(sed) and sed["-f.sed"].startswith("1e ")
    assert "pair/a" in _files(fixtures_for("sdiff")[0])


def test_option_spellings_follow_getopt() -> None:
    required = Option("f", "file", Value.CODE)
    assert required.spellings("x") == ["-fx", "-f x", "--file=x", "--file x", "--fil=x", "--fil x"]
    optional = Option("i", "replace", Value.WORD, optional=True)
    spelled = optional.spellings("sh")
    assert "-ish" in spelled and "-i sh" in spelled and "--replace=sh" in spelled
    assert "--replace sh" not in spelled
    assert Option("G", "traditional").spellings() == ["-G", "--traditional", "--traditio"]


def test_the_layers_tar_keeps_names_modes_and_contents() -> None:
    chosen = [FIXTURES["names-sort-output-0"], FIXTURES["git-hooks"]]
    with tarfile.open(fileobj=io.BytesIO(layers_tar(chosen))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert "names-sort-output-0/committed/-opwned-names-sort-output-0" in members
        hook = members["git-hooks/planted/.git/hooks/post-index-change"]
        assert hook.mode == 0o755
        data = tar.extractfile(hook)
        assert data is not None and b"pwned-hooks-hook-post-index-change" in data.read()


def test_build_scripts_plant_after_the_commit_and_append_to_git_config() -> None:
    script = build_script(FIXTURES["git-config"])
    assert script.index("git commit") < script.index(">> .git/config")
    assert "tar -x -f /tmp/airlock-oracle/fixtures/hostile-files.tar" in script
    names = build_script(FIXTURES["names-sort-output-0"])
    assert "git add -f -- -opwned-names-sort-output-0" in names
    assert script.rstrip().endswith("tar -c -f /tmp/airlock-oracle/fixtures/git-config.tar .")
    assert "pwned-gitconfig-core-fsmonitor" in marker_script()
