"""Red team (service): one tenant's run freezes the whole service while its patch is made.

`orchestrator.runs.run._write_patch` calls `scrub_tree` and `diff_trees` (file reads,
`difflib.unified_diff`, zlib level 9 and base85 of binaries) synchronously, and in the
service `run_task` runs on the event loop: nothing else is served until they return.
Both are the attacker's to make slow:

- text: a file of 8000 short lines drawn from 150 values, rewritten by the agent in
  another order (about 30 KiB each side): difflib's matcher is quadratic here (measured
  in-process: 20000 lines took 315 s);
- binary: random bytes are compressed at level 9 and base85-encoded (50 MB: 42 s;
  the workspace holds 512 MiB).

Meanwhile every request of every tenant waits, ``/healthz`` included.

Run: ``.venv/bin/python -m pytest tests/redteam_pending/service_patch_blocks_loop.py``
(needs Docker). It fails while the bug exists.
"""

from __future__ import annotations

import io
import tarfile
import threading
import time

import httpx
import pytest

from tests.integration.service_process import Service
from tests.redteam_pending.service_common import client, replay, served, submit  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

LINES = 8000


def _text(step: int) -> str:
    return "".join(f"{(i * step) % 150}\n" for i in range(LINES))


def _repo() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = _text(1).encode()
        entry = tarfile.TarInfo("project/t.txt")
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def test_a_runs_patch_never_stalls_other_requests(served: Service) -> None:  # noqa: F811
    runner = served.token("mallory", "runner")
    content = {"file_path": "/workspace/t.txt", "content": _text(7)}
    write = {"tool_use": {"name": "Write", "input": content}}
    slowest = 0.0
    stop = threading.Event()

    def probe() -> None:
        nonlocal slowest
        with httpx.Client(base_url=f"http://127.0.0.1:{served.port}", timeout=600) as http:
            while not stop.is_set():
                began = time.monotonic()
                http.get("/healthz")
                slowest = max(slowest, time.monotonic() - began)
                time.sleep(0.1)

    with client(served, runner) as http:
        read = {"tool_use": {"name": "Read", "input": {"file_path": "/workspace/t.txt"}}}
        answer = submit(http, _repo(), {"task": "reorder", "replay": replay(read, write)})
        assert answer.status_code == 201, answer.text
        run_id = answer.json()["id"]
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        deadline = time.monotonic() + 500
        while http.get(f"/v1/runs/{run_id}").json()["state"] in {"queued", "running"}:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        stop.set()
        prober.join(600)
        info = http.get(f"/v1/runs/{run_id}").json()
    assert (info["summary"] or {}).get("files_changed") == 1, info
    assert slowest < 2.0, (
        f"/healthz waited {slowest:.1f} s while run {run_id} ended ({info['state']})"
    )
