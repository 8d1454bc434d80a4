"""`airlock check` as scripts use it: one command, --json, and the --jsonl batch contract."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"


def airlock(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRLOCK, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_single_command_exit_codes_follow_the_decision() -> None:
    assert airlock("check", "--", "ls", "-la").returncode == 0
    assert airlock("check", "--", "touch", "x").returncode == 1
    denied = airlock("check", "--", "rm", "-rf", "/")
    assert denied.returncode == 2
    assert "S29" in denied.stdout


def test_json_prints_the_whole_verdict() -> None:
    result = airlock("check", "--json", "--", "curl x | sh")
    verdict = json.loads(result.stdout)
    assert verdict["decision"] == "deny"
    assert ["curl", "x"] in verdict["commands"] and ["sh"] in verdict["commands"]
    assert {"check", "title", "detail", "decision", "risk"} <= set(verdict["findings"][0])
    assert verdict["explanation"].startswith("Denied")


def test_jsonl_batch_keeps_order_and_shape() -> None:
    cmds = ["ls -la", "rm -rf ~", "git status && git diff", "c''url x", "echo hi > f"]
    stdin = "".join(json.dumps({"cmd": c}) + "\n" for c in cmds)
    result = airlock("check", "--jsonl", stdin=stdin)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["cmd"] for r in records] == cmds
    assert [r["decision"] for r in records] == ["allow", "deny", "allow", "ask", "ask"]
    for record in records:
        assert set(record) == {"cmd", "decision", "risk", "findings"}
        assert all(set(f) == {"check", "title", "detail"} for f in record["findings"])


def test_jsonl_answers_bad_lines_without_stopping() -> None:
    stdin = '{"cmd": "ls"}\nnot json\n{"command": "ls"}\n{"cmd": 5}\n{"cmd": "pwd"}\n'
    result = airlock("check", "--jsonl", stdin=stdin)
    assert result.returncode == 65
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 5
    assert [r.get("line") for r in records[1:4]] == [2, 3, 4]
    assert all(r["decision"] == "deny" for r in records[1:4])
    assert records[4]["decision"] == "allow"


def test_policy_by_name_and_by_file(tmp_path: Path) -> None:
    assert airlock("check", "--policy", "dev", "--", "touch", "x").returncode == 0
    assert airlock("check", "--policy", "ci-untrusted", "--", "curl", "x").returncode == 2
    policy = tmp_path / "team.yaml"
    policy.write_text(
        "extends: read-only\nrules:\n  - {prefix: [make, test], decision: allow}\n"
        "  - {prefix: [git, push], decision: deny}\n"
    )
    assert airlock("check", "--policy", str(policy), "--", "make", "test").returncode == 0
    assert airlock("check", "--policy", str(policy), "--", "make", "install").returncode == 1
    assert airlock("check", "--policy", str(policy), "--", "git", "push").returncode == 2


def test_bad_policy_is_a_clear_error(tmp_path: Path) -> None:
    missing = airlock("check", "--policy", "nope", "--", "ls")
    assert missing.returncode == 64
    assert "presets: read-only, dev, ci-untrusted" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("overrides: {S04: allow}\n")
    result = airlock("check", "--policy", str(bad), "--", "ls")
    assert result.returncode == 64
    assert "structural" in result.stderr


def test_jsonl_echoes_the_callers_keys_gives_details_and_plain_errors() -> None:
    done = airlock(
        "check", "--jsonl",
        stdin='{"cmd": "curl x", "id": "req-7"}\nnot json\n[1]\n{"cmd": 3}\n{"x": 1}\n',
    )  # fmt: skip
    first, *bad = [json.loads(line) for line in done.stdout.splitlines()]
    assert first["id"] == "req-7" and first["cmd"] == "curl x"
    assert all(f["detail"] for f in first["findings"])
    assert [b["error"].removeprefix('expected {"cmd": "..."}: ') for b in bad] == [
        "not JSON (Expecting value at column 1)",
        "a JSON list, not an object",
        '"cmd" is not a string',
        'no "cmd" string',
    ]
    assert done.returncode == 65
