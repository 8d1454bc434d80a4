"""The audit log's hash chain: what it records, what tampering it finds, its CLI."""

from __future__ import annotations

import hashlib
import json
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from orchestrator.cli.audit_command import audit_app
from orchestrator.events.audit import (
    GENESIS,
    AuditError,
    AuditLog,
    AuditReport,
    record_hash,
    replay,
    verify,
)
from orchestrator.events.bus import EventBus
from orchestrator.events.models import Event, TextDeltaEvent
from tests.unit.orchestrator.events.test_events import ONE_OF_EACH

RECORDS = len(ONE_OF_EACH)
FIELDS = ("seq", "time", "prev", "hash", "event")
per_example = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def write_log(path: Path, events: Sequence[Event] = ONE_OF_EACH) -> Path:
    with AuditLog(path) as log:
        for event in events:
            log.write(event)
    return path


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return write_log(tmp_path / "audit.jsonl")


def lines_of(path: Path) -> list[bytes]:
    """The file's lines, each with its newline (split on b"\\n" only, as the log is)."""
    return [line + b"\n" for line in path.read_bytes().split(b"\n")[:-1]]


def records_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


def dump(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def assert_bad_at(path: Path, line: int) -> AuditReport:
    report = verify(path)
    assert not report.ok, report
    assert report.first_bad_line == line, report
    assert report.problem
    assert report.records == line - 1
    return report


# -- what is written ---------------------------------------------------------------


def test_a_fresh_log_verifies_and_replays(log_path: Path) -> None:
    report = verify(log_path)
    assert report == AuditReport(
        ok=True, records=RECORDS, last_hash=records_of(log_path)[-1]["hash"]
    )
    assert "end" in report.caveat
    assert list(replay(log_path)) == ONE_OF_EACH


def test_records_are_chained_by_sha256_of_canonical_json(log_path: Path) -> None:
    prev = "0" * 64
    for seq, record in enumerate(records_of(log_path), start=1):
        assert list(record) == list(FIELDS)
        assert record["seq"] == seq and record["prev"] == prev
        assert record["time"].endswith("Z")
        body = {k: record[k] for k in ("seq", "time", "prev", "event")}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
        prev = record["hash"]


def test_one_record_per_line_even_with_unicode_line_separators(tmp_path: Path) -> None:
    texts = ["a\u2028b", "c\u2029d\x85e", "f\rg\nh", "\x1f\x00"]
    events = [TextDeltaEvent(session_id="s", agent="main", text=t) for t in texts]
    path = write_log(tmp_path / "audit.jsonl", events)
    assert path.read_bytes().count(b"\n") == len(texts)
    assert verify(path).ok
    assert list(replay(path)) == events


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path).close()
    assert path.read_bytes() == b""
    assert verify(path) == AuditReport(ok=True, records=0)


def test_the_file_is_private_and_locked_against_a_second_writer(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with pytest.raises(AuditError, match="another process"):
            AuditLog(path)
        log.write(ONE_OF_EACH[0])
    with AuditLog(path) as again:
        assert again.records == 1


def test_writing_after_close_fails(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.close()
    log.close()
    assert log.closed
    with pytest.raises(ValueError, match="closed"):
        log.write(ONE_OF_EACH[0])


def test_the_log_is_a_bus_subscriber(tmp_path: Path) -> None:
    bus = EventBus()
    with AuditLog(tmp_path / "audit.jsonl") as log:
        bus.subscribe(log.write)
        for event in ONE_OF_EACH:
            bus.publish(event)
        assert log.records == RECORDS
    assert list(replay(log.path)) == ONE_OF_EACH


def test_writes_from_several_threads_keep_one_chain(tmp_path: Path) -> None:
    bus = EventBus()
    with AuditLog(tmp_path / "audit.jsonl") as log:
        bus.subscribe(log.write)

        def publish_many() -> None:
            for event in ONE_OF_EACH * 5:
                bus.publish(event)

        threads = [threading.Thread(target=publish_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert verify(log.path).records == 8 * 5 * RECORDS


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", ONE_OF_EACH[:3])
    before = path.read_bytes()
    with AuditLog(path) as log:
        assert log.records == 3
        assert log.last_hash == records_of(path)[-1]["hash"]
        for event in ONE_OF_EACH[3:]:
            log.write(event)
        head = log.last_hash
    assert path.read_bytes().startswith(before)
    assert verify(path) == AuditReport(ok=True, records=RECORDS, last_hash=head)
    assert list(replay(path)) == ONE_OF_EACH
    assert [r["seq"] for r in records_of(path)] == list(range(1, RECORDS + 1))


def test_a_tampered_log_is_not_opened_for_append(log_path: Path) -> None:
    lines = lines_of(log_path)
    del lines[2]
    log_path.write_bytes(b"".join(lines))
    tampered = log_path.read_bytes()
    with pytest.raises(AuditError, match="line 3"):
        AuditLog(log_path)
    assert log_path.read_bytes() == tampered
    with pytest.raises(AuditError, match="refusing"):
        AuditLog(log_path)  # the lock was released: the same refusal, not "another process"


def test_replay_refuses_a_tampered_log(log_path: Path) -> None:
    with log_path.open("ab") as f:
        f.write(b"junk\n")
    with pytest.raises(AuditError, match=f"line {RECORDS + 1}"):
        list(replay(log_path))


# -- tampering ---------------------------------------------------------------------


def changed(value: Any) -> Any:
    """A different value of a similar shape."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, "x"]
    if isinstance(value, dict):
        return {**value, "x": 1}
    return "x"


@per_example
@given(data=st.data())
def test_editing_any_field_of_any_record_is_found_at_that_line(
    log_path: Path, data: st.DataObject
) -> None:
    original = records_of(log_path)
    index = data.draw(st.integers(0, RECORDS - 1), label="record")
    field = data.draw(st.sampled_from(FIELDS), label="field")
    records = [dict(r) for r in original]
    if field == "event":
        event = dict(records[index]["event"])
        key = data.draw(st.sampled_from(sorted(event)), label="event field")
        event[key] = changed(event[key])
        records[index]["event"] = event
    elif field in ("prev", "hash"):
        records[index][field] = "f" * 64 if records[index][field] != "f" * 64 else "e" * 64
    else:
        records[index][field] = changed(records[index][field])
    edited = log_path.with_name("edited.jsonl")
    edited.write_bytes(b"".join(dump(r) for r in records))
    assert_bad_at(edited, index + 1)


@per_example
@given(data=st.data())
def test_changing_any_byte_is_found_at_its_line(log_path: Path, data: st.DataObject) -> None:
    content = bytearray(log_path.read_bytes())
    position = data.draw(st.integers(0, len(content) - 1), label="byte")
    content[position] ^= 0x01
    edited = log_path.with_name("edited.jsonl")
    edited.write_bytes(bytes(content))
    assert_bad_at(edited, content[:position].count(b"\n") + 1)


def test_an_edit_that_keeps_the_meaning_is_found(log_path: Path) -> None:
    lines = lines_of(log_path)
    assert b'"cost_usd":0.30000000000000004}' in lines[7]
    lines[7] = lines[7].replace(b"0.30000000000000004", b"0.30000000000000005")  # same float
    log_path.write_bytes(b"".join(lines))
    report = assert_bad_at(log_path, 8)
    assert "spelled" in (report.problem or "")


def test_an_edit_with_a_recomputed_hash_is_found_at_the_next_line(log_path: Path) -> None:
    records = records_of(log_path)
    forged = records[4]
    assert forged["event"]["type"] == "approval"
    forged["event"] = {**forged["event"], "approved": True}
    forged["hash"] = record_hash(forged["seq"], forged["time"], forged["prev"], forged["event"])
    log_path.write_bytes(b"".join(dump(r) for r in records))
    report = assert_bad_at(log_path, 6)
    assert "prev" in (report.problem or "")


@pytest.mark.parametrize("index", [0, 4, RECORDS - 2])
def test_removing_a_record_is_found(log_path: Path, index: int) -> None:
    lines = lines_of(log_path)
    del lines[index]
    log_path.write_bytes(b"".join(lines))
    assert_bad_at(log_path, index + 1)


@pytest.mark.parametrize(("i", "j"), [(0, 1), (2, 7), (RECORDS - 2, RECORDS - 1)])
def test_swapping_two_records_is_found(log_path: Path, i: int, j: int) -> None:
    lines = lines_of(log_path)
    lines[i], lines[j] = lines[j], lines[i]
    log_path.write_bytes(b"".join(lines))
    assert_bad_at(log_path, i + 1)


def test_a_line_cut_short_in_the_middle_of_the_file_is_found(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines[3] = lines[3][: len(lines[3]) // 2] + b"\n"
    log_path.write_bytes(b"".join(lines))
    report = assert_bad_at(log_path, 4)
    assert "JSON" in (report.problem or "")


@pytest.mark.parametrize("keep", [1, 0.5])
def test_a_truncated_last_line_is_found(log_path: Path, keep: float) -> None:
    content = log_path.read_bytes()
    last = content.rstrip(b"\n").rsplit(b"\n", 1)[1]
    cut = len(content) - 1 - int(len(last) * (1 - keep))  # always loses the newline
    log_path.write_bytes(content[:cut])
    assert_bad_at(log_path, RECORDS)


@pytest.mark.parametrize(
    "garbage",
    [
        b"garbage\n",
        b"\n",
        b"{}\n",
        b"[1, 2]\n",
        b"\xff\xfe\n",
        b'{"seq": NaN}\n',
        b"[" * 10**5 + b"\n",
    ],
)
def test_appended_garbage_is_found(log_path: Path, garbage: bytes) -> None:
    with log_path.open("ab") as f:
        f.write(garbage)
    assert_bad_at(log_path, RECORDS + 1)


def test_a_replayed_last_record_is_found(log_path: Path) -> None:
    with log_path.open("ab") as f:
        f.write(lines_of(log_path)[-1])
    report = assert_bad_at(log_path, RECORDS + 1)
    assert "seq" in (report.problem or "")


@pytest.mark.parametrize(
    ("before", "after"),
    [(b'{"seq"', b'{"note":"hi","seq"'), (b'"type":', b'"type":"usage","type":')],
    ids=["extra key", "duplicate key"],
)
def test_an_extra_or_duplicate_key_is_found(log_path: Path, before: bytes, after: bytes) -> None:
    lines = lines_of(log_path)
    lines[1] = lines[1].replace(before, after, 1)
    log_path.write_bytes(b"".join(lines))
    assert_bad_at(log_path, 2)


def test_a_well_chained_record_whose_event_does_not_parse_is_found(tmp_path: Path) -> None:
    path = write_log(tmp_path / "audit.jsonl", ONE_OF_EACH[:2])
    head = records_of(path)[-1]["hash"]
    event = {"type": "reboot", "session_id": "s", "agent": "main"}
    time = "2025-01-01T00:00:00.000000Z"
    record = {"seq": 3, "time": time, "prev": head, "hash": record_hash(3, time, head, event)}
    with path.open("ab") as f:
        f.write(dump({**record, "event": event}))
    report = assert_bad_at(path, 3)
    assert "does not parse" in (report.problem or "")


def test_a_bad_timestamp_is_found(tmp_path: Path) -> None:
    event = ONE_OF_EACH[1].model_dump(mode="json")
    time = "yesterday"
    record = {"seq": 1, "time": time, "prev": GENESIS, "hash": record_hash(1, time, GENESIS, event)}
    path = tmp_path / "audit.jsonl"
    path.write_bytes(dump({**record, "event": event}))
    assert_bad_at(path, 1)


def test_removing_the_last_records_cannot_be_seen_but_the_count_shows_it(log_path: Path) -> None:
    lines = lines_of(log_path)
    log_path.write_bytes(b"".join(lines[:-2]))
    report = verify(log_path)
    assert report.ok
    assert report.records == RECORDS - 2


# -- the CLI -----------------------------------------------------------------------

runner = CliRunner()


def test_cli_says_ok_and_exits_0(log_path: Path) -> None:
    result = runner.invoke(audit_app, ["verify", str(log_path)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout and f"{RECORDS} records" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1


def test_cli_says_tampered_and_exits_1(log_path: Path) -> None:
    lines = lines_of(log_path)
    del lines[5]
    log_path.write_bytes(b"".join(lines))
    result = runner.invoke(audit_app, ["verify", str(log_path)])
    assert result.exit_code == 1
    assert "tampered" in result.stdout and "line 6" in result.stdout


def test_cli_json_prints_the_report(log_path: Path) -> None:
    result = runner.invoke(audit_app, ["verify", "--json", str(log_path)])
    assert result.exit_code == 0
    assert AuditReport.model_validate_json(result.stdout) == verify(log_path)

    with log_path.open("ab") as f:
        f.write(b"{")
    result = runner.invoke(audit_app, ["verify", "--json", str(log_path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["first_bad_line"] == RECORDS + 1
    assert report["records"] == RECORDS


@pytest.mark.parametrize("name", ["missing.jsonl", "."])
def test_cli_exits_2_when_the_file_cannot_be_read(tmp_path: Path, name: str) -> None:
    result = runner.invoke(audit_app, ["verify", "--json", str(tmp_path / name)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "error" in result.stderr
