"""Signed audit logs: each record's MAC under a key kept away from the log, so a
rewrite that recomputes every hash is still found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli.audit_command import audit_app
from orchestrator.events.audit import (
    AuditError,
    AuditLog,
    load_key,
    new_key,
    record_hash,
    verify,
)
from orchestrator.events.models import TextDeltaEvent

KEY = b"k" * 32


def write(path: Path, texts: list[str], key: bytes | None = KEY) -> None:
    with AuditLog(path, key) as log:
        for text in texts:
            log.write(TextDeltaEvent(session_id="s", agent="main", text=text))


def rewrite(path: Path, edit: dict[int, str]) -> None:
    """What someone with write access and no key does: edit events and recompute every
    hash and prev, keeping the MACs as they were."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    prev = "0" * 64
    for record in lines:
        if record["seq"] in edit:
            record["event"]["text"] = edit[record["seq"]]
        record["prev"] = prev
        record["hash"] = record_hash(record["seq"], record["time"], prev, record["event"])
        prev = record["hash"]
    keys = ("seq", "time", "prev", "hash", "event", "mac")
    path.write_text("".join(
        json.dumps({k: r[k] for k in keys if k in r}, separators=(",", ":"), ensure_ascii=False)
        + "\n" for r in lines
    ))  # fmt: skip


def test_a_signed_log_verifies_with_its_key_and_a_rewrite_does_not(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    write(log, ["a", "b", "c"])
    signed = verify(log, KEY)
    assert signed.ok and signed.signed is True and signed.records == 3
    assert verify(log).ok and verify(log).signed is None  # the chain alone, without the key
    rewrite(log, {2: "forged"})
    assert verify(log).ok  # the chain alone cannot tell
    forged = verify(log, KEY)
    assert not forged.ok and forged.first_bad_line == 2 and "MAC mismatch" in str(forged.problem)
    assert forged.signed is False


def test_another_key_or_no_signature_fails_and_appending_keeps_signing(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    write(log, ["a"])
    write(log, ["b"])  # reopened with the key: verified, then continued
    assert verify(log, KEY).records == 2
    other = verify(log, b"o" * 32)
    assert not other.ok and other.first_bad_line == 1
    with pytest.raises(AuditError, match="MAC mismatch"):
        AuditLog(log, b"o" * 32)
    plain = tmp_path / "plain.jsonl"
    write(plain, ["a"], key=None)
    assert verify(plain).ok
    unsigned = verify(plain, KEY)
    assert not unsigned.ok and unsigned.problem == "the record is not signed"
    with pytest.raises(AuditError, match="not signed"):
        AuditLog(plain, KEY)


def test_keys_are_long_private_and_never_overwritten(tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    new_key(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(load_key(key_file)) == 64
    with pytest.raises(FileExistsError):
        new_key(key_file)
    key_file.chmod(0o644)
    with pytest.raises(AuditError, match="chmod 600"):
        load_key(key_file)
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    short.chmod(0o600)
    with pytest.raises(AuditError, match="at least 32 bytes"):
        load_key(short)


def test_the_command_verifies_with_a_key_and_makes_one(tmp_path: Path) -> None:
    runner = CliRunner()
    key_file = tmp_path / "audit.key"
    made = runner.invoke(audit_app, ["keygen", str(key_file)])
    assert made.exit_code == 0 and key_file.exists()
    assert runner.invoke(audit_app, ["keygen", str(key_file)]).exit_code == 64
    log = tmp_path / "events.jsonl"
    write(log, ["a", "b"], key=load_key(key_file))
    good = runner.invoke(audit_app, ["verify", str(log), "--key", str(key_file)])
    assert good.exit_code == 0 and "signed with the key" in good.output
    rewrite(log, {1: "forged"})
    assert runner.invoke(audit_app, ["verify", str(log)]).exit_code == 0
    bad = runner.invoke(audit_app, ["verify", str(log), "--key", str(key_file), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["signed"] is False
    key_file.chmod(0o640)
    assert runner.invoke(audit_app, ["verify", str(log), "--key", str(key_file)]).exit_code == 64
