"""Tokens kept as hashes in the service's database, and the role table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchestrator.service import (
    DATABASE_NAME,
    TOKEN_PREFIX,
    Action,
    Role,
    StoreError,
    TokenError,
    allows,
    authenticate,
    create_token,
    open_store,
)


def test_a_token_names_its_tenant_and_role_and_only_its_hash_is_kept(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    token = create_token(store, "ci", Role.RUNNER, max_sessions=3)
    other = create_token(store, "ci", Role.RUNNER)
    store.close()
    assert token.startswith(TOKEN_PREFIX) and len(token) == len(TOKEN_PREFIX) + 43
    assert token != other
    database = (tmp_path / "data" / DATABASE_NAME).read_bytes()
    wal = tmp_path / "data" / f"{DATABASE_NAME}-wal"
    kept = database + (wal.read_bytes() if wal.exists() else b"")
    assert token.encode() not in kept and token[len(TOKEN_PREFIX) :].encode() not in kept
    store = open_store(tmp_path / "data")  # opened again: still there
    who = authenticate(store, token)
    assert who is not None and (who.tenant, who.role, who.max_sessions) == ("ci", "runner", 3)
    assert (
        authenticate(store, other) is not None and authenticate(store, other).max_sessions is None
    )  # type: ignore[union-attr]
    assert authenticate(store, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert authenticate(store, "") is None and authenticate(store, "Bearer " + token) is None


def test_the_data_folder_and_database_are_the_owners_alone(tmp_path: Path) -> None:
    open_store(tmp_path / "data").close()
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "data" / DATABASE_NAME).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("tenant", ["", "CI", "-ci", "a b", "x" * 64, "ci/../x"])
def test_a_tenant_name_is_checked(tmp_path: Path, tenant: str) -> None:
    with pytest.raises(TokenError, match="tenant"):
        create_token(open_store(tmp_path), tenant, Role.VIEWER)


def test_a_database_it_cannot_use_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a usable airlock database"):
        open_store(tmp_path)
    newer = tmp_path / "newer"
    newer.mkdir()
    connection = sqlite3.connect(newer / DATABASE_NAME)
    connection.execute("PRAGMA user_version = 999")
    connection.close()
    with pytest.raises(StoreError, match="newer than this airlock"):
        open_store(newer)
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot use the data folder"):
        open_store(tmp_path / "file")


def test_each_role_may_do_what_the_table_says() -> None:
    assert all(allows(Role.ADMIN, action) for action in Action)
    assert allows(Role.RUNNER, Action.RUN) and not allows(Role.RUNNER, Action.APPROVE)
    assert allows(Role.APPROVER, Action.APPROVE) and not allows(Role.APPROVER, Action.RUN)
    assert [a for a in Action if allows(Role.VIEWER, a)] == [Action.READ]
