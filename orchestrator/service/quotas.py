"""A tenant's daily caps: USD its runs may spend, CPU-seconds its sandboxes may use.

A cap is set on a token (`airlock token create --usd-per-day`, `--cpu-seconds-per-day`)
and binds its whole tenant: the lowest of the tenant's tokens' caps holds. Use is
counted over the last 24 hours from what ended in them: each run's cost (from its
summary) and CPU time, each session's CPU time (the engine's count, read as its
sandbox ends). A tenant at a cap gets 429 for new runs (and at its CPU cap for new
sessions), with a
``Retry-After`` of when the oldest counted use leaves the window; its queued runs wait;
and a run started under a USD cap gets at most what is left as its budget.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

DAY_S = 24 * 3600.0
MIN_RETRY_S = 60


@dataclass(frozen=True)
class DailyUse:
    """A tenant's use over the last 24 hours, and its caps (None: none)."""

    usd: float
    cpu_s: float
    usd_cap: float | None
    cpu_cap: float | None
    oldest: float | None  # when the oldest counted use ended

    @property
    def usd_left(self) -> float | None:
        return None if self.usd_cap is None else max(0.0, self.usd_cap - self.usd)

    def refusal(self, spends: bool = True) -> str | None:
        """Why the tenant may start nothing more now (a session: nothing that ``spends``
        no USD), or None."""
        if spends and self.usd_cap is not None and self.usd >= self.usd_cap:
            return f"the tenant spent ${self.usd:.4f} of its ${self.usd_cap:g} a day"
        if self.cpu_cap is not None and self.cpu_s >= self.cpu_cap:
            return f"the tenant used {self.cpu_s:.1f} of its {self.cpu_cap:g} CPU-seconds a day"
        return None

    def retry_after(self, now: float | None = None) -> int:
        """Seconds until the oldest counted use leaves the window."""
        if self.oldest is None:
            return MIN_RETRY_S
        left = self.oldest + DAY_S - (now if now is not None else time.time())
        return max(MIN_RETRY_S, int(left) + 1)


def daily_use(store: sqlite3.Connection, tenant: str, now: float | None = None) -> DailyUse:
    """``tenant``'s use and caps as the store has them."""
    since = (now if now is not None else time.time()) - DAY_S
    usd_cap, cpu_cap = store.execute(
        "SELECT MIN(usd_per_day), MIN(cpu_seconds_per_day) FROM tokens WHERE tenant = ?",
        (tenant,),
    ).fetchone()
    usd, run_cpu, run_oldest = store.execute(
        "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(cpu_s), 0), MIN(ended_at) FROM runs "
        "WHERE tenant = ? AND ended_at > ?",
        (tenant, since),
    ).fetchone()
    session_cpu, session_oldest = store.execute(
        "SELECT COALESCE(SUM(cpu_s), 0), MIN(ended_at) FROM sessions "
        "WHERE tenant = ? AND ended_at > ? AND cpu_s > 0",
        (tenant, since),
    ).fetchone()
    ended = [moment for moment in (run_oldest, session_oldest) if moment is not None]
    return DailyUse(
        usd=float(usd), cpu_s=float(run_cpu) + float(session_cpu), usd_cap=usd_cap,
        cpu_cap=cpu_cap, oldest=min(ended) if ended else None,
    )  # fmt: skip
