"""The runs API's bodies: ``spec`` (what a run is asked to do, checked before it
queues) and what `GET /v1/runs/{id}` answers.

The repository comes beside it as a .tar.gz (`repo_upload`). The spec names a preset
policy, never a file (the service's files are not the client's), and trust is never
given: a project's own policy and memory files are not loaded, as for any untrusted
repository. A ``replay`` script (the fake Messages API) is taken only by a service
started with ``--allow-replay``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from orchestrator.service.models import HOST_ENTRY, Image, Preset

MAX_REPLAY_CHARS = 500_000  # the spec field is at most 1 MiB (a form field's cap)
DEFAULT_APPROVAL_TIMEOUT_S = 300.0


class RunBudgets(BaseModel):
    """The budgets, given together as ``budgets`` (each may also stand at the top)."""

    model_config = ConfigDict(extra="forbid")

    max_turns: int | None = Field(
        None, ge=1, le=1000, validation_alias=AliasChoices("max_turns", "turns")
    )
    budget_usd: float | None = Field(
        None, gt=0, le=10_000, validation_alias=AliasChoices("budget_usd", "usd")
    )
    budget_tokens: int | None = Field(
        None, ge=1, validation_alias=AliasChoices("budget_tokens", "tokens")
    )
    wall_clock_s: float | None = Field(
        None, gt=0, le=24 * 3600, validation_alias=AliasChoices("wall_clock_s", "seconds")
    )


class RunSpec(BaseModel):
    """One agent task on the uploaded repository."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=100_000)
    policy: Preset = Field("dev", description="a preset policy (never a file)")
    model: str | None = Field(None, min_length=1, max_length=200, description="the main model")
    max_turns: int = Field(40, ge=1, le=1000)
    budget_usd: float | None = Field(None, gt=0, le=10_000)
    budget_tokens: int | None = Field(None, ge=1)
    wall_clock_s: float = Field(3600, gt=0, le=24 * 3600)
    verify: str | None = Field(
        None, min_length=1, max_length=100_000, description="must exit 0 in the final workspace"
    )
    verify_timeout: float = Field(600, gt=0, le=24 * 3600)
    allow_hosts: list[Annotated[str, StringConstraints(pattern=HOST_ENTRY, max_length=200)]] = (
        Field(default_factory=list, max_length=64, description="HOST[:PORT] its proxy may reach")
    )
    image: Image = "airlock/dev"
    runtime: Literal["runc", "runsc"] = "runc"
    replay: str | None = Field(
        None,
        max_length=MAX_REPLAY_CHARS,
        description="a replay script's YAML (the fake Messages API); only with --allow-replay",
    )
    approval_timeout_s: float = Field(
        DEFAULT_APPROVAL_TIMEOUT_S,
        gt=0,
        le=24 * 3600,
        description="how long an ask waits for a person before it is denied",
    )
    budgets: RunBudgets | None = Field(
        None, description="max_turns, budget_usd, budget_tokens, wall_clock_s, together"
    )

    @model_validator(mode="after")
    def _budgets_in_place(self) -> RunSpec:
        """``budgets``' entries become the top-level fields they name."""
        if self.budgets is not None:
            for name, value in self.budgets.model_dump(exclude_none=True).items():
                setattr(self, name, value)
        return self


RunState = Literal["queued", "running", "finished", "failed", "cancelled", "interrupted"]
ENDED: frozenset[str] = frozenset({"finished", "failed", "cancelled", "interrupted"})


class RunCreated(BaseModel):
    id: str
    state: RunState
    queue_position: int | None = Field(None, description="1 for the next run to start")
    eta_s: float | None = Field(None, description="a rough wait before it starts")


class RunInfo(BaseModel):
    """A run of the caller's tenant."""

    id: str
    task: str
    policy: str
    state: RunState
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    queue_position: int | None = None
    eta_s: float | None = None
    reason: str | None = Field(None, description="why it ended as it did")
    outcome: str | None = Field(None, description="the summary's outcome")
    summary: dict[str, Any] | None = Field(None, description="summary.json, once written")
    status: RunState = Field(description="the same as state")


class RunList(BaseModel):
    items: list[RunInfo]
