"""`airlock run` end to end: the demo replay on the example calc project, trust, the out folder."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from orchestrator.cli import run_command as run_cli
from orchestrator.cli.app import app
from orchestrator.devtools.demo import TASK
from orchestrator.devtools.package_data import examples_dir
from orchestrator.events.audit import replay as replay_log
from orchestrator.events.audit import verify
from orchestrator.events.bus import EventBus
from orchestrator.runs.run import RunRequest, run_task
from sandbox import DockerBackend
from tests.integration.recording_backend import RecordingBackend

pytestmark = pytest.mark.integration

EXAMPLES = examples_dir()
DEMO_REPLAY = EXAMPLES / "replays" / "demo.yaml"


def test_the_demo_gives_the_same_patch_under_gvisor(tmp_path: Path) -> None:
    """Read and Edit work under runsc (its statx answers EINVAL, so the file tools must
    not use coreutils' stat), and the run's patch is the one runc gives."""
    patches = {}
    for runtime in ("runc", "runsc"):
        out = tmp_path / runtime
        request = RunRequest(task=TASK, repo=EXAMPLES / "calc", replay=DEMO_REPLAY, out=out,
                             runtime=runtime)  # fmt: skip
        summary = asyncio.run(run_task(request, EventBus(), backend=DockerBackend()))
        assert summary.outcome == "end_turn" and summary.files_changed == 1, runtime
        events = list(replay_log(out / "events.jsonl"))
        failed = [e.content for e in events if e.type == "tool_result" and e.is_error
                  and "statx" in e.content]  # fmt: skip
        assert failed == [], runtime
        patches[runtime] = (out / "patch.diff").read_text()
    assert patches["runsc"] == patches["runc"]
    assert "+    return sum(values) / len(values)" in patches["runc"]


def test_the_demo_task_fixes_the_bug_and_writes_the_out_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    request = RunRequest(task=TASK, repo=EXAMPLES / "calc", replay=DEMO_REPLAY, out=out)
    backend = RecordingBackend()  # only the Backend and Session protocols, no DockerSession
    summary = asyncio.run(run_task(request, EventBus(), backend=backend))
    assert summary.outcome == "end_turn" and summary.files_changed == 1
    assert backend.started == 1  # the sub-agent works in a fork of that session
    assert "put_dir /workspace" in backend.log and "fork" in backend.log
    assert any("unittest discover" in command for command in backend.log)
    assert not any("curl" in command for command in backend.log)  # refused by the gate
    assert summary.tool_calls["Agent"] == 1 and summary.verdicts == {"allow": 7, "deny": 1}
    patch = (out / "patch.diff").read_text()
    assert "-    return sum(values) / (len(values) - 1)" in patch
    assert "+    return sum(values) / len(values)" in patch
    assert json.loads((out / "summary.json").read_text())["outcome"] == "end_turn"
    report = verify(out / "events.jsonl")
    assert report.ok, report
    events = list(replay_log(out / "events.jsonl"))
    assert events[0].type == "session_started" and events[-1].type == "done"
    # the audit log holds the session in order: each call's result after its call
    seen: set[str] = set()
    for event in events:
        if event.type == "tool_call":
            seen.add(event.call_id)
        elif event.type == "tool_result":
            assert event.call_id in seen
    tests_runs = [e for e in events if e.type == "tool_result" and "Ran 3 tests" in e.content]
    assert [r.is_error for r in tests_runs] == [True, False]  # red, then green
    assert (EXAMPLES / "calc" / "calc.py").read_text().count("len(values) - 1") == 1  # untouched


def _project_with_memory(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "calc", repo)
    (repo / "AGENTS.md").write_text("MEMORY-MARKER: always answer in French.\n")
    return repo


def _replay(tmp_path: Path) -> Path:
    path = tmp_path / "replay.yaml"
    path.write_text("responses:\n  - content: [{text: done}]\n")
    return path


@pytest.mark.parametrize("trusted", [False, True])
def test_memory_files_load_only_for_a_trusted_project(tmp_path: Path, trusted: bool) -> None:
    captured: list[str] = []
    repo = _project_with_memory(tmp_path)
    request = RunRequest(task="t", repo=repo, replay=_replay(tmp_path), out=tmp_path / "o",
                         trust=trusted)  # fmt: skip
    import orchestrator.runs.run as run_module

    original = run_module.FakeMessagesAPI

    class Recording(original):  # type: ignore[misc, valid-type]
        def close(self) -> None:
            captured.extend(str(r.body.get("system")) for r in self.message_requests)
            super().close()

    run_module.FakeMessagesAPI = Recording  # type: ignore[misc]
    try:
        summary = asyncio.run(run_task(request, EventBus(), backend=DockerBackend()))
    finally:
        run_module.FakeMessagesAPI = original  # type: ignore[misc]
    assert summary.trusted is trusted and summary.outcome == "end_turn"
    assert ("MEMORY-MARKER" in captured[0]) is trusted


def test_cli_errors_are_clear_and_exit_64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["run", "t", "--repo", str(tmp_path / "nope")])
    assert missing.exit_code == 64 and "not a folder" in missing.output
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    no_key = runner.invoke(app, ["run", "t", "--repo", str(EXAMPLES / "calc"),
                                 "--out", str(tmp_path / "o")])  # fmt: skip
    assert no_key.exit_code == 64 and "--replay" in no_key.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("responses:\n  - contnt: []\n")
    bad_replay = runner.invoke(app, ["run", "t", "--repo", str(EXAMPLES / "calc"),
                                     "--replay", str(bad)])  # fmt: skip
    assert bad_replay.exit_code == 64 and "bad.yaml" in bad_replay.output


def test_cli_run_exits_3_when_the_model_finished_without_verify(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "say done", "--repo", str(EXAMPLES / "calc"), "--replay",
         str(_replay(tmp_path)), "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert result.exit_code == 3, result.output  # finished, nothing verified it
    assert "a replay of" in result.output and "end_turn" in result.output
    assert (tmp_path / "o" / "patch.diff").read_text() == ""


def test_a_person_can_trust_the_project_and_approve_a_call(tmp_path: Path) -> None:
    repo = _project_with_memory(tmp_path)
    replay = tmp_path / "replay.yaml"
    replay.write_text(
        "responses:\n"
        "  - content: [{tool_use: {name: Bash, input: {command: 'touch /workspace/made'}}}]\n"
        "  - content: [{text: done}]\n"
    )
    questions: list[str] = []

    def person(question: str, **_: object) -> bool:
        questions.append(question)
        return True

    request = RunRequest(task="t", repo=repo, replay=replay, out=tmp_path / "o",
                         policy="read-only")  # fmt: skip
    summary = run_cli.execute(request, Console(file=io.StringIO()), interactive=True,
                              confirm=person)  # fmt: skip
    assert summary.trusted and summary.outcome == "end_turn"
    assert "Trust" in questions[0] and "AGENTS.md" in questions[0]
    assert questions[1].strip() == "run it"  # touch asks under read-only; the person said yes
    assert (
        "diff --git a/made b/made\nnew file mode 100644\n"
        in (tmp_path / "o" / "patch.diff").read_text()
    )
    approvals = [e for e in replay_log(tmp_path / "o" / "events.jsonl") if e.type == "approval"]
    assert [(a.approved, a.by) for a in approvals] == [(True, "person")]


def test_a_plan_from_the_plan_model_leads_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRLOCK_MODEL_PLAN", "model-plan")
    monkeypatch.setenv("AIRLOCK_MODEL_MAIN", "model-main")
    replay = tmp_path / "replay.yaml"
    replay.write_text(
        "responses:\n  - content: [{text: done}]\n"
        "by_model:\n  model-plan:\n    - content: [{text: '1. Read calc.py\\n2. Run the tests'}]\n"
    )
    seen: list[dict[str, object]] = []
    import orchestrator.runs.run as run_module

    original = run_module.FakeMessagesAPI

    class Recording(original):  # type: ignore[misc, valid-type]
        def close(self) -> None:
            seen.extend(r.body for r in self.message_requests)
            super().close()

    monkeypatch.setattr(run_module, "FakeMessagesAPI", Recording)
    request = RunRequest(task="fix it", repo=EXAMPLES / "calc", replay=replay,
                         out=tmp_path / "o", plan=True)  # fmt: skip
    summary = asyncio.run(run_task(request, EventBus(), backend=DockerBackend()))
    assert [body["model"] for body in seen] == ["model-plan", "model-main"]
    assert "calc.py" in str(seen[0]["messages"])  # the planner saw the file list
    first = seen[1]["messages"][0]["content"]  # type: ignore[index]
    assert first.startswith("fix it") and "## Plan" in first and "2. Run the tests" in first
    assert summary.by_kind["plan"].calls == 1 and summary.models["plan"] == "model-plan"
