"""What `airlock doctor` reports: one check per thing a default needs."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Health(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but an optional part is missing
    FAIL = "fail"  # a default needs this


class Check(BaseModel):
    name: str
    health: Health
    detail: str
    fix: str = ""


class Report(BaseModel):
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        return all(check.health is not Health.FAIL for check in self.checks)
