"""Red team (service): concurrent submissions pass the per-tenant queue cap together.

`RunManager.submit` counts the tenant's queued runs, then awaits the archive's
unpacking in a thread, and only then queues the run. Requests that arrive together
all count the same queue, so a tenant with ``--max-queued 1`` queues as many runs as
it sends at once (the daily caps are checked the same way, before the await). Each
costs a run folder with its unpacked repository (up to 512 MiB each) on the host.

Run: ``.venv/bin/python -m pytest tests/redteam_pending/service_queue_race.py``
(needs Docker). It fails while the bug exists.
"""

from __future__ import annotations

import io
import os
import tarfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.service_process import Service
from tests.redteam_pending.service_common import client, served, submit  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SENT = 8


def _repo() -> bytes:
    """An archive that takes a moment to unpack: 3000 small files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for number in range(3000):
            data = os.urandom(64)
            entry = tarfile.TarInfo(f"project/f{number}.bin")
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "served", [["--allow-replay", "--warm", "0", "--max-queued", "1"]], indirect=True
)
def test_the_queue_cap_holds_for_concurrent_submissions(served: Service) -> None:  # noqa: F811
    runner = served.token("mallory", "runner", "--max-sessions", "1")
    repo = _repo()
    with client(served, runner) as http:
        held = http.post("/v1/sessions", json={})  # the tenant's one place: runs must queue
        assert held.status_code == 201, held.text

        def one(_: int) -> int:
            with client(served, runner) as own:
                return submit(own, repo, {"task": "wait", "max_turns": 1}).status_code

        with ThreadPoolExecutor(SENT) as pool:
            statuses = list(pool.map(one, range(SENT)))
        queued = [run for run in http.get("/v1/runs").json()["items"] if run["state"] == "queued"]
        for run in queued:
            http.post(f"/v1/runs/{run['id']}/cancel")
    assert statuses.count(201) <= 1 and len(queued) <= 1, (
        f"--max-queued 1, yet {statuses.count(201)} of {SENT} accepted "
        f"({len(queued)} queued): {statuses}"
    )
