"""A tenant's daily caps, counted from the store: the lowest cap of its tokens, the use
of the last 24 hours only, and when to ask again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchestrator.service import Role, create_token, open_store
from orchestrator.service.quotas import DAY_S, MIN_RETRY_S, daily_use

NOW = 2_000_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> sqlite3.Connection:
    return open_store(tmp_path / "state")


def _run(store: sqlite3.Connection, tenant: str, cost: float, cpu: float, ended: float) -> None:
    run_id = f"run_{cost}_{cpu}_{ended}"
    store.execute(
        "INSERT INTO runs (id, tenant, started_by, spec, state, cost_usd, cpu_s, created_at, "
        "ended_at) VALUES (?, ?, 't', '{}', 'finished', ?, ?, ?, ?)",
        (run_id, tenant, cost, cpu, ended - 10, ended),
    )


def test_no_cap_refuses_nothing(store: sqlite3.Connection) -> None:
    create_token(store, "ci", Role.RUNNER)
    _run(store, "ci", 1000.0, 1e6, NOW - 5)
    use = daily_use(store, "ci", NOW)
    assert (use.usd, use.cpu_s, use.usd_left) == (1000.0, 1e6, None)
    assert use.refusal() is None


def test_the_lowest_cap_of_the_tenants_tokens_holds_over_the_last_day(
    store: sqlite3.Connection,
) -> None:
    create_token(store, "ci", Role.RUNNER, usd_per_day=5.0)
    create_token(store, "ci", Role.ADMIN, usd_per_day=2.0, cpu_seconds_per_day=100)
    create_token(store, "other", Role.RUNNER, usd_per_day=0.5)
    _run(store, "ci", 1.5, 40, NOW - DAY_S - 1)  # a day ago: no longer counted
    _run(store, "ci", 1.25, 30, NOW - 3600)
    _run(store, "other", 9.0, 999, NOW - 60)  # another tenant's
    use = daily_use(store, "ci", NOW)
    assert (use.usd, use.cpu_s, use.usd_cap, use.cpu_cap) == (1.25, 30, 2.0, 100)
    assert use.usd_left == 0.75 and use.refusal() is None
    _run(store, "ci", 0.75, 1, NOW - 60)
    spent = daily_use(store, "ci", NOW)
    assert "spent $2.0000 of its $2 a day" in str(spent.refusal())
    assert spent.refusal(spends=False) is None  # a session spends no USD
    assert spent.retry_after(NOW) == int(DAY_S - 3600) + 1  # when the oldest use leaves


def test_sessions_count_toward_the_cpu_cap(store: sqlite3.Connection) -> None:
    create_token(store, "ci", Role.RUNNER, cpu_seconds_per_day=2)
    store.execute(
        "INSERT INTO sessions (id, tenant, request, state, sandbox, created_at, ended_at, cpu_s) "
        "VALUES ('ses_1', 'ci', '{}', 'ended', 'x', ?, ?, 2.5)",
        (NOW - 100, NOW - 50),
    )
    use = daily_use(store, "ci", NOW)
    assert "2.5 of its 2 CPU-seconds" in str(use.refusal(spends=False))
    assert use.retry_after(NOW) == int(DAY_S - 50) + 1
    assert daily_use(store, "nobody", NOW).retry_after(NOW) == MIN_RETRY_S


@pytest.mark.parametrize("caps", [{"usd_per_day": 0.0}, {"cpu_seconds_per_day": -1.0}])
def test_a_cap_must_be_positive(store: sqlite3.Connection, caps: dict[str, float]) -> None:
    from orchestrator.service import TokenError

    with pytest.raises(TokenError, match="more than 0"):
        create_token(store, "ci", Role.RUNNER, **caps)  # type: ignore[arg-type]
