"""The service's state: one SQLite database in its data folder (`DATABASE_NAME`).

The folder and the file are the service owner's alone (0700 and 0600). Each `open_store`
applies the schema migrations it is missing, in order, inside one transaction, and
records how far it got in SQLite's ``user_version``; a database from a newer airlock is
refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

DATABASE_NAME = "airlock.db"
BUSY_TIMEOUT_MS = 5000

# Each entry brings the schema from the version before it to its own (1-based).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tokens (
        hash TEXT PRIMARY KEY,        -- sha256 of the token, hex; the token is never kept
        tenant TEXT NOT NULL,
        role TEXT NOT NULL,
        max_sessions INTEGER,         -- NULL: no cap of its own
        created_at REAL NOT NULL
    );
    CREATE INDEX tokens_by_tenant ON tokens (tenant);
    """,
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        request TEXT NOT NULL,        -- the create request's JSON
        state TEXT NOT NULL,          -- live, ended or interrupted
        reason TEXT,                  -- why it ended
        sandbox TEXT NOT NULL,        -- the backend's session id (container label)
        created_at REAL NOT NULL,
        ended_at REAL
    );
    CREATE INDEX sessions_by_tenant ON sessions (tenant, created_at);
    CREATE INDEX sessions_by_state ON sessions (state);
    """,
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        started_by TEXT NOT NULL,     -- the token id that asked for it
        spec TEXT NOT NULL,           -- the spec's JSON (the repo is in the run's folder)
        state TEXT NOT NULL,          -- queued, running, finished, failed, cancelled, interrupted
        reason TEXT,                  -- why it ended as it did
        outcome TEXT,                 -- the summary's outcome
        cost_usd REAL NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL
    );
    CREATE INDEX runs_by_tenant ON runs (tenant, created_at);
    CREATE INDEX runs_by_state ON runs (state, created_at);
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES runs (id),
        tool TEXT NOT NULL,
        command TEXT NOT NULL,        -- the whole shell line judged (or the request's summary)
        risk TEXT NOT NULL,
        reasons TEXT NOT NULL,        -- JSON list of the gate's reasons
        findings TEXT NOT NULL,       -- JSON list of the analyzer's findings
        state TEXT NOT NULL,          -- pending, allowed, denied, expired or cancelled
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        decided_at REAL,
        decided_by TEXT,              -- TENANT/TOKEN_ID of the answer ('service' on expiry)
        reason TEXT,
        allow_prefix TEXT             -- words an allow extended to the rest of its run
    );
    CREATE INDEX approvals_by_tenant ON approvals (tenant, state, created_at);
    """,
)


class StoreError(Exception):
    """The data folder or its database cannot be used; the message says why."""


def open_store(data: Path) -> sqlite3.Connection:
    """Open (creating when new) the database in ``data``, migrated to the current
    schema. Raises StoreError for a folder or database it cannot use."""
    try:
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = data / DATABASE_NAME
        path.touch(mode=0o600, exist_ok=True)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except OSError as exc:
        raise StoreError(f"cannot use the data folder {data}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {data / DATABASE_NAME}: {exc}") from None
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA foreign_keys = ON")
        _migrate(connection)
    except sqlite3.Error as exc:
        connection.close()
        problem = f"{data / DATABASE_NAME} is not a usable airlock database: {exc}"
        raise StoreError(problem) from None
    except StoreError:
        connection.close()
        raise
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise StoreError(
            f"the database has schema version {version}, newer than this airlock's "
            f"{len(MIGRATIONS)}: use a newer airlock"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        try:
            connection.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
