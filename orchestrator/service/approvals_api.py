"""`/v1/approvals`: what runs wait for a person to answer, and the answers
(`approvals.ApprovalBox` does the work). Reading takes any role; answering takes the
approve action (admin or approver)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from orchestrator.service.approvals import (
    Approval,
    ApprovalBox,
    ApprovalDecision,
    ApprovalState,
)
from orchestrator.service.auth import requires
from orchestrator.service.models import errors
from orchestrator.service.roles import Action
from orchestrator.service.tokens import Identity

router = APIRouter(prefix="/v1/approvals", tags=["approvals"])


class ApprovalList(BaseModel):
    items: list[Approval]


async def approvals_of(request: Request) -> ApprovalBox:
    """A dependency (async: FastAPI runs a plain one in a thread, a hop per request)."""
    box: ApprovalBox = request.app.state.approvals
    return box


@router.get("", response_model=ApprovalList, responses=errors(401, 403))
async def list_approvals(
    who: Annotated[Identity, Depends(requires(Action.READ))],
    box: Annotated[ApprovalBox, Depends(approvals_of)],
    state: Annotated[ApprovalState | None, Query(description="only these")] = None,
) -> ApprovalList:
    """The caller's tenant's approvals, newest first (the last 200)."""
    return ApprovalList(items=box.listing(who.tenant, state))


@router.get("/{approval_id}", response_model=Approval, responses=errors(401, 403, 404))
async def get_approval(
    approval_id: str,
    who: Annotated[Identity, Depends(requires(Action.READ))],
    box: Annotated[ApprovalBox, Depends(approvals_of)],
) -> Approval:
    """One approval of the caller's tenant."""
    return box.get(who.tenant, approval_id)


@router.post("/{approval_id}", response_model=Approval, responses=errors(400, 401, 403, 404, 409))
async def answer_approval(
    approval_id: str,
    body: ApprovalDecision,
    who: Annotated[Identity, Depends(requires(Action.APPROVE))],
    box: Annotated[ApprovalBox, Depends(approvals_of)],
) -> Approval:
    """Allow or deny a pending request; an allow may cover the rest of its run for a
    prefix of words (``allow_prefix``). The answer and who gave it go into the run's
    audit log."""
    return box.answer(who.tenant, f"{who.tenant}/{who.token_id}", approval_id, body)
