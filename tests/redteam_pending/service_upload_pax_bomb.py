"""Red team (service): a 53 KiB upload costs the service 16 s of CPU and 430 MiB.

`repo_upload.unpack_repo` reads the archive with tarfile, which copies a global pax
header's records into every later member's ``pax_headers`` and keeps every member
(``TarFile.members``). A global header of 20,000 tiny records (0.7 MiB of tar, 53 KiB
gzipped, far inside every cap) before 1,000 empty files made 20 million dict entries:
16 s and 432 MiB peak in-process; the 50,000 entries the upload allows would take
some 20 GiB: the OOM killer ends the service. `sandbox.tree_extract` refuses global
pax headers for exactly this reason ("copied into every later member: quadratic"); the
upload path does not (and this Python, 3.11.7, also predates the pax parsing fixes of
CVE-2024-6232).

Run: ``.venv/bin/python -m pytest tests/redteam_pending/service_upload_pax_bomb.py``
(no Docker: it calls the upload's unpacking directly, as `POST /v1/runs` does).
It fails while the bug exists.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from pathlib import Path

import pytest

from orchestrator.service.repo_upload import UploadError, unpack_repo

pytestmark = [pytest.mark.timeout(300)]


def _bomb(records: int, members: int) -> bytes:
    buffer = io.BytesIO()
    header = {f"k{number}": "v" for number in range(records)}
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers=header) as tar:  # fmt: skip
        for number in range(members):
            entry = tarfile.TarInfo(f"f{number}")
            tar.addfile(entry)
    return gzip.compress(buffer.getvalue(), 9)


def test_a_small_upload_costs_little_to_unpack(tmp_path: Path) -> None:
    archive = _bomb(20_000, 600)
    began = time.monotonic()
    try:
        unpack_repo(io.BytesIO(archive), tmp_path / "repo")
        outcome = "unpacked"
    except UploadError as exc:
        outcome = f"refused: {exc}"
    took = time.monotonic() - began
    assert took < 3, f"{len(archive):,} bytes gzipped took {took:.1f} s to unpack ({outcome})"
