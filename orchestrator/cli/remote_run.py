"""`airlock run --server URL`: the same run, done by an `airlock serve`.

The project folder is uploaded as a .tar.gz (its run folders and ``--exclude`` paths
left out), the run queues there, and its events are shown here as they come, as a
local run shows them. The out folder gets the run's ``patch.diff`` and
``summary.json``; its audit log stays with the service (``summary.out`` says where).
Ctrl-C cancels the remote run. The exit codes are `airlock run`'s; 64 also for a token
or a spec the service refuses.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.console import Console

from orchestrator.cli.exit_codes import ExitCode
from orchestrator.events.safe_text import text

if TYPE_CHECKING:
    from orchestrator.runs.run import RunRequest, RunSummary


def execute_remote_run(server: str, token: str, request: RunRequest, view: Console) -> int:
    """Run ``request`` through the service at ``server``; our exit code."""
    from orchestrator.cli.run_command import exit_code_of, print_summary
    from orchestrator.client import AirlockClient, ServiceError
    from orchestrator.events.render import TerminalRenderer
    from orchestrator.runs.run import copy_exclusions, out_dir

    out = out_dir(request)
    out.mkdir(parents=True, exist_ok=True)
    renderer = TerminalRenderer(view)
    run_id: str | None = None
    try:
        with AirlockClient(server, token) as client:
            created = client.create_run(request.repo, _spec(request),
                                        copy_exclusions(request, out))  # fmt: skip
            run_id = str(created["id"])
            _say_queued(view, run_id, created)
            try:
                final = _follow(client, run_id, renderer)
            except KeyboardInterrupt:
                client.cancel_run(run_id)
                view.print(text(("cancelled", "yellow"), f" run {run_id} on the service"))
                return ExitCode.INTERRUPTED
            (out / "patch.diff").write_text(client.run_patch(run_id))
    except ServiceError as exc:
        view.print(text(("airlock:", "red"), f" the service refused: {exc}"))
        return ExitCode.USAGE if exc.status in (400, 401, 403, 413, 422) else ExitCode.FAILED
    finally:
        renderer.close()
    summary = _summary(final)
    if summary is None:
        view.print(text(("airlock:", "red"), f" run {run_id} {final.get('state')}: "
                        f"{final.get('reason')}"))  # fmt: skip
        return ExitCode.INTERRUPTED if final.get("state") == "cancelled" else ExitCode.FAILED
    (out / "summary.json").write_text(summary.model_dump_json(indent=2) + "\n")
    print_summary(summary, view)
    view.print(text((f"run {run_id}: wrote {out}/patch.diff, summary.json", "dim")))
    if final.get("state") == "interrupted":
        return ExitCode.FAILED  # the service stopped under it: its summary says how far
    return exit_code_of(summary)


def _spec(request: RunRequest) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "task": request.task, "policy": request.policy or "dev",
        "max_turns": request.limits.max_turns, "wall_clock_s": request.limits.wall_clock_s,
        "image": request.image, "runtime": request.runtime, "allow_hosts": request.allow_hosts,
        "verify_timeout": request.verify_timeout,
    }  # fmt: skip
    limits = request.limits
    optional = {"model": request.model, "budget_usd": limits.budget_usd,
                "budget_tokens": limits.budget_tokens, "verify": request.verify}  # fmt: skip
    spec.update({key: value for key, value in optional.items() if value is not None})
    if request.replay is not None:
        spec["replay"] = request.replay.read_text(encoding="utf-8")
    return spec


def _say_queued(view: Console, run_id: str, created: dict[str, Any]) -> None:
    if created.get("state") == "queued" and created.get("queue_position"):
        eta = created.get("eta_s")
        wait = f", about {eta:.0f} s" if isinstance(eta, int | float) else ""
        view.print(text(("queued", "yellow"),
                        f" run {run_id}: position {created['queue_position']}{wait}"))  # fmt: skip


def _follow(client: Any, run_id: str, renderer: Any) -> dict[str, Any]:
    """Show the run's events until ``run_end``; its data. A broken stream is resumed
    from the last event seen."""
    from orchestrator.client import ServiceError
    from orchestrator.events.models import parse_event

    seen, broken = 0, 0
    while True:
        try:
            for event in client.run_events(run_id, after=seen):
                seen = event.id
                if event.kind == "run_end":
                    return dict(event.data)
                try:
                    renderer(parse_event(json.dumps(event.data)))
                except ValidationError:
                    continue  # a kind this client does not know: the service is newer
        except ServiceError as exc:
            broken += 1
            if exc.status or broken > 3:
                raise
        else:
            raise ServiceError(0, f"the stream of run {run_id} ended without its run_end")


def _summary(final: dict[str, Any]) -> RunSummary | None:
    from orchestrator.runs.run import RunSummary

    data = final.get("summary")
    if not isinstance(data, dict):
        return None
    try:
        return RunSummary.model_validate(data)
    except ValidationError:
        return None
