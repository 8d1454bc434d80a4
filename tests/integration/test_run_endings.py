"""However `airlock run` ends, its out folder is complete and no container outlives it.

CI cancels a job with SIGTERM; a closed terminal sends SIGHUP; a bad image, a stopped
engine or a broken replay end a run before its loop starts. Each case still writes
``events.jsonl``, ``patch.diff`` and ``summary.json`` with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from orchestrator.devtools.package_data import examples_dir
from orchestrator.events.audit import replay as replay_log
from orchestrator.events.audit import verify
from orchestrator.events.bus import EventBus
from orchestrator.runs.run import RunError, RunRequest, out_dir, run_task
from sandbox import DockerBackend, SandboxError, labels
from tests.integration.recording_backend import RecordingBackend

pytestmark = pytest.mark.integration

AIRLOCK = shutil.which("airlock", path=str(Path(sys.executable).parent)) or "airlock"
SLOW_REPLAY = """\
model: claude-sonnet-4-6
responses:
  - content:
      - tool_use: {name: Bash, input: {command: "sleep 300", description: "wait"}}
    usage: {input_tokens: 10, output_tokens: 5}
  - content:
      - text: "done"
    usage: {input_tokens: 10, output_tokens: 5}
"""


def _wait_for(predicate: Callable[[], object], what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting: {what}")


def _containers_of(pid: int) -> list[str]:
    client = docker.from_env()
    owned = {"label": f"{labels.OWNER_PID}={pid}"}
    # ignore_removed: the run may remove one between the list and its inspect
    found = client.containers.list(all=True, filters=owned, ignore_removed=True)
    return [c.name for c in found]


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_cancels_the_run_cleanly(tmp_path: Path, sent: int, code: int) -> None:
    replay = tmp_path / "slow.yaml"
    replay.write_text(SLOW_REPLAY)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [AIRLOCK, "run", "wait a while", "--repo", str(examples_dir() / "calc"),
         "--replay", str(replay), "--out", str(out), "--policy", "dev"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        log = out / "events.jsonl"
        _wait_for(lambda: log.exists() and "sleep 300" in log.read_text(), "the sleep's call")
        _wait_for(lambda: _containers_of(proc.pid), "the session's container")
        os.kill(proc.pid, sent)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr.decode()
    assert b"cancelled" in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "cancelled"
    assert (out / "patch.diff").exists()
    assert verify(log).ok
    events = list(replay_log(log))
    assert events[-1].type == "done" and events[-1].outcome == "cancelled"
    assert _containers_of(proc.pid) == []


def _run(tmp_path: Path, **fields: object) -> tuple[Path, BaseException]:
    out = tmp_path / "out"
    request = RunRequest(task="t", repo=examples_dir() / "calc", out=out,
                         replay=examples_dir() / "replays" / "demo.yaml", **fields)  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(Exception) as caught:
        asyncio.run(run_task(request, EventBus(), backend=DockerBackend()))
    return out, caught.value


def _assert_complete(out: Path, reason: str) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["events.jsonl", "patch.diff", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcome"] == "error" and reason in summary["error"], summary
    assert (out / "patch.diff").read_text() == ""
    assert verify(out / "events.jsonl").ok
    events = list(replay_log(out / "events.jsonl"))
    assert [e.type for e in events] == ["error", "done"]
    assert reason in events[0].message and events[-1].outcome == "error"


def test_a_bad_image_still_writes_the_summary(tmp_path: Path) -> None:
    out, error = _run(tmp_path, image="airlock/no-such-image")
    assert isinstance(error, SandboxError)
    _assert_complete(out, "no-such-image")


def test_an_engine_that_is_down_still_writes_the_summary(tmp_path: Path) -> None:
    """As CI meets it: `airlock run` with no engine at DOCKER_HOST exits 1, says where it
    looked, and leaves a complete out folder whose summary holds the reason."""
    out = tmp_path / "out"
    absent = tmp_path / "no-engine.sock"
    result = subprocess.run(
        [AIRLOCK, "run", "fix it", "--repo", str(examples_dir() / "calc"), "--out", str(out),
         "--replay", str(examples_dir() / "replays" / "demo.yaml")],
        env=dict(os.environ, DOCKER_HOST=f"unix://{absent}"),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert str(absent) in result.stderr and "Traceback" not in result.stderr
    _assert_complete(out, str(absent))


def test_a_broken_replay_still_writes_the_summary(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("responses: [this is not a response]\n")
    out = tmp_path / "out"
    request = RunRequest(task="t", repo=examples_dir() / "calc", out=out, replay=broken)
    with pytest.raises(Exception):  # noqa: B017 (the replay's own error type)
        asyncio.run(run_task(request, EventBus(), backend=DockerBackend()))
    _assert_complete(out, "ReplayError")


def test_repo_dot_keeps_earlier_runs_out_of_the_copy_and_the_patch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`airlock run --repo .` puts its runs in ./.airlock/runs: a second run must neither
    see the first one's log in its sandbox nor delete it in its patch."""
    project = tmp_path / "project"
    shutil.copytree(examples_dir() / "calc", project)
    (project / "notes").mkdir()
    (project / "notes" / "private.txt").write_text("left out\n")
    monkeypatch.chdir(project)
    replay = examples_dir() / "replays" / "demo.yaml"
    for _ in range(2):
        request = RunRequest(task="fix", repo=Path(), replay=replay, exclude=["notes"])
        summary = asyncio.run(run_task(request, EventBus(), backend=RecordingBackend()))
        assert summary.outcome == "end_turn"
    runs = sorted((project / ".airlock" / "runs").iterdir())
    assert len(runs) >= 1
    patch = (Path(summary.out) / "patch.diff").read_text()
    assert ".airlock" not in patch and "notes/" not in patch
    assert "+    return sum(values) / len(values)" in patch
    glob_results = [e.content for e in replay_log(Path(summary.out) / "events.jsonl")
                    if e.type == "tool_result"]  # fmt: skip
    assert not any("events.jsonl" in c or "private.txt" in c for c in glob_results)


def test_an_exclude_outside_the_repo_is_a_usage_error(tmp_path: Path) -> None:
    request = RunRequest(task="t", repo=examples_dir() / "calc", out=tmp_path / "o",
                         exclude=["../etc"])  # fmt: skip
    with pytest.raises(RunError, match="inside the repo"):
        asyncio.run(run_task(request, EventBus(), backend=DockerBackend()))


def test_runs_started_in_the_same_second_get_their_own_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    request = RunRequest(task="t", repo=examples_dir() / "calc")
    folders = {out_dir(request) for _ in range(3)}
    assert len(folders) == 3 and all(folder.is_dir() for folder in folders)


def test_links_in_the_repo_round_trip_and_never_break_the_end_of_a_run(tmp_path: Path) -> None:
    """A repository's absolute link, or one leading out of it, used to crash the copy-out
    (AbsoluteLinkError) and lose the patch, even when the agent changed nothing."""
    project = tmp_path / "project"
    shutil.copytree(examples_dir() / "calc", project)
    (project / "abs").symlink_to("/etc/passwd")
    (project / "up").symlink_to("../..")
    (project / "inside").symlink_to("calc.py")
    out = tmp_path / "out"
    request = RunRequest(task="fix", repo=project, replay=examples_dir() / "replays" / "demo.yaml",
                         out=out)  # fmt: skip
    summary = asyncio.run(run_task(request, EventBus(), backend=DockerBackend()))
    assert summary.outcome == "end_turn" and summary.error is None, summary.error
    patch = (out / "patch.diff").read_text()
    assert "+    return sum(values) / len(values)" in patch
    assert "abs" not in patch and "b/up" not in patch and "b/inside" not in patch  # unchanged


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_ends_airlock_exec_and_its_container(sent: int, code: int) -> None:
    proc = subprocess.Popen([AIRLOCK, "exec", "--", "sleep", "300"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        _wait_for(lambda: _containers_of(proc.pid), "the session's container")
        time.sleep(1)  # let the exec begin; a signal before it must clean up just as well
        os.kill(proc.pid, sent)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr.decode()
    assert b"cancelled" in stderr
    assert _containers_of(proc.pid) == []
