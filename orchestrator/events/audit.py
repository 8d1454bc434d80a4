"""The session's audit log: an append-only JSON lines file whose records form a hash chain.

Each line is one record::

    {"seq": 1, "time": "2025-01-01T00:00:00.000000Z", "prev": "00..00", "hash": "..", "event": {..}}

``hash`` is the SHA-256 of the canonical JSON of ``{seq, time, prev, event}`` and ``prev``
is the hash of the record before (64 zeros for the first), so editing, removing, adding
or moving a record anywhere but at the end breaks the chain at that line. The hash covers
the record's meaning; a line must also be spelled exactly as the writer spells it, so an
edit that keeps the meaning (``0.30000000000000004`` for ``...05``) is found as well.

What a chain alone cannot show: that records were removed from the *end* (the shorter
file is a valid chain), or that someone with write access rewrote the file and
recomputed every hash (there is no secret). Keep the record count or the last hash
(``AuditReport.records``, ``AuditReport.last_hash``) somewhere else to compare with.

Signed logs close the second gap. A writer given a key (`load_key`: at least 32 bytes,
readable by its owner alone, kept away from the log) adds ``mac``, the HMAC-SHA256 of
the record's hash under that key, to every record; `verify` with the key then requires
every record to carry a valid one, so rewriting the file needs the key too.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

from pydantic import BaseModel, Field, ValidationError

from orchestrator.events.models import EVENT_ADAPTER, Event

GENESIS = "0" * 64
"""The ``prev`` of the first record."""

TAIL_CAVEAT = (
    "a hash chain cannot show records removed from the end of the file: "
    "compare records or last_hash with what you expect"
)

_RECORD_KEYS = ("seq", "time", "prev", "hash", "event")
_SIGNED_KEYS = (*_RECORD_KEYS, "mac")
MIN_KEY_BYTES = 32
_HEX64 = re.compile(r"[0-9a-f]{64}")


class AuditError(Exception):
    """An audit log that does not verify, or that another writer holds."""


class AuditReport(BaseModel):
    """What ``verify`` found in an audit log."""

    ok: bool
    records: int = Field(description="records that verified (all of them when ok)")
    first_bad_line: int | None = Field(None, description="1-based line of the first problem")
    problem: str | None = None
    last_hash: str | None = Field(None, description="hash of the last record that verified")
    signed: bool | None = Field(
        None, description="with a key: every record's MAC verified; None without a key"
    )
    caveat: str = TAIL_CAVEAT


def canonical_json(obj: Any) -> str:
    """``obj`` as canonical JSON: sorted keys, no spaces, UTF-8 left as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(seq: int, time: str, prev: str, event: dict[str, Any]) -> str:
    """The hex SHA-256 a record with these fields must carry."""
    body = {"seq": seq, "time": time, "prev": prev, "event": event}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def record_mac(key: bytes, digest: str) -> str:
    """The hex HMAC-SHA256 under ``key`` of a record's hash."""
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The signing key in the file at ``path`` (its bytes, a final newline dropped).
    Raises AuditError for one shorter than `MIN_KEY_BYTES` or that others may read,
    OSError for one that cannot be read."""
    key_path = Path(path)
    if key_path.stat().st_mode & 0o077:
        raise AuditError(f"{key_path}: others may read or write this key (chmod 600 it)")
    key = key_path.read_bytes().removesuffix(b"\n")
    if len(key) < MIN_KEY_BYTES:
        raise AuditError(f"{key_path}: a key needs at least {MIN_KEY_BYTES} bytes")
    return key


def new_key(path: str | os.PathLike[str]) -> None:
    """Write a new random key (64 hex digits) to ``path``, mode 0600; never over a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")


def verify(path: str | os.PathLike[str], key: bytes | None = None) -> AuditReport:
    """Check the chain of the audit log at ``path`` (and with ``key``, every record's
    MAC); raises ``OSError`` if it cannot be read.

    Finds an edited record, a removed, added or moved one, a garbled or truncated line
    and an event that does not parse; with the key, also a record not signed or signed
    with another key. Records removed from the end go unnoticed: see
    ``AuditReport.caveat``.
    """
    report, _ = _check(Path(path).read_bytes(), key)
    return report


def replay(path: str | os.PathLike[str]) -> Iterator[Event]:
    """The events of the audit log at ``path``, in order; ``AuditError`` if it is tampered."""
    report, events = _check(Path(path).read_bytes())
    if not report.ok:
        raise AuditError(_describe(path, report))
    return iter(events)


class AuditLog:
    """An audit log open for appending; usable as an ``EventBus`` subscriber (``write``).

    Opening an existing file verifies it and continues its chain, or refuses with
    ``AuditError``. The file is created ``0600``, locked against other writers, only
    ever appended to, flushed after each record and fsynced on close.
    """

    def __init__(self, path: str | os.PathLike[str], key: bytes | None = None) -> None:
        self.path = Path(path)
        self._key = key
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AuditError(f"{self.path}: another process is writing this audit log") from None
        self._file: BinaryIO = os.fdopen(fd, "a+b")
        try:
            self._file.seek(0)
            report, _ = _check(self._file.read(), key)
        except BaseException:
            self._file.close()
            raise
        if not report.ok:
            self._file.close()
            raise AuditError(f"refusing to append: {_describe(self.path, report)}")
        self._seq = report.records
        self._head = report.last_hash or GENESIS
        self._lock = threading.Lock()

    @property
    def records(self) -> int:
        """How many records the file holds."""
        return self._seq

    @property
    def last_hash(self) -> str:
        """The hash of the last record (``GENESIS`` while the log is empty)."""
        return self._head

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._file.closed

    def write(self, event: Event) -> None:
        """Append ``event`` as the next record of the chain."""
        event_json = json.loads(event.model_dump_json())
        with self._lock:
            if self._file.closed:
                raise ValueError(f"{self.path}: audit log is closed")
            seq = self._seq + 1
            time = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            digest = record_hash(seq, time, self._head, event_json)
            record = {"seq": seq, "time": time, "prev": self._head, "hash": digest,
                      "event": event_json}  # fmt: skip
            if self._key is not None:
                record["mac"] = record_mac(self._key, digest)
            line = _record_line(record)
            self._file.write(line + b"\n")
            self._file.flush()
            self._seq, self._head = seq, digest

    def close(self) -> None:
        """Flush, fsync and close (which also releases the lock); closing twice is fine."""
        with self._lock:
            if self._file.closed:
                return
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _BadRecord(Exception):
    """Why one line is not a valid next record."""


def _check(data: bytes, key: bytes | None = None) -> tuple[AuditReport, list[Event]]:
    """Verify the whole file's bytes (with ``key``, every record's MAC too); the report
    and the events of the records that verified."""
    events: list[Event] = []
    head = GENESIS
    lines = data.split(b"\n")  # not splitlines(): U+2028 and friends may sit inside strings
    tail = lines.pop()  # b"" when the file is empty or ends with a newline

    def report(bad_line: int | None = None, problem: str | None = None) -> AuditReport:
        return AuditReport(
            ok=bad_line is None,
            records=len(events),
            first_bad_line=bad_line,
            problem=problem,
            last_hash=head if events else None,
            signed=None if key is None else bad_line is None,
        )

    for number, line in enumerate(lines, start=1):
        try:
            head, event = _check_line(line, number, head, key)
        except _BadRecord as bad:
            return report(number, str(bad)), events
        except RecursionError:
            return report(number, "nested too deeply to check"), events
        events.append(event)
    if tail:
        return report(len(lines) + 1, "the last line has no newline: truncated or appended"), events
    return report(), events


def _check_line(line: bytes, seq: int, prev: str, key: bytes | None) -> tuple[str, Event]:
    """Check ``line`` as record number ``seq`` following ``prev`` (signed with ``key``
    when one is given); its hash and event."""
    try:
        record = json.loads(
            line.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _BadRecord(f"not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.keys() not in (set(_RECORD_KEYS), set(_SIGNED_KEYS)):
        raise _BadRecord(
            "not an audit record: it must have exactly seq, time, prev, hash, event (and mac)"
        )
    found_seq, time, found_prev, digest, event = (record[k] for k in _RECORD_KEYS)
    if not (
        type(found_seq) is int
        and isinstance(time, str)
        and _is_hex64(found_prev)
        and _is_hex64(digest)
        and isinstance(event, dict)
    ):
        raise _BadRecord("a field of the record has the wrong type")
    if record_hash(found_seq, time, found_prev, event) != digest:
        raise _BadRecord("hash mismatch: the record was edited")
    if key is not None:
        mac = record.get("mac")
        if mac is None:
            raise _BadRecord("the record is not signed")
        if not (_is_hex64(mac) and hmac.compare_digest(mac, record_mac(key, digest))):
            raise _BadRecord("MAC mismatch: the record was written without this key")
    if found_seq != seq:
        raise _BadRecord(f"seq is {found_seq} where {seq} was expected: records removed or moved")
    if found_prev != prev:
        raise _BadRecord("prev is not the previous record's hash: records removed or moved")
    if not _is_utc_timestamp(time):
        raise _BadRecord(f"time {time!r} is not an ISO-8601 UTC timestamp")
    try:
        parsed = EVENT_ADAPTER.validate_python(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "type"
        raise _BadRecord(f"the event does not parse: {where}: {first['msg']}") from None
    if _record_line(record) != line:
        raise _BadRecord("the line is not spelled as the log writes it: edited")
    return digest, parsed


def _record_line(record: dict[str, Any]) -> bytes:
    """How the log spells ``record`` (without the newline); the hash covers only its meaning."""
    keys = _SIGNED_KEYS if "mac" in record else _RECORD_KEYS
    ordered = {key: record[key] for key in keys}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key in an object")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _is_utc_timestamp(value: str) -> bool:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    offset = moment.utcoffset()
    return offset is not None and not offset


def _describe(path: str | os.PathLike[str], report: AuditReport) -> str:
    return f"{path} does not verify: line {report.first_bad_line}: {report.problem}"
