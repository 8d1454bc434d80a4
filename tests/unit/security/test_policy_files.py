"""Policy files fail loudly: unknown keys, `extends:` cycles and paths, short messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from security import Decision, Policy, PolicyError, analyze


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load_error(path: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        Policy.load(str(path))
    return str(caught.value)


def test_a_misspelled_rules_key_is_an_error_not_a_dropped_deny(tmp_path: Path) -> None:
    text = "extends: dev\nrule:\n  - {prefix: [make, deploy], decision: deny}\n"
    path = write(tmp_path, "team.yaml", text)
    message = load_error(path)
    assert str(path) in message
    assert "rule: unknown key" in message
    assert "did you mean 'rules'" in message


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        ("rules:\n  - {prefix: [curl], decison: deny}\n", "rules[0].decison", "decision"),
        ("rules:\n  - {prefix: [curl], decision: deny, why: net}\n", "rules[0].why", None),
        ("extend: dev\n", "extend", "extends"),
        ("headles: true\n", "headles", "headless"),
        ("colour: blue\n", "colour", None),
    ],
)
def test_unknown_keys_anywhere_name_the_key(
    tmp_path: Path, text: str, key: str, suggestion: str | None
) -> None:
    message = load_error(write(tmp_path, "p.yaml", text))
    assert f"{key}: unknown key" in message
    if suggestion:
        assert f"did you mean {suggestion!r}" in message
    else:
        assert "did you mean" not in message


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    text = "rules:\n  - {prefix: [curl], decision: deny}\nrules: []\n"
    message = load_error(write(tmp_path, "p.yaml", text))
    assert "rules" in message
    assert "twice" in message


def test_an_extends_cycle_is_a_policy_error(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    message = load_error(a)
    assert "cycle" in message
    assert "a.yaml" in message and "b.yaml" in message


def test_a_file_extending_itself_is_a_cycle(tmp_path: Path) -> None:
    assert "cycle" in load_error(write(tmp_path, "self.yaml", "extends: self.yaml\n"))


def test_relative_extends_resolves_against_the_naming_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = "extends: dev\nrules:\n  - {prefix: [curl], decision: deny}\n"
    write(tmp_path, "team/base.yaml", base)
    child = write(tmp_path, "team/sub/child.yaml", "extends: ../base.yaml\nshell: bash\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working folder must not matter
    policy = Policy.load(str(child))
    assert policy.name == "child"
    assert policy.shell == "bash"
    assert policy.overrides["S37"] == "allow"  # from dev, through base
    assert analyze("curl x", policy).decision is Decision.DENY  # base's rule


def test_a_missing_parent_names_the_file_that_extends_it(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "p.yaml", "extends: nowhere.yaml\n"))
    assert "p.yaml" in message and "nowhere.yaml" in message


@pytest.mark.parametrize(
    "text",
    [
        "shell: fish\n",
        "rules: [{prefix: []}]\n",
        "rules: [curl]\n",
        "rules: curl\n",
        "overrides: {S04: allow}\n",
        "overrides: [S04]\n",
        "headless: maybe\n",
        "extends: [dev]\n",
        "rules:\n  - {prefix: [curl], decision: deny\n",  # YAML syntax error
        "- a list\n",
    ],
)
def test_messages_are_short_and_human(tmp_path: Path, text: str) -> None:
    message = load_error(write(tmp_path, "bad.yaml", text))
    assert "pydantic" not in message
    assert "https://" not in message
    assert "For further information" not in message
    assert "instance of" not in message
    assert "Value error" not in message
    assert "<unicode string>" not in message
    for line in message.splitlines():
        assert line.startswith(str(tmp_path / "bad.yaml")), message
        assert len(line) < 200, line


def test_each_problem_is_one_line_with_its_key(tmp_path: Path) -> None:
    text = "shell: fish\nrules: [{prefix: [ls], decision: maybe}]\n"
    lines = load_error(write(tmp_path, "bad.yaml", text)).splitlines()
    assert len(lines) == 2
    assert "shell: should be 'any', 'bash', 'sh' or 'zsh' (got 'fish')" in lines[0]
    assert "rules[0].decision: should be 'allow', 'ask' or 'deny' (got 'maybe')" in lines[1]
