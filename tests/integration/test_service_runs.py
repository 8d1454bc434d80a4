"""Runs and approvals through a real `airlock serve` process: a repository uploaded as
a .tar.gz, a replayed model (the fake Messages API), sandboxes on the real engine,
a person's answer over HTTP, the queue, cancel, and a restart after SIGKILL."""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import json
import os
import signal
import sqlite3
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from sandbox.labels import OWNER_PID
from tests.integration.service_process import AIRLOCK, Service, start_service, stop_service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SOURCE = "def add(a, b):\n    return a - b\n"


def _replay(*steps: dict[str, Any]) -> str:
    """A replay script: each step one model response; a final text ends the run."""
    responses = [{"content": [step]} for step in steps]
    responses.append({"content": [{"text": "Done."}]})
    return json.dumps({"model": "claude-sonnet-4-6", "responses": responses})  # YAML reads JSON


def _bash(command: str) -> dict[str, Any]:
    return {"tool_use": {"name": "Bash", "input": {"command": command}}}


READ = {"tool_use": {"name": "Read", "input": {"file_path": "/workspace/calc.py"}}}
FIXED = SOURCE.replace("a - b", "a + b")
FIX = {
    "tool_use": {"name": "Write", "input": {"file_path": "/workspace/calc.py", "content": FIXED}}
}


def _repo() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = SOURCE.encode()
        entry = tarfile.TarInfo("project/calc.py")
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "audit.key"
    subprocess.run([AIRLOCK, "audit", "keygen", str(path)], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, key: Path) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("runs") / "state"
    running = start_service(data, 4, "--allow-replay", "--audit-key", str(key),
                            "--max-queued", "2")  # fmt: skip
    yield running
    stop_service(running)


Sse = tuple[int, str, dict[str, Any]]  # id, event, data


class Api:
    """One token's view of the service, over httpx."""

    def __init__(self, service: Service, token: str) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{service.port}", timeout=120,
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    def submit(self, replay: str, **spec: Any) -> httpx.Response:
        body = {"task": "fix calc", "replay": replay, **spec}
        files = {"repo": ("repo.tar.gz", _repo(), "application/gzip")}
        return self.http.post("/v1/runs", files=files, data={"spec": json.dumps(body)})

    def run(self, run_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/v1/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def until(self, run_id: str, *states: str, budget: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + budget
        while (info := self.run(run_id))["state"] not in states:
            assert time.monotonic() < deadline, info
            time.sleep(0.2)
        return info

    def pending(self, run_id: str, budget: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + budget
        while True:
            items = self.http.get("/v1/approvals", params={"state": "pending"}).json()["items"]
            mine = [item for item in items if item["run_id"] == run_id]
            if mine:
                return dict(mine[0])
            assert time.monotonic() < deadline, self.run(run_id)
            time.sleep(0.2)

    def events(self, run_id: str, after: int | None = None) -> list[Sse]:
        headers = {} if after is None else {"Last-Event-ID": str(after)}
        answer = self.http.get(f"/v1/runs/{run_id}/events", headers=headers)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(
            "text/event-stream"
        )
        found = []
        for block in answer.text.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if fields:
                found.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
        return found


def test_a_run_goes_from_upload_to_patch_and_its_stream_resumes(
    service: Service, key: Path
) -> None:
    api = Api(service, service.token("alpha", "runner"))
    stranger = Api(service, service.token("beta", "admin"))
    created = api.submit(_replay(_bash("cat calc.py"), READ, FIX))
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    info = api.until(run_id, "finished", "failed")
    assert info["state"] == info["status"] == "finished" and info["outcome"] == "end_turn", info
    summary = info["summary"]
    assert summary["audit_signed"] is True and summary["files_changed"] == 1
    events = api.events(run_id)
    kinds = [kind for _, kind, _ in events]
    assert kinds[0] == "session_started" and kinds[-1] == "run_end"
    assert [event_id for event_id, _, _ in events] == list(range(1, len(events) + 1))
    shown = [data for _, kind, data in events if kind == "exec_output"]
    assert "a - b" in "".join(str(data["data"]) for data in shown)
    assert events[-1][2]["state"] == "finished"
    assert summary["audit_records"] == len(events) - 1  # every record, then run_end
    assert api.events(run_id, after=len(events) - 3) == events[-3:]
    patch = api.http.get(f"/v1/runs/{run_id}/patch")
    assert patch.status_code == 200 and "+    return a + b" in patch.text
    for path in (f"/v1/runs/{run_id}", f"/v1/runs/{run_id}/events", f"/v1/runs/{run_id}/patch"):
        assert stranger.http.get(path).status_code == 404, path
    assert run_id not in {item["id"] for item in stranger.http.get("/v1/runs").json()["items"]}
    log = service.data / "runs" / run_id / "out" / "events.jsonl"
    checked = subprocess.run([AIRLOCK, "audit", "verify", "--key", str(key), str(log)],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_an_ask_waits_for_a_person_whose_answer_and_name_are_audited(service: Service) -> None:
    """``git push`` asks under dev: the run waits; a viewer or runner may not answer; an
    approver allows it for the rest of the run by prefix; a line that is more than
    plain words asks again, and nobody answers it before its timeout: denied."""
    runner = Api(service, service.token("gamma", "runner"))
    viewer = Api(service, service.token("gamma", "viewer"))
    approver_token = service.token("gamma", "approver")
    approver = Api(service, approver_token)
    replay = _replay(_bash("git push origin main"), _bash("git push origin topic"),
                     _bash("git push origin main; true"))  # fmt: skip
    run_id = runner.submit(replay, approval_timeout_s=4).json()["id"]
    asked = runner.pending(run_id)
    assert asked["command"] == "git push origin main" and asked["risk"] == "high"
    assert any(f["check"] == "S28" for f in asked["findings"])
    answer = {"decision": "allow", "reason": "pushing is fine here", "allow_prefix": "git push"}
    assert viewer.http.post(f"/v1/approvals/{asked['id']}", json=answer).status_code == 403
    assert runner.http.post(f"/v1/approvals/{asked['id']}", json=answer).status_code == 403
    wrong = {**answer, "allow_prefix": "git pull"}
    assert approver.http.post(f"/v1/approvals/{asked['id']}", json=wrong).status_code == 400
    given = approver.http.post(f"/v1/approvals/{asked['id']}", json=answer)
    assert given.status_code == 200 and given.json()["state"] == "allowed", given.text
    again = approver.http.post(f"/v1/approvals/{asked['id']}", json=answer)
    assert again.status_code == 409
    info = runner.until(run_id, "finished", "failed")
    assert info["state"] == "finished", info
    approvals = [data for _, kind, data in runner.events(run_id) if kind == "approval"]
    who = given.json()["decided_by"]
    assert who.startswith("gamma/")
    assert [(a["approved"], a["approver"]) for a in approvals] == [
        (True, who), (True, who), (False, "service")]  # fmt: skip
    assert "pushing is fine here" in approvals[0]["reason"]
    states = [a["state"] for a in runner.http.get("/v1/approvals").json()["items"]]
    assert sorted(states) == ["allowed", "expired"]  # the prefix asked nobody


def test_runs_past_capacity_queue_in_order_and_cancel(service: Service) -> None:
    """The tenant may hold one sandbox: its second and third runs queue with a
    position; a fourth is refused 429; cancelling the running one starts the next."""
    api = Api(service, service.token("delta", "runner", "--max-sessions", "1"))
    waits = _replay(_bash("git push origin main"))
    first = api.submit(waits, approval_timeout_s=600).json()["id"]
    api.pending(first)
    second, third = (api.submit(_replay()).json() for _ in range(2))
    assert (second["state"], second["queue_position"]) == ("queued", 1)
    assert third["queue_position"] == 2 and third["eta_s"] > 0
    over = api.submit(_replay())
    assert over.status_code == 429 and int(over.headers["retry-after"]) > 0
    assert api.http.post(f"/v1/runs/{third['id']}/cancel").status_code == 202
    assert api.run(third["id"])["state"] == "cancelled"
    cancelled = api.http.post(f"/v1/runs/{first}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["summary"]["outcome"] == "cancelled"
    assert api.until(second["id"], "finished")["outcome"] == "end_turn"
    assert api.http.post(f"/v1/runs/{first}/cancel").status_code == 409
    assert api.http.get(f"/v1/runs/{first}/patch").status_code == 200


def test_after_a_kill_a_restart_interrupts_running_runs_and_resumes_queued_ones(
    tmp_path: Path, key: Path
) -> None:
    data = tmp_path / "state"
    first = start_service(data, 1, "--allow-replay", "--audit-key", str(key))
    token = first.token("epsilon", "admin")
    try:
        api = Api(first, token)
        running = api.submit(_replay(_bash("git push origin main"))).json()["id"]
        approval = api.pending(running)
        queued = api.submit(_replay(READ, FIX)).json()["id"]
        assert api.run(queued)["state"] == "queued"
        first.process.kill()  # no shutdown at all
        first.process.wait(60)
    finally:
        stop_service(first)
    client = docker.from_env()
    orphans = {"label": f"{OWNER_PID}={first.process.pid}"}
    assert len(client.containers.list(filters=orphans)) == 1
    second = start_service(data, 1, "--allow-replay", "--audit-key", str(key))
    try:
        api = Api(second, token)
        lost = api.run(running)
        assert lost["state"] == "interrupted" and "killed or crashed" in lost["reason"]
        assert api.http.get(f"/v1/approvals/{approval['id']}").json()["state"] == "expired"
        assert client.containers.list(all=True, filters=orphans) == []  # reaped at start
        assert api.until(queued, "finished")["summary"]["files_changed"] == 1  # resumed
        log = data / "runs" / running / "out" / "events.jsonl"
        checked = subprocess.run([AIRLOCK, "audit", "verify", "--key", str(key), str(log)],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert api.events(running)[-1][2]["state"] == "interrupted"
        draining = api.submit(_replay(_bash("git push origin main"))).json()["id"]
        api.pending(draining)
        connected = threading.Event()

        def follow() -> str:  # a reader of the run's events, live
            with api.http.stream("GET", f"/v1/runs/{draining}/events") as stream:
                chunks = []
                for chunk in stream.iter_text():
                    chunks.append(chunk)
                    connected.set()
                return "".join(chunks)

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            followed = pool.submit(follow)
            assert connected.wait(60)
            second.process.send_signal(signal.SIGTERM)  # the drain ends the run it follows
            assert second.process.wait(60) == -signal.SIGTERM
            last = followed.result(60).rstrip("\n").rsplit("\n\n", 1)[-1]
            assert "event: run_end" in last and '"state":"interrupted"' in last
    finally:
        stop_service(second)
    with sqlite3.connect(data / "airlock.db") as store:
        state, reason = store.execute(
            "SELECT state, reason FROM runs WHERE id = ?", (draining,)
        ).fetchone()
    assert state == "interrupted" and "drained" in reason
    summary = json.loads((data / "runs" / draining / "out" / "summary.json").read_text())
    assert summary["outcome"] == "cancelled" and summary["audit_records"] > 0


def test_bodies_need_a_length_within_the_cap_and_bad_uploads_say_why(service: Service) -> None:
    api = Api(service, service.token("zeta", "runner"))
    token = api.http.headers["Authorization"]
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    try:
        connection.putrequest("POST", "/v1/sessions")
        connection.putheader("Authorization", token)
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.endheaders()  # the body is never sent: the answer comes first
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    chunked = api.http.post("/v1/sessions", content=iter([b"{}"]))  # no length: chunked
    assert chunked.status_code == 411
    files = {"repo": ("repo.tar.gz", b"not gzip", "application/gzip")}
    spec = {"spec": json.dumps({"task": "x"})}
    bad_repo = api.http.post("/v1/runs", files=files, data=spec)
    assert bad_repo.status_code == 400 and "repo is not a readable .tar.gz" in bad_repo.text
    files = {"repo": ("repo.tar.gz", _repo(), "application/gzip")}
    for spec_text, said in [
        ("{", "spec:"), (json.dumps({"task": "x", "policy": "/etc/passwd"}), "policy"),
        (json.dumps({"task": "x", "surprise": 1}), "surprise"),
        (json.dumps({"task": "x", "replay": "responses: 7"}), "spec.replay"),
    ]:  # fmt: skip
        answer = api.http.post("/v1/runs", files=files, data={"spec": spec_text})
        assert answer.status_code == 400 and said in answer.text, answer.text
    assert api.http.get("/v1/runs").json()["items"] == []  # nothing was queued


def test_run_with_server_uploads_the_repo_and_exits_as_a_local_run(
    service: Service, tmp_path: Path
) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "calc.py").write_text(SOURCE)
    script = tmp_path / "replay.yaml"
    script.write_text(_replay(READ, FIX))
    env = {**os.environ, "AIRLOCK_TOKEN": service.token("eta", "runner"),
           "AIRLOCK_SERVER": f"http://127.0.0.1:{service.port}"}  # fmt: skip

    def airlock_run(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [AIRLOCK, "run", "fix calc", "--repo", str(repo), "--replay", str(script),
                "--out", str(tmp_path / "out"), *extra]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env,
                              cwd=tmp_path)  # fmt: skip

    done = airlock_run("--verify", "grep -q 'a + b' calc.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "+    return a + b" in (tmp_path / "out" / "patch.diff").read_text()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["verification"]["exit_code"] == 0 and summary["audit_signed"] is True
    assert "Write" in done.stdout  # the events were shown as they came
    assert (repo / "calc.py").read_text() == SOURCE  # the project itself is untouched
    assert airlock_run("--trust").returncode == 64


def test_a_tenant_past_its_daily_caps_waits_for_its_day_to_free(service: Service) -> None:
    """A run gets what its tenant has left of the day's USD as its budget; once spent,
    runs get 429 until the day frees; the run's sandbox CPU time counts for sessions."""
    api = Api(service, service.token("theta", "runner", "--usd-per-day", "0.001",
                                     "--cpu-seconds-per-day", "0.001"))  # fmt: skip
    run_id = api.submit(_replay(_bash("true"), _bash("true"))).json()["id"]
    info = api.until(run_id, "finished", "failed")
    assert info["outcome"] == "budget", info  # stopped at what the day had left
    again = api.submit(_replay())
    assert again.status_code == 429 and "a day" in again.text, again.text
    assert int(again.headers["retry-after"]) > 3600  # the run just ended: a day from now
    session = api.http.post("/v1/sessions", json={})
    assert session.status_code == 429 and "CPU-seconds" in session.text, session.text
