"""`/v1/runs`: agent tasks on an uploaded repository, queued, streamed, cancelled, and
their patches (`runs.RunManager` does the work)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from orchestrator.service.auth import requires
from orchestrator.service.models import errors
from orchestrator.service.repo_upload import MAX_UPLOAD_BYTES, UploadError
from orchestrator.service.roles import Action
from orchestrator.service.run_models import RunCreated, RunInfo, RunList, RunSpec
from orchestrator.service.runs import RunManager
from orchestrator.service.tokens import Identity

router = APIRouter(prefix="/v1/runs", tags=["runs"])
REPO_DOC = f"the project as a .tar.gz (at most {MAX_UPLOAD_BYTES:,} bytes), its files at the top"

RUN_EVENTS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "text/event-stream: the run's events (each `event:` is the event's "
        "type, its `id:` the audit record's seq), then `run_end` (data: state, reason, "
        "outcome, summary)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


async def runs_of(request: Request) -> RunManager:
    """A dependency (async: FastAPI runs a plain one in a thread, a hop per request)."""
    runs: RunManager = request.app.state.runs
    return runs


@router.post(
    "", status_code=201, response_model=RunCreated,
    responses=errors(400, 401, 403, 413, 429, 503),
)  # fmt: skip
async def create_run(
    who: Annotated[Identity, Depends(requires(Action.RUN))],
    runs: Annotated[RunManager, Depends(runs_of)],
    repo: Annotated[UploadFile, File(description=REPO_DOC)],
    spec: Annotated[str, Form(min_length=1, description="the run's spec as JSON (RunSpec)")],
) -> RunCreated:
    """Queue an agent task on the uploaded repository; it starts when there is room."""
    try:
        parsed = RunSpec.model_validate_json(spec)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'spec'}: {error['msg']}"
            for error in exc.errors()
        )
        raise HTTPException(400, f"spec: {problems}") from None
    try:
        return await runs.submit(who, parsed, repo.file)
    except UploadError as exc:
        raise HTTPException(400, f"repo: {exc}") from None


@router.get("", response_model=RunList, responses=errors(401, 403))
async def list_runs(
    who: Annotated[Identity, Depends(requires(Action.READ))],
    runs: Annotated[RunManager, Depends(runs_of)],
) -> RunList:
    """The caller's tenant's runs, newest first (the last 100)."""
    return RunList(items=runs.listing(who))


@router.get("/{run_id}", response_model=RunInfo, responses=errors(401, 403, 404))
async def get_run(
    run_id: str,
    who: Annotated[Identity, Depends(requires(Action.READ))],
    runs: Annotated[RunManager, Depends(runs_of)],
) -> RunInfo:
    """A run's state, its place in the queue, and its summary once it has ended."""
    return runs.info(who, run_id)


@router.get(
    "/{run_id}/events", response_class=StreamingResponse,
    responses={**RUN_EVENTS_DOC, **errors(401, 403, 404)},
)  # fmt: skip
async def run_events(
    run_id: str,
    who: Annotated[Identity, Depends(requires(Action.READ))],
    runs: Annotated[RunManager, Depends(runs_of)],
    last_event_id: Annotated[str, Header(pattern="^[0-9]{1,18}$")] = "0",
) -> StreamingResponse:
    """The run's events after ``Last-Event-ID`` (all without it), live until it ends."""
    stream = runs.events(who, run_id, int(last_event_id))
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/{run_id}/patch", response_class=Response,
    responses={200: {"content": {"text/x-diff": {"schema": {"type": "string"}}}},
               **errors(401, 403, 404, 409)},
)  # fmt: skip
async def run_patch(
    run_id: str,
    who: Annotated[Identity, Depends(requires(Action.READ))],
    runs: Annotated[RunManager, Depends(runs_of)],
) -> Response:
    """The workspace's changes against the uploaded project, as a unified diff."""
    text = runs.patch(who, run_id)
    return Response(text, media_type="text/x-diff")


@router.post(
    "/{run_id}/cancel", status_code=202, response_model=RunInfo,
    responses=errors(401, 403, 404, 409),
)  # fmt: skip
async def cancel_run(
    run_id: str,
    who: Annotated[Identity, Depends(requires(Action.RUN))],
    runs: Annotated[RunManager, Depends(runs_of)],
) -> RunInfo:
    """Cancel a queued or running run; a running one writes its summary first."""
    return await runs.cancel(who, run_id)
